/**
 * The resume state of a fine-tuning run (`resume.bin` in its output directory): weights, optimiser state, RNG
 * state and log after the last completed epoch, plus the run's settings, in one file written atomically after
 * every epoch. Re-running `deno task finetune` with the same settings continues from it; with other settings it
 * refuses ({@link checkResumeSettings}).
 *
 * Integrity: version 2 ends with a CRC-32 of every byte before it, and nothing in the file is used before it is
 * checked against the model it must restore — the header's schema, the class count, every tensor's group, name,
 * shape, length and offset, the file's exact length, and finite values (a NaN there is a damaged file, not a
 * diverged training). Any problem is a {@link CorruptResumeStateError} ("corrupt resume state … use --restart").
 * Version 1 (before the checksum) still reads, with every other check.
 *
 * Not a "checkpoint": that word means only a reference PyTorch `.pth`. Versions before this module wrote the same
 * content as `checkpoint.bin` (magic `SSDTRAIN`); that file is no longer read (a run with it starts over).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import {
  ArtifactError,
  crc32,
  describeValue,
  FileReadError,
  inlineList,
  InputError,
  READ_LIMITS,
  readRegularFile,
  type RngState,
  validateArtifact,
} from "../core/mod.ts";
import { nonFiniteValues } from "../interop/mod.ts";
import { disposeModel, paramShapes, type SsdModel } from "../ssd/mod.ts";
import { type BestEpoch, SELECT_METRICS } from "./best.ts";
import type { OptimizerState } from "./optim.ts";
import { type TrainingLog, TrainingLogSchema } from "./train_log.ts";

/** The file name inside a run directory. */
export const RESUME_FILE = "resume.bin";
/** The file name older versions used for the same content (not read any more). */
export const OLD_RESUME_FILE = "checkpoint.bin";

const MAGIC = "SSDRESUM";
/** The version written: 2 adds the CRC-32 trailer. */
export const RESUME_VERSION = 2;
/** Bytes before the header: the magic and the header's length (uint32). */
const PREFIX = MAGIC.length + 4;
/** Bytes of version 2's trailer: the CRC-32 (uint32, little-endian) of every byte before it. */
const TRAILER = 4;
/** Classes of the model a fine-tuning run trains (background + the dataset's category). */
const FINETUNED_CLASSES = 2;

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

/** A resume state that cannot be continued: one of a run with other settings, or a damaged one. */
export class ResumeStateError extends InputError {
  override name = "ResumeStateError";
}

