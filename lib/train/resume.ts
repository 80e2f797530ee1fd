/**
 * The resume state of a fine-tuning run (`resume.bin` in its output directory): weights, optimiser state, RNG
 * state and log after the last completed epoch, plus the run's settings, in one file written atomically after
 * every epoch. Re-running `deno task finetune` with the same settings continues from it; with other settings it
 * refuses ({@link checkResumeSettings}).
 *
 * Not a "checkpoint": that word means only a reference PyTorch `.pth`. Versions before this module wrote the same
 * content as `checkpoint.bin` (magic `SSDTRAIN`); that file is no longer read (a run with it starts over).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { ArtifactError, describeValue, InputError, type RngState, validateArtifact } from "../core/mod.ts";
import { disposeModel, type SsdModel } from "../ssd/mod.ts";
import { type BestEpoch, SELECT_METRICS } from "./best.ts";
import type { OptimizerState } from "./optim.ts";
import { type TrainingLog, TrainingLogSchema } from "./train_log.ts";

/** The file name inside a run directory. */
export const RESUME_FILE = "resume.bin";
/** The file name older versions used for the same content (not read any more). */
export const OLD_RESUME_FILE = "checkpoint.bin";

const MAGIC = "SSDRESUM";

/** Everything needed to continue a run after its last completed epoch (the weights travel beside it). */
export interface ResumeState {
  /** completed epochs */
  epoch: number;
  /** completed optimiser steps */
  step: number;
  rng: RngState;
  log: TrainingLog;
  optimizer: OptimizerState;
  /** the best epoch so far by the run's selection metric (null: none yet, or no validation) */
  best: BestEpoch | null;
}

/** A resume state that belongs to a run with other settings. */
export class ResumeStateError extends InputError {
  override name = "ResumeStateError";
}

const HeaderSchema = z.object({
  format: z.literal("ssd300-resume-state"),
  version: z.literal(1),
  n_classes: z.number().int().min(2),
  epoch: z.number().int().min(0),
  step: z.number().int().min(0),
  rng: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  optimizer: z.object({ kind: z.enum(["sgd", "adam"]), step: z.number().int().min(0) }),
  log: TrainingLogSchema,
  best: z.object({ epoch: z.number().int().min(1), metric: z.enum(SELECT_METRICS), value: z.number() })
    .nullable().default(null),
  settings: z.record(z.string(), z.unknown()),
  tensors: z.array(z.object({
    group: z.enum(["param", "buf1", "buf2"]),
    name: z.string(),
    shape: z.array(z.number().int().min(0)),
    offset: z.number().int().min(0),
    length: z.number().int().min(0),
  })),
});

/**
 * Serialises a resume state: `SSDRESUM`, uint32 header length, JSON header, zero padding to 4 bytes, float32 data
 * (parameters, then the optimiser's buffers).
 * @param settings the run's settings that a resume must match
 */
export async function encodeResumeState(
  model: SsdModel,
  state: ResumeState,
  settings: object,
): Promise<Uint8Array> {
  const entries: { group: "param" | "buf1" | "buf2"; name: string; shape: number[]; data: Float32Array }[] =
    [];
  for (const [name, v] of model.params) {
    entries.push({ group: "param", name, shape: v.shape, data: await v.data() as Float32Array });
  }
  for (const [group, buffers] of [["buf1", state.optimizer.buf1], ["buf2", state.optimizer.buf2]] as const) {
    for (const [name, d] of buffers) {
      entries.push({ group, name, shape: model.params.get(name)!.shape, data: d });
    }
  }
  let offset = 0;
  const tensors = entries.map((e) => {
    const t = { group: e.group, name: e.name, shape: e.shape, offset, length: e.data.length };
    offset += e.data.length;
    return t;
  });
  const header = new TextEncoder().encode(JSON.stringify({
    format: "ssd300-resume-state",
    version: 1,
    n_classes: model.nClasses,
    epoch: state.epoch,
    step: state.step,
    rng: state.rng,
    optimizer: { kind: state.optimizer.kind, step: state.optimizer.step },
    log: state.log,
    best: state.best,
    settings,
    tensors,
  }));
  const dataStart = Math.ceil((MAGIC.length + 4 + header.length) / 4) * 4;
  const out = new Uint8Array(dataStart + offset * 4);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, header.length, true);
  out.set(header, MAGIC.length + 4);
  const floats = new Float32Array(out.buffer, dataStart, offset);
  entries.forEach((e, i) => floats.set(e.data, tensors[i].offset));
  return out;
}

