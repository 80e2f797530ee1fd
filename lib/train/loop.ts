/**
 * The training loop: seeded shuffling and augmentation, the optimiser and learning-rate schedule, a
 * non-finite-loss guard, validation and a resume state after every epoch, and resuming from one. The gradients
 * of a batch come from {@link lossAndGradients} (this thread) or a hook (e.g. data-parallel workers).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { inlineList, InputError, Rng, shuffled } from "../core/mod.ts";
import { priorsCxcyFor, type SsdModel } from "../ssd/mod.ts";
import { type BestEpoch, improves, type SelectMetric } from "./best.ts";
import { type FreezeMode, trainableNames } from "./freeze.ts";
import { learningRateAt, type OptimizerKind, type ScheduleConfig, type ScheduleKind } from "./optim.ts";
import type { ResumeState } from "./resume.ts";
import { SampleCache, type TrainItem } from "./samples.ts";
import { type LossAndGradients, lossAndGradients, type TrainSample } from "../engine/batch_gradients.ts";
import type { EngineSgd } from "../engine/setup.ts";
import { engineStepper, hostStepper } from "./stepper.ts";
import type { TrainingLog } from "./train_log.ts";
import { validateModel, type ValidationForward } from "./validate.ts";

/** Hyper-parameters and switches of a training run (the flags of `deno task finetune`). */
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
  /** validation metric that picks the best epoch (best/): AP@0.75, AP@[.5:.95] (higher is better) or loss */
  select: SelectMetric;
  /** stop after this many epochs without improvement of `select`; null: never (needs validation) */
  patience: number | null;
}

/** Why {@link train} returned: every epoch of `--epochs` done, or `--patience` epochs without improvement. */
export type StopReason = "epochs" | "patience";

/** Raised when the loss of a batch is NaN or infinite; no update was applied for that batch. */
export class NonFiniteLossError extends InputError {
  override name = "NonFiniteLossError";
  constructor(
    readonly epoch: number,
    readonly batch: number,
    readonly loss: number,
    note = "",
    /** the images of the batch (files) */
    readonly images: readonly string[] = [],
  ) {
    const of = images.length ? ` (images of the batch: ${inlineList(images)})` : "";
    super(`non-finite loss (${loss}) at epoch ${epoch}, batch ${batch}${of}${note ? `: ${note}` : ""}`);
  }
}

/** What happened in one optimiser step, for progress reports. */
export interface StepReport {
  epoch: number;
  /** batch within the epoch, from 1 */
  batch: number;
  batchesPerEpoch: number;
  /** optimiser steps so far, this one included */
  step: number;
  loss: number;
  /** images of this step */
  images: number;
}

/** Hooks of {@link train}: the resume state, progress, an optional alternative gradient engine. */
export interface TrainHooks {
  /** called after every completed epoch with the state to persist (atomically) */
  saveResumeState(state: ResumeState): Promise<void>;
  /** resume from this state (weights must already be loaded into the model) */
  resume?: ResumeState;
  /** after every optimiser step */
  onStep?(report: StepReport): void;
  /** after every epoch, with its log entry */
  onEpoch?(entry: TrainingLog["epochs"][number]): void;
  /** after an epoch's validation that improved the selection metric (before the resume state is saved) */
  onBest?(best: BestEpoch): Promise<void>;
  /** replaces {@link validateModel} (tests script validation curves with it); same contract */
  validate?(items: readonly TrainItem[]): { loss: number; ap75: number; ap: number };
  /** replaces in-process {@link lossAndGradients} (e.g. a data-parallel pool); same contract */
  gradients?(batch: readonly TrainSample[], trainable: readonly string[]): Promise<LossAndGradients>;
  /**
   * SGD on the engine (lib/engine/setup.ts `SsdRunner.sgd`): with `cfg.optimizer` "sgd" it computes the
   * gradients and updates in place of `gradients` and this thread's optimiser (lib/train/stepper.ts)
   */
  sgd?: EngineSgd | null;
  /** replaces in-process forward passes of the validation (e.g. lib/engine/setup.ts `SsdRunner.forward`) */
  forward?: ValidationForward;
}

/**
 * Where an epoch's wall-clock time went, seconds: `seconds` from the epoch's start to its resume state written;
 * `prepare` decoding, augmenting and preprocessing the training images on this thread (most of it while the engine
 * computes the previous batch, so it overlaps `gradients`); `gradients` waiting for the engine's loss and
 * gradients (matching, forward, backward, and the weights sent to its workers); `update` the optimiser;
 * `validation` the held-out images' loss and AP; `save` the best epoch's weights and the resume state.
 */