/** A resume state that is damaged or not one (names the file and the problem, and says to use --restart). */
export class CorruptResumeStateError extends ResumeStateError {
  override name = "CorruptResumeStateError";
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: corrupt resume state (${problem}); use --restart to discard the run and start over`);
  }
}

const Uint32Schema = z.number().int().min(0).max(0xffffffff);
const GROUPS = ["param", "buf1", "buf2"] as const;

const HeaderSchema = z.object({
  format: z.literal("ssd300-resume-state"),
  version: z.union([z.literal(1), z.literal(RESUME_VERSION)]),
  n_classes: z.number().int().min(2),
  epoch: z.number().int().min(0),
  step: z.number().int().min(0),
  rng: z.tuple([Uint32Schema, Uint32Schema, Uint32Schema, Uint32Schema]),
  optimizer: z.object({ kind: z.enum(["sgd", "adam"]), step: z.number().int().min(0) }),
  log: TrainingLogSchema,
  best: z.object({ epoch: z.number().int().min(1), metric: z.enum(SELECT_METRICS), value: z.number() })
    .nullable().default(null),
  settings: z.record(z.string(), z.unknown()),
  tensors: z.array(z.object({
    group: z.enum(GROUPS),
    name: z.string(),
    shape: z.array(z.number().int().min(0)),
    offset: z.number().int().min(0),
    length: z.number().int().min(0),
  })),
});
type Header = z.infer<typeof HeaderSchema>;

/**
 * Serialises a resume state (version 2): `SSDRESUM`, uint32 header length, JSON header, zero padding to 4 bytes,
 * float32 data (parameters, then the optimiser's buffers), and the CRC-32 of all of that (uint32).
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
    version: RESUME_VERSION,
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
  const dataStart = Math.ceil((PREFIX + header.length) / 4) * 4;
  const dataEnd = dataStart + offset * 4;
  const out = new Uint8Array(dataEnd + TRAILER);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(MAGIC.length, header.length, true);
  out.set(header, PREFIX);
  const floats = new Float32Array(out.buffer, dataStart, offset);
  entries.forEach((e, i) => floats.set(e.data, tensors[i].offset));
  view.setUint32(dataEnd, crc32(out.subarray(0, dataEnd)), true);
  return out;
}

/** The header of a resume state, checked: magic, JSON, CRC-32 (version 2), schema. */
function readHeader(
  bytes: Uint8Array,
  corrupt: (problem: string) => never,
): { header: Header; dataStart: number } {
  const magic = new TextDecoder().decode(bytes.subarray(0, MAGIC.length));
  if (magic !== MAGIC) corrupt(`not a resume state: it starts with ${describeValue(magic)}, not "${MAGIC}"`);
  if (bytes.length < PREFIX) corrupt(`truncated: ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(MAGIC.length, true);
  if (PREFIX + headerLength > bytes.length) {
    corrupt(`truncated: ${bytes.length} bytes, its header alone says ${PREFIX + headerLength}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes.subarray(PREFIX, PREFIX + headerLength)));
  } catch (e) {
    corrupt(`its header is not valid JSON: ${(e as Error).message}`);
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (version === RESUME_VERSION) {
    const end = bytes.length - TRAILER;
    if (end < PREFIX + headerLength || view.getUint32(end, true) !== crc32(bytes.subarray(0, end))) {
      corrupt(`CRC-32 mismatch: ${bytes.length} bytes, truncated or damaged`);
    }
  }
  let header: Header;
  try {
    header = validateArtifact("header", HeaderSchema, json);
  } catch (e) {
    if (!(e instanceof ArtifactError)) throw e;
    corrupt(`header ${inlineList(e.problems, "; ", 3)}`);
  }
  return { header: header!, dataStart: Math.ceil((PREFIX + headerLength) / 4) * 4 };
}

/**
 * Checks the tensor table against the model of `nClasses` and the optimiser: each (group, name) once, every
 * parameter, buffers only of parameters (Adam: both moments of the same ones; SGD: no second), the model's
 * shapes, length = the shape's size, offsets contiguous from 0; and that the file holds exactly that data.
 */
function checkTensorTable(
  h: Header,
  nClasses: number,
  bytes: number,
  dataStart: number,
  corrupt: (p: string) => never,
) {
  if (h.n_classes !== nClasses) corrupt(`n_classes ${h.n_classes}, but a fine-tuned model has ${nClasses}`);
  const expected = paramShapes(nClasses);
  const names = { param: new Set<string>(), buf1: new Set<string>(), buf2: new Set<string>() };
  let offset = 0;
  for (const t of h.tensors) {
    const what = `tensor ${t.group} ${t.name}`;
    const shape = expected.get(t.name);
    if (!shape) corrupt(`${what} is not a parameter of the model`);
    if (names[t.group].has(t.name)) corrupt(`${what} is listed twice`);
    names[t.group].add(t.name);
    if (t.shape.length !== shape!.length || t.shape.some((d, i) => d !== shape![i])) {
      corrupt(`${what} has shape [${t.shape}], the model's is [${shape}]`);
    }
    const size = shape!.reduce((a, b) => a * b, 1);
    if (t.length !== size) corrupt(`${what} has length ${t.length}, its shape [${shape}] holds ${size}`);
    if (t.offset !== offset) corrupt(`${what} is at offset ${t.offset}, expected ${offset}`);
    offset += t.length;
  }
  const missing = [...expected.keys()].filter((name) => !names.param.has(name));
  if (missing.length > 0) corrupt(`missing parameter(s) ${inlineList(missing)}`);
  const kind = h.optimizer.kind;
  if (kind === "sgd" && names.buf2.size > 0) corrupt("second-moment buffers for SGD");
  const sameMoments = names.buf1.size === names.buf2.size && [...names.buf1].every((n) => names.buf2.has(n));
  if (kind === "adam" && !sameMoments) corrupt("Adam's first and second moments are of different parameters");
  const size = dataStart + offset * 4 + (h.version === RESUME_VERSION ? TRAILER : 0);
  if (bytes !== size) corrupt(`${bytes} bytes, its header describes ${size}`);
}

