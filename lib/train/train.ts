/**
 * Training: loss and gradients of a batch with gradient accumulation over micro-batches, the epoch loop (seeded
 * shuffling and augmentation, optimiser + schedule, validation, per-epoch checkpoints and resume), and the
 * checkpoint file format.
 */
import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { type CocoDet, type CocoGt, evaluateCoco } from "../eval/ap.ts";
import { ArtifactError, validateArtifact } from "../core/artifacts.ts";
import { augmentSample } from "../data/augment.ts";
import { pixelXyxyToXywh } from "../eval/coco.ts";
import { convWithGrad } from "../engine/conv_grad.ts";
import { detectionsToCocoResults, EVAL_DETECT_DEFAULTS } from "../eval/evaluate.ts";
import type { RgbImage } from "../image/mod.ts";
import { detectObjectsBatch, preprocessForSsd, SSD_INPUT_SIDE } from "../ssd/mod.ts";
import { buildTargets, type GroundTruth, type LossOptions, multiboxLossPart } from "../ssd/loss.ts";
import { type ConvFn, ssdForward, type SsdModel } from "../ssd/model.ts";
import {
  learningRateAt,
  Optimizer,
  type OptimizerKind,
  type OptimizerState,
  type ScheduleConfig,
  type ScheduleKind,
} from "./optim.ts";
import { priorsCxcyFor } from "../ssd/priors.ts";
import { Rng, type RngState, shuffled } from "../core/rng.ts";

/** Values of one preprocessed image, HWC [300, 300, 3]. */
const IMAGE_VALUES = SSD_INPUT_SIDE * SSD_INPUT_SIDE * 3;

/** One training example: a preprocessed image and its ground truth. */
export interface TrainSample {
  /** Float32Array [300 * 300 * 3] HWC, preprocessed (ImageNet mean/std) */
  image: Float32Array;
  gt: GroundTruth;
}

/** Loss of a batch and the gradients of its trainable parameters. */
export interface LossAndGradients {
  loss: number;
  conf: number;
  loc: number;
  nPositives: number;
  /** parameter name → d(loss)/d(parameter); the caller disposes */
  grads: Map<string, tf.Tensor>;
}

/** Options of {@link lossAndGradients}. */
export interface GradientOptions extends LossOptions {
  /** prior boxes (cx, cy, w, h), Float32Array [8732 * 4] */
  priorsCxcy: Float32Array;
  /** images per forward/backward pass (bounds activation memory); default: the whole batch */
  microBatch?: number;
  /** names of the parameters to differentiate; default: all */
  trainable?: readonly string[];
  /** differentiable convolution; default {@link convWithGrad} (e.g. lib/native_conv.ts `nativeConvWithGrad`) */
  conv?: ConvFn;
}

/** Stacks HWC images into one NHWC tensor [n, 300, 300, 3]. */
export function stackImages(images: readonly Float32Array[]): tf.Tensor4D {
  const data = new Float32Array(images.length * IMAGE_VALUES);
  images.forEach((im, i) => {
    if (im.length !== IMAGE_VALUES) {
      throw new RangeError(`image ${i}: ${im.length} values, expected ${IMAGE_VALUES}`);
    }
    data.set(im, i * IMAGE_VALUES);
  });
  return tf.tensor4d(data, [images.length, SSD_INPUT_SIDE, SSD_INPUT_SIDE, 3]);
}

/**
 * MultiBox loss of a batch and its gradients, accumulated over micro-batches. Targets and the total number of
 * positives are computed for the whole batch first, so the sum of the micro-batches' shares is exactly the batch
 * loss (and gradient) of the reference, whatever the micro-batch size.
 */