export interface EpochTiming {
  epoch: number;
  seconds: number;
  prepare: number;
  gradients: number;
  update: number;
  validation: number;
  save: number;
}

/** Yields to the event loop (lets the engine's messages through between the images prepared in advance). */
const yieldToEvents = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** What {@link train} returns. */
export interface TrainResult {
  log: TrainingLog;
  /** images trained on in this call (resumed epochs excluded) */
  imagesTrained: number;
  /** seconds spent in the optimiser steps (sample preparation, gradients, update), without validation */
  stepSeconds: number;
  /** the best epoch by `cfg.select` (null without validation) */
  best: BestEpoch | null;
  stopReason: StopReason;
  /** completed epochs (resumed ones included) */
  epochsDone: number;
  /** where the time of each epoch of this call went */
  epochTiming: EpochTiming[];
}

/**
 * Gives every parameter its own, exactly shaped data buffer (an exact copy). Needed on WASM: a variable created
 * from a reshaped/gathered tensor shares a buffer whose backend shape is the original's, and the WASM FusedConv2D
 * kernel then rejects its bias ("only supports rank-1 bias but got rank 4"). lib/interop builds fresh buffers
 * itself (`toSingleClass` included); this guards models that callers assemble from tensor ops.
 */
export async function ownParamBuffers(model: SsdModel): Promise<void> {
  for (const v of model.params.values()) {
    const fresh = tf.tensor((await v.data()).slice(), v.shape, v.dtype);
    v.assign(fresh);
    fresh.dispose();
  }
}

/** The learning-rate schedule of a run over `nTrain` images. */
export function scheduleOf(cfg: TrainConfig, nTrain: number): ScheduleConfig {
  const stepsPerEpoch = Math.ceil(nTrain / cfg.batchSize);
  return {
    kind: cfg.schedule,
    baseLr: cfg.lr,
    // the notebook's CosineAnnealingLR T_max = int(len(trainset) / batch_size + 1) * n_epochs
    totalSteps: cfg.schedule === "cosine"
      ? (Math.floor(nTrain / cfg.batchSize) + 1) * cfg.epochs
      : stepsPerEpoch * cfg.epochs,
    stepsPerEpoch,
    warmupSteps: cfg.warmup,
    stepEpochs: Math.max(1, Math.ceil(cfg.epochs / 3)),
  };
}

/**
 * Trains `model` in place: seeded shuffling and augmentation, gradient accumulation over micro-batches, the
 * optimiser and schedule of `cfg`, validation and a resume state after every epoch; resumes from `hooks.resume`.
 * Priors for matching and validation are those of the model's prior set (`model.priorSet`).
 * A non-finite batch loss throws {@link NonFiniteLossError} before any update of that batch (the last resume
 * state stays as it was).
 */