/**
 * Reads a resume state back: a new model (variables), the state and the saved settings. Everything is checked
 * first (see the module doc); the model is built only from a state that passed.
 * @param nClasses the classes of the model it must restore (a fine-tuned one: 2)
 * @throws CorruptResumeStateError naming the file and the problem
 */
export function decodeResumeState(
  bytes: Uint8Array,
  file = RESUME_FILE,
  nClasses = FINETUNED_CLASSES,
): { model: SsdModel; state: ResumeState; settings: Record<string, unknown> } {
  const corrupt = (problem: string): never => {
    throw new CorruptResumeStateError(file, problem);
  };
  const { header, dataStart } = readHeader(bytes, corrupt);
  checkTensorTable(header, nClasses, bytes.length, dataStart, corrupt);
  const total = header.tensors.reduce((s, t) => s + t.length, 0);
  const floats = new Float32Array(bytes.slice(dataStart, dataStart + total * 4).buffer);
  const data = header.tensors.map((t) => floats.subarray(t.offset, t.offset + t.length));
  header.tensors.forEach((t, i) => {
    const bad = nonFiniteValues(data[i]);
    if (bad) {
      corrupt(
        `tensor ${t.group} ${t.name} has ${bad.count} non-finite value(s), the first ${bad.value} at ${bad.index}`,
      );
    }
  });
  const params = new Map<string, tf.Variable>();
  const buf1 = new Map<string, Float32Array>(), buf2 = new Map<string, Float32Array>();
  header.tensors.forEach((t, i) => {
    if (t.group === "param") {
      const x = tf.tensor(data[i], t.shape);
      params.set(t.name, tf.variable(x, true));
      x.dispose();
    } else (t.group === "buf1" ? buf1 : buf2).set(t.name, data[i].slice());
  });
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
      inlineList(
        diff.map((k) => `${k}: ${describeValue(saved[k])} there, ${describeValue(wanted[k])} now`),
        "; ",
      )
    }); pass --restart to discard that run and start over, or use another --out`,
  );
}

/**
 * The resume state in run directory `dir` when there is one, checked against the run's `settings` (the caller
 * owns the returned model); undefined when there is none (an older version's `checkpoint.bin` is noted, not read).
 * @param say where the notes go (stderr)
 * @throws CorruptResumeStateError for a damaged or unreadable file, ResumeStateError for one of other settings
 */
export async function loadResumeState(
  dir: string,
  settings: Record<string, unknown>,
  say: (line: string) => void,
): Promise<{ model: SsdModel; state: ResumeState } | undefined> {
  const file = `${dir}/${RESUME_FILE}`;
  if (!await Deno.lstat(file).then(() => true, () => false)) {
    if (await Deno.stat(`${dir}/${OLD_RESUME_FILE}`).then(() => true, () => false)) {
      say(`${dir}/${OLD_RESUME_FILE} is an older version's resume file; it is not read (starting over)`);
    }
    return undefined;
  }
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(file, READ_LIMITS.model);
  } catch (e) {
    throw e instanceof FileReadError ? new CorruptResumeStateError(file, e.reason) : e;
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
