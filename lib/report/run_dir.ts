/**
 * Run directories, as the report reads them. A run directory holds:
 * - `ap.json` (required) — `deno task ap` output: AP@0.5, AP@0.75, AP@[.5:.95], AR@100, their 95% bootstrap
 *   intervals, the PR curves, settings (incl. `dataset`, `checkpoint`/`weights`, detector parameters);
 * - `detections.coco.json` and `gt.coco.json` — the per-image data (written by `deno task ap --dataset`; for
 *   `--annotations/--detections` runs the files named in ap.json's settings are used): needed for the paired
 *   comparison of runs and for the gallery;
 * - `train-log.json` — optional training curves `{ steps: [{epoch, step, loss}], epochs: [{epoch, train_loss,
 *   val_loss, val_ap75}] }` (`step` counts optimiser steps over the whole run);
 * - `run.json` — optional `{ name, kind: "original" | "finetuned", description, dataset, source, settings }`
 *   (`deno task finetune` writes it): display name, role, starting point and training settings.
 * @module
 */
import { z } from "zod";
import { readJsonArtifact } from "../core/mod.ts";
import {
  type ApJson,
  ApJsonSchema,
  type CocoResult,
  cocoToEvalInputs,
  evaluatePerImage,
  type PerImageEval,
  readCocoGtFile,
  readCocoResults,
} from "../eval/mod.ts";
import type { CocoGroundTruth } from "../data/mod.ts";

/** `run.json`: how a run is shown in the report. All fields optional; other fields are kept. */
export const RunJsonSchema = z.looseObject({
  /** Display name (default: the directory's base name). */
  name: z.string().min(1).optional(),
  /** "original": the unmodified VOC detector (the baseline); "finetuned": a trained model. */
  kind: z.enum(["original", "finetuned"]).optional(),
  description: z.string().optional(),
  /** dataset.json of the evaluated split (default: ap.json settings.dataset). */
  dataset: z.string().optional(),
  /** Where training started: `checkpoint`, `weights`, `imagenet` or `scratch` (random initialisation). */
  source: z.looseObject({ kind: z.string(), path: z.string().nullable().optional() }).optional(),
  head_init: z.string().optional(),
  /** Training settings (lr, epochs, batch size, augmentation, frozen layers …), shown in the settings table. */
  settings: z.record(z.string(), z.unknown()).optional(),
});
export type RunJson = z.infer<typeof RunJsonSchema>;

/** `train-log.json` written by the fine-tuning task (extra fields allowed). */
export const TrainLogSchema = z.looseObject({
  steps: z.array(z.looseObject({ epoch: z.number(), step: z.number(), loss: z.number() })),
  epochs: z.array(
    z.looseObject({
      epoch: z.number(),
      train_loss: z.number().nullable().optional(),
      val_loss: z.number().nullable().optional(),
      val_ap75: z.number().nullable().optional(),
    }),
  ),
  settings: z.record(z.string(), z.unknown()).optional(),
});
export type TrainLog = z.infer<typeof TrainLogSchema>;

/** Everything the report shows about one run. */
export interface RunData {
  dir: string;
  name: string;
  kind: "original" | "finetuned";
  description?: string;
  ap: ApJson;
  detections?: CocoResult[];
  groundTruth?: CocoGroundTruth;
  trainLog?: TrainLog;
  /** Training settings: run.json settings, else train-log settings. */
  trainingSettings?: Record<string, unknown>;
  /** How training started (run.json `source`, `head_init`). */
  start?: { kind: string; path?: string | null; headInit?: string };
  /** dataset.json path, resolved relative to the run directory when it comes from a relative run.json entry. */
  dataset?: string;
}

/** Whether `path` is an existing file. */
const exists = (path: string): Promise<boolean> => Deno.stat(path).then((s) => s.isFile, () => false);

function resolveFrom(dir: string, path: string): string {
  return path.startsWith("/") ? path : `${dir}/${path}`;
}

/** The first of `candidates` that exists: `dir/name`, else the path an ap.json setting names (as given, then
 * relative to the run directory). */
async function findFile(dir: string, name: string, setting: unknown): Promise<string | undefined> {
  const candidates = [`${dir}/${name}`];
  if (typeof setting === "string") candidates.push(setting, resolveFrom(dir, setting));
  for (const c of candidates) if (await exists(c)) return c;
  return undefined;
}

/**
 * Reads a run directory (layout in the module doc). Only `ap.json` is required.
 * @throws ArtifactError naming the file and field when a present file is malformed or ap.json is missing.
 */
export async function loadRunDir(dir: string): Promise<RunData> {
  const d = dir.replace(/\/+$/, "") || "/";
  const ap = await readJsonArtifact(`${d}/ap.json`, ApJsonSchema);
  const run = (await exists(`${d}/run.json`)) ? await readJsonArtifact(`${d}/run.json`, RunJsonSchema) : {};
  const trainLog = (await exists(`${d}/train-log.json`))
    ? await readJsonArtifact(`${d}/train-log.json`, TrainLogSchema)
    : undefined;
  const gtFile = await findFile(d, "gt.coco.json", ap.settings.annotations);
  const groundTruth = gtFile ? await readCocoGtFile(gtFile) : undefined;
  const detFile = await findFile(d, "detections.coco.json", ap.settings.detections);
  const detections = detFile
    ? await readCocoResults(detFile, groundTruth && new Set(groundTruth.images.map((im) => im.id)))
    : undefined;
  const kind = run.kind ?? (ap.settings.n_classes === 21 ? "original" : "finetuned");
  const datasetSetting = run.dataset ??
    (typeof ap.settings.dataset === "string" ? ap.settings.dataset : undefined);
  return {
    dir: d,
    name: run.name ?? d.slice(d.lastIndexOf("/") + 1),
    kind,
    description: run.description,
    ap,
    detections,
    groundTruth,
    trainLog,
    trainingSettings: run.settings ?? trainLog?.settings,
    start: run.source && { kind: run.source.kind, path: run.source.path, headInit: run.head_init },
    dataset: datasetSetting && (run.dataset ? resolveFrom(d, datasetSetting) : datasetSetting),
  };
}

/** The run's evaluation split by test image (for the paired bootstrap), or undefined without per-image data. */
export function perImageEvalOf(run: RunData): PerImageEval | undefined {
  if (!run.groundTruth || !run.detections) return undefined;
  const { imageIds, gts, dets } = cocoToEvalInputs(
    run.groundTruth,
    run.detections,
    run.ap.settings.category.id,
  );
  return evaluatePerImage(gts, dets, { imageIds });
}