export async function train(
  model: SsdModel,
  trainItems: readonly TrainItem[],
  valItems: readonly TrainItem[],
  cfg: TrainConfig,
  hooks: TrainHooks,
): Promise<TrainResult> {
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
  await ownParamBuffers(model);
  const priorsCxcy = priorsCxcyFor(model.priorSet); // targets and validation against the model's prior set
  const trainable = trainableNames(model, cfg.freeze);
  const schedule = scheduleOf(cfg, trainItems.length);
  const stepsPerEpoch = schedule.stepsPerEpoch;
  const gradients = hooks.gradients ??
    ((batch: readonly TrainSample[], names: readonly string[]) =>
      Promise.resolve(
        lossAndGradients(model, batch, { priorsCxcy, microBatch: cfg.microBatch, trainable: names }),
      ));
  const optConfig = { kind: cfg.optimizer, momentum: cfg.momentum, weightDecay: cfg.weightDecay };
  const opt = cfg.optimizer === "sgd" && hooks.sgd
    ? engineStepper(model, optConfig, hooks.sgd, trainable)
    : hostStepper(model, optConfig, gradients);
  let rng = new Rng(cfg.seed);
  let log: TrainingLog = { steps: [], epochs: [] };
  let epoch0 = 0, step = 0;
  let best: BestEpoch | null = null;
  if (hooks.resume) {
    best = hooks.resume.best;
    opt.importState(hooks.resume.optimizer);
    rng = new Rng(hooks.resume.rng);
    log = structuredClone(hooks.resume.log);
    epoch0 = hooks.resume.epoch;
    step = hooks.resume.step;
  }
  let imagesTrained = 0, stepSeconds = 0, epochsDone = epoch0;
  let stopReason: StopReason = "epochs";
  const epochTiming: EpochTiming[] = [];
  // decoded images (and, unaugmented, whole samples) kept between epochs; the same samples as prepareSample's
  const samples = new SampleCache();
  const since = (t: number) => (performance.now() - t) / 1000;
  try {
    for (let epoch = epoch0 + 1; epoch <= cfg.epochs; epoch++) {
      if (cfg.patience !== null && best !== null && epoch - 1 - best.epoch >= cfg.patience) {
        stopReason = "patience";
        break;
      }
      const epochStart = performance.now();
      const time: EpochTiming = {
        epoch,
        seconds: 0,
        prepare: 0,
        gradients: 0,
        update: 0,
        validation: 0,
        save: 0,
      };
      let lr = 0;
      const order = cfg.shuffle ? shuffled(trainItems, rng) : trainItems.slice();
      const itemsOf = (b: number) => order.slice(b * cfg.batchSize, (b + 1) * cfg.batchSize);
      // Batch b + 1 is prepared while the engine computes batch b, one image at a time with the event loop let
      // through in between (the engine's messages are not held up). The augmentation draws from `rng` in the
      // same order as preparing each batch just before its step would.
      const prepare = async (items: readonly TrainItem[]): Promise<TrainSample[]> => {
        const out: TrainSample[] = [];
        for (const it of items) {
          await yieldToEvents();
          const t = performance.now();
          out.push(samples.prepare(it, cfg.augment ? rng : null));
          time.prepare += since(t);
        }
        return out;
      };
      let lossSum = 0;
      let next = prepare(itemsOf(0));
      for (let b = 0; b < stepsPerEpoch; b++) {
        const t0 = performance.now();
        const items = itemsOf(b);
        const batch = await next;
        const tg = performance.now();
        const pending = opt.gradients(batch, trainable);
        next = b + 1 < stepsPerEpoch ? prepare(itemsOf(b + 1)) : Promise.resolve([]);
        next.catch(() => {}); // a failed preparation is reported where it is awaited, not as unhandled
        const r = await pending;
        time.gradients += since(tg);
        if (!Number.isFinite(r.loss)) {
          opt.discard();
          await next; // no preparation left running
          const names = items.map((it) => it.file ?? `image ${it.id}`);
          throw new NonFiniteLossError(epoch, b + 1, r.loss, "", names);
        }
        lr = learningRateAt(step, schedule);
        const tu = performance.now();
        await opt.step(lr);
        time.update += since(tu);
        stepSeconds += since(t0);
        step++;
        lossSum += r.loss;
        log.steps.push({ epoch, step, loss: r.loss });
        imagesTrained += items.length;
        hooks.onStep?.({
          epoch,
          batch: b + 1,
          batchesPerEpoch: stepsPerEpoch,
          step,
          loss: r.loss,
          images: items.length,
        });
      }
      await opt.syncModel(); // validation, checkpoints and the caller read model.params
      const tv = performance.now();
      const v = valItems.length === 0
        ? null
        : hooks.validate
        ? hooks.validate(valItems)
        : await validateModel(
          model,
          valItems,
          priorsCxcy,
          cfg.batchSize, // the loss per batch, as the notebook's test loop; passes of any size use every worker
          hooks.forward,
          (it) => samples.prepare(it, null),
        );
      time.validation = since(tv);
      const entry = {
        epoch,
        train_loss: lossSum / stepsPerEpoch,
        val_loss: v?.loss ?? null,
        val_ap75: v?.ap75 ?? null,
        val_ap: v?.ap ?? null,
        lr,
        seconds: (performance.now() - epochStart) / 1000,
      };
      log.epochs.push(entry);
      hooks.onEpoch?.(entry);
      const ts = performance.now();
      if (v !== null && improves(cfg.select, v[cfg.select], best)) {
        best = { epoch, metric: cfg.select, value: v[cfg.select] };
        await hooks.onBest?.(best);
      }
      epochsDone = epoch;
      await hooks.saveResumeState({
        epoch,
        step,
        rng: rng.state(),
        log: structuredClone(log),
        optimizer: await opt.exportState(),
        best,
      });
      time.save = since(ts);
      time.seconds = since(epochStart);
      epochTiming.push(time);
    }
  } finally {
    opt.dispose();
  }
  return { log, imagesTrained, stepSeconds, best, stopReason, epochsDone, epochTiming };
}