export function lossAndGradients(
  model: SsdModel,
  batch: readonly TrainSample[],
  opts: GradientOptions,
): LossAndGradients {
  if (batch.length === 0) throw new RangeError("lossAndGradients: empty batch");
  const micro = Math.max(1, Math.min(opts.microBatch ?? batch.length, batch.length));
  const names = opts.trainable ? [...opts.trainable] : [...model.params.keys()];
  const vars = names.map((n) => {
    const v = model.params.get(n);
    if (!v) throw new RangeError(`lossAndGradients: model has no parameter '${n}'`);
    return v;
  });
  const { targets, nPositivesTotal } = buildTargets(batch.map((s) => s.gt), opts.priorsCxcy, opts);
  const acc = new Map<string, tf.Tensor>();
  let loss = 0, conf = 0, loc = 0;
  try {
    for (let start = 0; start < batch.length; start += micro) {
      const part = batch.slice(start, start + micro);
      const images = stackImages(part.map((s) => s.image));
      try {
        const { value, grads } = tf.variableGrads(() => {
          const { locs, scores } = ssdForward(model, images, { conv: opts.conv ?? convWithGrad });
          const l = multiboxLossPart(
            locs,
            scores,
            targets.slice(start, start + part.length),
            nPositivesTotal,
            opts,
          );
          conf += l.conf.dataSync()[0];
          loc += l.loc.dataSync()[0];
          return l.loss;
        }, vars);
        loss += value.dataSync()[0];
        value.dispose();
        for (const [i, name] of names.entries()) {
          const g = grads[vars[i].name];
          if (!g) continue; // no path from this parameter to the loss: no gradient (torch leaves .grad None)
          const prev = acc.get(name);
          if (prev) {
            acc.set(name, tf.add(prev, g));
            prev.dispose();
            g.dispose();
          } else {
            acc.set(name, g);
          }
        }
      } finally {
        images.dispose();
      }
    }
  } catch (e) {
    for (const g of acc.values()) g.dispose();
    throw e;
  }
  return { loss, conf, loc, nPositives: nPositivesTotal, grads: acc };
}

// ---------------------------------------------------------------------------------------------------------------
// the training loop

/** Which parameters stay fixed. */
export type FreezeMode = "none" | "base" | "base+aux";
export const FREEZE_MODES: readonly FreezeMode[] = ["none", "base", "base+aux"];

/**
 * Names of the parameters that train under a freeze mode: `base` freezes the VGG base (`base.*`), `base+aux` also
 * the auxiliary convs (`aux_convs.*`); the prediction heads and the conv4_3 `rescale_factors` always train.
 */
export function trainableNames(model: SsdModel, freeze: FreezeMode): string[] {
  const frozen = freeze === "none" ? [] : freeze === "base" ? ["base."] : ["base.", "aux_convs."];
  return [...model.params.keys()].filter((n) => !frozen.some((p) => n.startsWith(p)));
}

/**
 * Gives every parameter its own, exactly shaped data buffer (an exact copy). Needed on WASM: a variable created
 * from a reshaped/gathered tensor shares a buffer whose backend shape is the original's, and the WASM FusedConv2D
 * kernel then rejects its bias ("only supports rank-1 bias but got rank 4"). lib/weights.ts builds fresh buffers
 * itself (`toSingleClass` included); this guards models that callers assemble from tensor ops.
 */
export function ownParamBuffers(model: SsdModel): void {
  for (const v of model.params.values()) {
    const fresh = tf.tensor(v.dataSync().slice(), v.shape, v.dtype);
    v.assign(fresh);
    fresh.dispose();
  }
}

/** Hyper-parameters and switches of a training run (see tasks/finetune.ts for the flags). */
export interface TrainConfig {
  epochs: number;
  batchSize: number;
  /** images per forward/backward pass; gradients accumulate over the batch */
  microBatch: number;
  optimizer: OptimizerKind;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: ScheduleKind;
  /** linear warm-up, in optimiser steps */
  warmup: number;
  freeze: FreezeMode;
  augment: boolean;
  shuffle: boolean;
  seed: number;
  /** fraction of the train split held out for validation (0 → none) */
  valFraction: number;
}

/** One training image: its id, size, pixel boxes (dataset.json convention) and a loader. */
export interface TrainItem {
  id: number;
  width: number;
  height: number;
  /** pixel (x_min, y_min, x_max, y_max), inclusive mask extremes */
  boxes: readonly (readonly number[])[];
  load(): RgbImage;
}

/** `train-log.json`. Losses are the reference's MultiBox loss; `val_*` are null without a validation set. */
export interface TrainingLog {
  steps: { epoch: number; step: number; loss: number }[];
  epochs: { epoch: number; train_loss: number; val_loss: number | null; val_ap75: number | null }[];
}

export const TrainingLogSchema = z.object({
  steps: z.array(
    z.object({ epoch: z.number().int().min(1), step: z.number().int().min(1), loss: z.number() }),
  ),
  epochs: z.array(z.object({
    epoch: z.number().int().min(1),
    train_loss: z.number(),
    val_loss: z.number().nullable(),
    val_ap75: z.number().nullable(),
  })),
});

/** Everything needed to continue a run after its last completed epoch. */
export interface TrainState {
  /** completed epochs */
  epoch: number;
  /** completed optimiser steps */
  step: number;
  rng: RngState;
  log: TrainingLog;
  optimizer: OptimizerState;
}