/**
 * Reads a resume state back: a new model (variables), the state and the saved settings.
 * @throws ArtifactError naming the file when it is not a resume state, truncated or its header is invalid
 */
export function decodeResumeState(
  bytes: Uint8Array,
  file = RESUME_FILE,
): { model: SsdModel; state: ResumeState; settings: Record<string, unknown> } {
  const magic = new TextDecoder().decode(bytes.subarray(0, MAGIC.length));
  if (magic !== MAGIC) throw new ArtifactError(file, [`not a resume state (magic "${magic}")`]);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(MAGIC.length, true);
  let json: unknown;
  try {
    json = JSON.parse(
      new TextDecoder().decode(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + headerLen)),
    );
  } catch (e) {
    throw new ArtifactError(file, [`header is not valid JSON (${(e as Error).message})`]);
  }
  const header = validateArtifact(file, HeaderSchema, json);
  const dataStart = Math.ceil((MAGIC.length + 4 + headerLen) / 4) * 4;
  const total = header.tensors.reduce((s, t) => s + t.length, 0);
  if (bytes.byteLength < dataStart + total * 4) {
    throw new ArtifactError(file, [
      `truncated: ${bytes.byteLength} bytes, expected ${dataStart + total * 4}`,
    ]);
  }
  const floats = new Float32Array(bytes.slice(dataStart, dataStart + total * 4).buffer);
  const params = new Map<string, tf.Variable>();
  const buf1 = new Map<string, Float32Array>(), buf2 = new Map<string, Float32Array>();
  for (const t of header.tensors) {
    const data = floats.slice(t.offset, t.offset + t.length);
    if (t.group === "param") params.set(t.name, tf.variable(tf.tensor(data, t.shape), true));
    else (t.group === "buf1" ? buf1 : buf2).set(t.name, data);
  }
  return {
    model: { nClasses: header.n_classes, params },
    state: {
      epoch: header.epoch,
      step: header.step,
      rng: header.rng as RngState,
      log: header.log,
      optimizer: { kind: header.optimizer.kind, step: header.optimizer.step, buf1, buf2 },
      best: header.best,
    },
    settings: header.settings,
  };
}

/**
 * Refuses to continue a run whose saved settings (its resume key) differ from the wanted ones.
 * @throws ResumeStateError naming the file and every differing setting with its saved and wanted value, and how
 *   to proceed
 */
export function checkResumeSettings(
  file: string,
  saved: Record<string, unknown>,
  wanted: Record<string, unknown>,
): void {
  const diff = Object.keys({ ...wanted, ...saved }).filter((k) =>
    JSON.stringify(wanted[k]) !== JSON.stringify(saved[k])
  );
  if (diff.length === 0) return;
  throw new ResumeStateError(
    `${file} belongs to a run with other settings (${
      diff.map((k) => `${k}: ${describeValue(saved[k])} there, ${describeValue(wanted[k])} now`).join("; ")
    }); pass --restart to discard that run and start over, or use another --out`,
  );
}

/**
 * The resume state in run directory `dir` when there is one, checked against the run's `settings` (the caller
 * owns the returned model); undefined when there is none (an older version's `checkpoint.bin` is noted, not read).
 * @param say where the notes go (stderr)
 * @throws ArtifactError for an unreadable file, ResumeStateError for one of other settings
 */
export async function loadResumeState(
  dir: string,
  settings: Record<string, unknown>,
  say: (line: string) => void,
): Promise<{ model: SsdModel; state: ResumeState } | undefined> {
  const file = `${dir}/${RESUME_FILE}`;
  const bytes = await Deno.readFile(file).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  });
  if (!bytes) {
    if (await Deno.stat(`${dir}/${OLD_RESUME_FILE}`).then(() => true, () => false)) {
      say(`${dir}/${OLD_RESUME_FILE} is an older version's resume file; it is not read (starting over)`);
    }
    return undefined;
  }
  const saved = decodeResumeState(bytes, file);
  try {
    checkResumeSettings(file, saved.settings, settings);
  } catch (e) {
    disposeModel(saved.model);
    throw e;
  }
  say(`resuming after epoch ${saved.state.epoch} (step ${saved.state.step}) from ${file}`);
  return { model: saved.model, state: saved.state };
}
