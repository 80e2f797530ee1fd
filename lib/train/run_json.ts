/**
 * `run.json`, written by `deno task finetune` at the end of a run, read by the report and `deno task experiments`:
 * what the run started from, its settings, the engine it trained on, its timings, its best epoch and why it stopped. No TF.js here (the report
 * reads it).
 *
 * Shapes read besides the current one ({@link readRunJson}): finetune's before the engine was recorded (`source`
 * for `start`, a top-level `backend`), and a hand-written note `{ name?, kind?, description?, dataset?, start?,
 * head_init?, settings? }` (`source` for `start` accepted) that names a run directory in the report.
 * @module
 */
import { z } from "zod";
import { readJsonArtifact, validateArtifact, writeJsonArtifact } from "../core/mod.ts";

/** The file name inside a run directory. */
export const RUN_JSON_FILE = "run.json";

/** The model a run started from: a reference .pth, our weights, ImageNet VGG16, or the seeded initialisation. */
export const StartModelSchema = z.object({
  kind: z.enum(["checkpoint", "weights", "imagenet", "scratch"]),
  path: z.string().nullable(),
});
export type StartModel = z.infer<typeof StartModelSchema>;

/** The engine a run trained on. */
export const EngineSchema = z.object({
  /** tf.js backend (`wasm`, `cpu`, `tensorflow`, `webgpu`) */
  backend: z.string(),
  /** convolution implementation that ran (after any fallback): oneDNN or the backend's own; null: not recorded */
  conv: z.enum(["wasm", "onednn", "cpu", "tensorflow", "webgpu"]).nullable(),
  /** data-parallel workers (1: in-process) */
  workers: z.number().int().min(1),
  /** oneDNN threads per convolution (1 without oneDNN); absent in runs before it was recorded */
  threads: z.number().int().min(1).optional(),
  /** the GPU adapter of the webgpu backend (lib/engine/webgpu.ts `describeAdapter`); absent on the others */
  adapter: z.string().optional(),
});
export type Engine = z.infer<typeof EngineSchema>;

/** The best epoch by the run's `--select` metric on the validation images; its weights are in `best/`. */
export const BestEpochSchema = z.object({
  epoch: z.number().int().min(1),
  metric: z.enum(["ap75", "ap", "loss"]),
  value: z.number(),
});

/**
 * Why training stopped: every epoch of `--epochs` done, `--patience` epochs without improvement, or a non-finite
 * loss (at `epoch`, `batch`; no weights.json/model.pth written then, best/ and resume.bin stay from before).
 */
export const StoppedSchema = z.object({
  reason: z.enum(["epochs", "patience", "non-finite loss"]),
  /** completed epochs */
  epochs_done: z.number().int().min(0),
  epoch: z.number().int().min(1).optional(),
  batch: z.number().int().min(1).optional(),
});

export type Stopped = z.infer<typeof StoppedSchema>;

/** Where one epoch's wall-clock seconds went (lib/train/loop.ts `EpochTiming`). */
export const EpochTimingSchema = z.object({
  epoch: z.number().int().min(1),
  seconds: z.number(),
  prepare: z.number(),
  gradients: z.number(),
  update: z.number(),
  validation: z.number(),
  save: z.number(),
});

/** `run.json` as `deno task finetune` writes it. */
export const RunJsonSchema = z.object({
  task: z.literal("finetune"),
  /** for the report: a trained model (the baseline VOC detector is "original") */
  kind: z.literal("finetuned"),
  /** display name in the report (default: the directory's name); may be added by hand */
  name: z.string().min(1).optional(),
  description: z.string().optional(),
  dataset: z.string(),
  start: StartModelSchema,
  head_init: z.string(),
  engine: EngineSchema,
  /** the training settings (camelCase, as the resume state records them) */
  settings: z.record(z.string(), z.unknown()),
  n_train: z.number().int(),
  n_val: z.number().int(),
  val_ids: z.array(z.number().int()),
  resumed_from_epoch: z.number().int(),
  /** the best epoch (null: no validation images); absent in run.json of older versions */
  best: BestEpochSchema.nullable().optional(),
  /** why training stopped; absent in older versions (they always ran every epoch) */
  stopped: StoppedSchema.optional(),
  /** wall-clock seconds of the whole task */
  seconds: z.number(),
  /** training time per image, validation and resume-state writes included; null when nothing was trained */
  ms_per_image: z.number().nullable(),
  /** optimiser-step time per image (sample preparation, forward, backward, update) only; null: none or older run */
  ms_per_train_image: z.number().nullable(),
  /**
   * where each epoch's wall-clock seconds of this invocation went (lib/train/loop.ts `EpochTiming`): `seconds`
   * from its start to its resume state written; absent in older runs
   */
  epoch_timing: z.array(EpochTimingSchema).optional(),
  finished: z.string(),
});
export type RunJson = z.infer<typeof RunJsonSchema>;

/** A hand-written `run.json` that only tells the report how to show a run directory. */
export const RunNoteSchema = z.strictObject({
  name: z.string().min(1).optional(),
  kind: z.enum(["original", "finetuned"]).optional(),
  description: z.string().optional(),
  /** dataset.json of the evaluated split, relative to the run directory */
  dataset: z.string().optional(),
  start: StartModelSchema.optional(),
  head_init: z.string().optional(),
  settings: z.record(z.string(), z.unknown()).optional(),
});
export type RunNote = z.infer<typeof RunNoteSchema>;

/** finetune's shape before the engine was recorded, turned into the current one (`source` → `start`). */
function upgradeRunJson(value: Record<string, unknown>): Record<string, unknown> {
  if (!("source" in value) || "start" in value) return value;
  const { source, backend, ...rest } = value;
  if (!("task" in value)) return { ...rest, start: source }; // a note
  const settings = (rest.settings ?? {}) as Record<string, unknown>;
  const workers = typeof settings.workers === "number" ? settings.workers : 1;
  return { ...rest, start: source, engine: { backend, conv: null, workers }, ms_per_train_image: null };
}

/** Writes `run.json` (validated, atomically). */
export async function writeRunJson(file: string, run: RunJson): Promise<void> {
  await writeJsonArtifact(file, RunJsonSchema, run);
}

/**
 * Reads `run.json`: the current shape, finetune's older one (upgraded), or a hand-written note (no `task` field).
 * @throws ArtifactError naming the file and every bad field
 */
export async function readRunJson(file: string): Promise<RunJson | RunNote> {
  const value = await readJsonArtifact(file, z.record(z.string(), z.unknown()));
  if (!("task" in value)) return validateArtifact(file, RunNoteSchema, upgradeRunJson(value));
  return validateArtifact(file, RunJsonSchema, upgradeRunJson(value));
}