/** Raised when the loss of a batch is NaN or infinite; no update was applied for that batch. */
export class NonFiniteLossError extends Error {
  override name = "NonFiniteLossError";
  constructor(readonly epoch: number, readonly batch: number, readonly loss: number) {
    super(`non-finite loss (${loss}) at epoch ${epoch}, batch ${batch}`);
  }
}

/**
 * Deterministic train/validation split of the TRAIN images: a seeded shuffle, the first ⌊n·fraction⌉ (at least one
 * when fraction > 0 and n ≥ 2) for validation, both parts in their original order.
 */
export function splitTrainVal<T>(
  items: readonly T[],
  fraction: number,
  seed: number,
): { train: T[]; val: T[] } {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new RangeError(`--val-fraction must be in [0, 1), got ${fraction}`);
  }
  let nVal = Math.round(items.length * fraction);
  if (fraction > 0 && nVal === 0 && items.length >= 2) nVal = 1;
  const order = shuffled(items.map((_, i) => i), new Rng((seed ^ 0x5eed1234) >>> 0));
  const valSet = new Set(order.slice(0, nVal));
  return { train: items.filter((_, i) => !valSet.has(i)), val: items.filter((_, i) => valSet.has(i)) };
}

/** The network input and fractional ground truth of one item, augmented or not. */
export function prepareSample(item: TrainItem, rng: Rng | null): TrainSample {
  const img = item.load();
  if (img.width !== item.width || img.height !== item.height) {
    throw new RangeError(
      `image ${item.id}: decoded ${img.width}×${img.height}, dataset says ${item.width}×${item.height}`,
    );
  }
  const boxes = new Float32Array(item.boxes.flat());
  let out: RgbImage = img, outBoxes: Float32Array = boxes;
  if (rng) {
    const a = augmentSample(img, boxes, rng);
    out = a.image;
    outBoxes = a.boxes;
  }
  const frac = new Float32Array(outBoxes.length);
  for (let i = 0; i < outBoxes.length; i += 4) {
    frac[i] = outBoxes[i] / out.width;
    frac[i + 1] = outBoxes[i + 1] / out.height;
    frac[i + 2] = outBoxes[i + 2] / out.width;
    frac[i + 3] = outBoxes[i + 3] / out.height;
  }
  return { image: preprocessForSsd(out), gt: { boxes: frac, labels: new Array(frac.length / 4).fill(1) } };
}

/** Hooks of {@link train}: checkpoints, progress, an optional alternative gradient engine (worker pool). */
export interface TrainHooks {
  /** called after every completed epoch with the state to persist (atomically) */
  checkpoint(state: TrainState): Promise<void>;
  /** resume from this state (weights must already be loaded into the model) */
  resume?: TrainState;
  /** progress lines (stderr) */
  progress?(line: string): void;
  /** replaces in-process {@link lossAndGradients} (e.g. a data-parallel pool); same contract */
  gradients?(batch: readonly TrainSample[], trainable: readonly string[]): Promise<LossAndGradients>;
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
}

/**
 * Loss and AP@0.75 of the model on validation items (no augmentation, forward only).
 * @param priorsCxcy priors for the targets and for decoding detections (the model's anchor set)
 */
export function validateModel(
  model: SsdModel,
  items: readonly TrainItem[],
  priorsCxcy: Float32Array,
  batchSize: number,
): { loss: number; ap75: number } {
  const gts: CocoGt[] = [];
  const dets: CocoDet[] = [];
  let loss = 0;
  for (let start = 0; start < items.length; start += batchSize) {
    const part = items.slice(start, start + batchSize);
    const samples = part.map((it) => prepareSample(it, null));
    const { targets, nPositivesTotal } = buildTargets(samples.map((s) => s.gt), priorsCxcy);
    const { value, locs, scores } = tf.tidy(() => {
      const images = stackImages(samples.map((s) => s.image));
      const out = ssdForward(model, images);
      const l = multiboxLossPart(out.locs, out.scores, targets, nPositivesTotal);
      return {
        value: l.loss.dataSync()[0],
        locs: out.locs.dataSync() as Float32Array,
        scores: out.scores.dataSync() as Float32Array,
      };
    });
    loss += value * part.length; // per-batch loss, weighted by images for the mean below
    const found = detectObjectsBatch(locs, scores, model.nClasses, EVAL_DETECT_DEFAULTS, priorsCxcy);
    part.forEach((it, k) => {
      for (const b of it.boxes) gts.push({ image_id: it.id, bbox: pixelXyxyToXywh(b), iscrowd: 0 });
      dets.push(...detectionsToCocoResults(found[k], 1, it));
    });
  }
  const ap = evaluateCoco(gts, dets, { imageIds: items.map((it) => it.id) });
  return { loss: loss / items.length, ap75: ap.ap75 };
}

/**
 * Trains `model` in place: seeded shuffling and augmentation, gradient accumulation over micro-batches, the
 * optimiser and schedule of `cfg`, validation and a checkpoint after every epoch; resumes from `hooks.resume`.
 * Priors for matching and validation are those of the model's anchor set (`model.anchors`).
 * A non-finite batch loss throws {@link NonFiniteLossError} before any update of that batch (the last
 * checkpoint stays as it was).
 */
export async function train(
  model: SsdModel,
  trainItems: readonly TrainItem[],
  valItems: readonly TrainItem[],
  cfg: TrainConfig,
  hooks: TrainHooks,
): Promise<TrainingLog> {
  if (trainItems.length === 0) throw new RangeError("train: no training images");
  for (
    const [k, v] of Object.entries({
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      microBatch: cfg.microBatch,
    })
  ) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`train: ${k} must be an integer ≥ 1, got ${v}`);
  }
  ownParamBuffers(model);
  const priorsCxcy = priorsCxcyFor(model.anchors); // targets and validation against the model's anchor set
  const trainable = trainableNames(model, cfg.freeze);
  const stepsPerEpoch = Math.ceil(trainItems.length / cfg.batchSize);
  const schedule: ScheduleConfig = {
    kind: cfg.schedule,
    baseLr: cfg.lr,
    // the notebook's CosineAnnealingLR T_max = int(len(trainset) / batch_size + 1) * n_epochs
    totalSteps: cfg.schedule === "cosine"
      ? (Math.floor(trainItems.length / cfg.batchSize) + 1) * cfg.epochs
      : stepsPerEpoch * cfg.epochs,
    stepsPerEpoch,
    warmupSteps: cfg.warmup,
    stepEpochs: Math.max(1, Math.ceil(cfg.epochs / 3)),
  };
  const opt = new Optimizer({ kind: cfg.optimizer, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
  let rng = new Rng(cfg.seed);
  let log: TrainingLog = { steps: [], epochs: [] };
  let epoch0 = 0, step = 0;
  if (hooks.resume) {
    opt.importState(hooks.resume.optimizer, model.params);
    rng = new Rng(hooks.resume.rng);
    log = structuredClone(hooks.resume.log);
    epoch0 = hooks.resume.epoch;
    step = hooks.resume.step;
  }
  const gradients = hooks.gradients ??
    ((batch: readonly TrainSample[], names: readonly string[]) =>
      Promise.resolve(
        lossAndGradients(model, batch, { priorsCxcy, microBatch: cfg.microBatch, trainable: names }),
      ));
  const t0 = performance.now();
  let imagesDone = 0;
  const imagesTotal = (cfg.epochs - epoch0) * trainItems.length;
  try {
    for (let epoch = epoch0 + 1; epoch <= cfg.epochs; epoch++) {
      const order = cfg.shuffle ? shuffled(trainItems, rng) : trainItems.slice();
      let lossSum = 0;
      for (let b = 0; b < stepsPerEpoch; b++) {
        const items = order.slice(b * cfg.batchSize, (b + 1) * cfg.batchSize);
        const batch = items.map((it) => prepareSample(it, cfg.augment ? rng : null));
        const r = await gradients(batch, trainable);
        if (!Number.isFinite(r.loss)) {
          for (const g of r.grads.values()) g.dispose();
          throw new NonFiniteLossError(epoch, b + 1, r.loss);
        }
        opt.step(model.params, r.grads, learningRateAt(step, schedule));
        for (const g of r.grads.values()) g.dispose();
        step++;
        lossSum += r.loss;
        log.steps.push({ epoch, step, loss: r.loss });
        imagesDone += items.length;
        const secs = (performance.now() - t0) / 1000;
        const rate = imagesDone / secs;
        hooks.progress?.(
          `epoch ${epoch}/${cfg.epochs} step ${b + 1}/${stepsPerEpoch} (${step}) loss ${r.loss.toFixed(4)} ` +
            `${rate.toFixed(2)} img/s ETA ${formatDuration((imagesTotal - imagesDone) / rate)}`,
        );
      }
      let valLoss: number | null = null, valAp: number | null = null;
      if (valItems.length > 0) {
        const v = validateModel(model, valItems, priorsCxcy, cfg.microBatch);
        valLoss = v.loss;
        valAp = v.ap75;
      }
      const trainLoss = lossSum / stepsPerEpoch;
      log.epochs.push({ epoch, train_loss: trainLoss, val_loss: valLoss, val_ap75: valAp });
      hooks.progress?.(
        `epoch ${epoch}/${cfg.epochs} done: train_loss ${trainLoss.toFixed(4)}` +
          (valLoss === null ? "" : ` val_loss ${valLoss.toFixed(4)} val_ap75 ${valAp!.toFixed(4)}`),
      );
      await hooks.checkpoint({
        epoch,
        step,
        rng: rng.state(),
        log: structuredClone(log),
        optimizer: opt.exportState(),
      });
    }
  } finally {
    opt.dispose();
  }
  return log;
}

// ---------------------------------------------------------------------------------------------------------------
// checkpoint file: weights + optimiser state + RNG state + log, one file written atomically

const CHECKPOINT_MAGIC = "SSDTRAIN";
const CheckpointHeaderSchema = z.object({
  format: z.literal("ssd300-train-checkpoint"),
  version: z.literal(1),
  n_classes: z.number().int().min(2),
  epoch: z.number().int().min(0),
  step: z.number().int().min(0),
  rng: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  optimizer: z.object({ kind: z.enum(["sgd", "adam"]), step: z.number().int().min(0) }),
  log: TrainingLogSchema,
  config: z.record(z.string(), z.unknown()),
  tensors: z.array(z.object({
    group: z.enum(["param", "buf1", "buf2"]),
    name: z.string(),
    shape: z.array(z.number().int().min(0)),
    offset: z.number().int().min(0),
    length: z.number().int().min(0),
  })),
});

/** Serialises a checkpoint: "SSDTRAIN", uint32 header length, JSON header, zero padding to 4 bytes, float32 data. */
export function encodeCheckpoint(model: SsdModel, state: TrainState, config: object): Uint8Array {
  const entries: { group: "param" | "buf1" | "buf2"; name: string; shape: number[]; data: Float32Array }[] =
    [];
  for (const [name, v] of model.params) {
    entries.push({ group: "param", name, shape: v.shape, data: v.dataSync() as Float32Array });
  }
  for (const [name, d] of state.optimizer.buf1) {
    entries.push({ group: "buf1", name, shape: model.params.get(name)!.shape, data: d });
  }
  for (const [name, d] of state.optimizer.buf2) {
    entries.push({ group: "buf2", name, shape: model.params.get(name)!.shape, data: d });
  }
  let offset = 0;
  const tensors = entries.map((e) => {
    const t = { group: e.group, name: e.name, shape: e.shape, offset, length: e.data.length };
    offset += e.data.length;
    return t;
  });
  const header = new TextEncoder().encode(JSON.stringify({
    format: "ssd300-train-checkpoint",
    version: 1,
    n_classes: model.nClasses,
    epoch: state.epoch,
    step: state.step,
    rng: state.rng,
    optimizer: { kind: state.optimizer.kind, step: state.optimizer.step },
    log: state.log,
    config,
    tensors,
  }));
  const dataStart = Math.ceil((CHECKPOINT_MAGIC.length + 4 + header.length) / 4) * 4;
  const out = new Uint8Array(dataStart + offset * 4);
  out.set(new TextEncoder().encode(CHECKPOINT_MAGIC), 0);
  new DataView(out.buffer).setUint32(CHECKPOINT_MAGIC.length, header.length, true);
  out.set(header, CHECKPOINT_MAGIC.length + 4);
  const floats = new Float32Array(out.buffer, dataStart, offset);
  entries.forEach((e, i) => floats.set(e.data, tensors[i].offset));
  return out;
}

/** Reads a checkpoint back: a new model (variables), the training state and the saved config. */
export function decodeCheckpoint(
  bytes: Uint8Array,
  file = "checkpoint",
): { model: SsdModel; state: TrainState; config: Record<string, unknown> } {
  const magic = new TextDecoder().decode(bytes.subarray(0, CHECKPOINT_MAGIC.length));
  if (magic !== CHECKPOINT_MAGIC) {
    throw new ArtifactError(file, [`not a training checkpoint (magic "${magic}")`]);
  }
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(CHECKPOINT_MAGIC.length, true);
  const headerText = new TextDecoder().decode(
    bytes.subarray(CHECKPOINT_MAGIC.length + 4, CHECKPOINT_MAGIC.length + 4 + headerLen),
  );
  const header = validateArtifact(file, CheckpointHeaderSchema, JSON.parse(headerText));
  const dataStart = Math.ceil((CHECKPOINT_MAGIC.length + 4 + headerLen) / 4) * 4;
  const total = header.tensors.reduce((s, t) => s + t.length, 0);
  if (bytes.byteLength < dataStart + total * 4) {
    throw new ArtifactError(file, [`truncated: ${bytes.byteLength} bytes`]);
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
    },
    config: header.config,
  };
}
