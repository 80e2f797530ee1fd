/**
 * Where a training step's gradients and optimiser update happen: {@link hostStepper} on this thread (the
 * engine's gradients come back as tensors, lib/train/optim.ts `Optimizer` updates `model.params`), or
 * {@link engineStepper} on the engine's workers (lib/engine/setup.ts `EngineSgd`: the gradients stay there and
 * SGD updates their shared weights in parallel; `model.params` catch up at {@link Stepper.syncModel}). Both give
 * torch.optim semantics in float32 and the same resume state.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { EngineSgd } from "../engine/setup.ts";
import type { LossAndGradients, TrainSample } from "../engine/batch_gradients.ts";
import type { SsdModel } from "../ssd/mod.ts";
import { Optimizer, type OptimizerConfig, type OptimizerState } from "./optim.ts";

/** The loss parts of a batch. */
export interface BatchLoss {
  loss: number;
  conf: number;
  loc: number;
}

/** The gradients and update of one batch, as the training loop (lib/train/loop.ts) drives them. */
export interface Stepper {
  /** Loss of a batch w.r.t. `trainable`; its gradients are kept for {@link step} (or {@link discard}). */
  gradients(batch: readonly TrainSample[], trainable: readonly string[]): Promise<BatchLoss>;
  /** One optimiser update with learning rate `lr` from the kept gradients. */
  step(lr: number): Promise<void>;
  /** Drops the kept gradients without an update (a non-finite loss). */
  discard(): void;
  /** Brings `model.params` up to date (before validation, checkpoints and the end of training). */
  syncModel(): Promise<void>;
  /** Updates done so far. */
  readonly steps: number;
  exportState(): Promise<OptimizerState>;
  importState(state: OptimizerState): void;
  dispose(): void;
}

/** Gradients from `gradients` (tensors on this thread), `Optimizer` over `model.params`. */
export function hostStepper(
  model: SsdModel,
  config: OptimizerConfig,
  gradients: (batch: readonly TrainSample[], trainable: readonly string[]) => Promise<LossAndGradients>,
): Stepper {
  const opt = new Optimizer(config);
  let kept: Map<string, tf.Tensor> | null = null;
  const discard = () => {
    if (kept) tf.dispose([...kept.values()]);
    kept = null;
  };
  return {
    gradients: async (batch, trainable) => {
      discard();
      const r = await gradients(batch, trainable);
      kept = r.grads;
      return { loss: r.loss, conf: r.conf, loc: r.loc };
    },
    step: (lr) => {
      if (!kept) return Promise.reject(new Error("step: no gradients kept"));
      try {
        opt.step(model.params, kept, lr);
      } finally {
        discard();
      }
      return Promise.resolve();
    },
    discard,
    syncModel: () => Promise.resolve(),
    get steps() {
      return opt.steps;
    },
    exportState: () => opt.exportState(),
    importState: (state) => opt.importState(state, model.params),
    dispose: () => {
      discard();
      opt.dispose();
    },
  };
}

/**
 * SGD on the engine (`sgd`, from lib/engine/setup.ts `SsdRunner.sgd`) with the momentum and weight decay of
 * `config` (kind "sgd"); `trainable` are the parameters it updates and {@link Stepper.syncModel} copies back.
 */
export function engineStepper(
  model: SsdModel,
  config: OptimizerConfig,
  sgd: EngineSgd,
  trainable: readonly string[],
): Stepper {
  if (config.kind !== "sgd") throw new RangeError(`engineStepper: SGD only, not '${config.kind}'`);
  // the same validation and defaults as the host optimiser
  const c = new Optimizer(config).config;
  let steps = 0;
  let kept = false;
  return {
    gradients: async (batch, names) => {
      kept = false;
      const r = await sgd.gradients(batch, names);
      kept = true;
      return { loss: r.loss, conf: r.conf, loc: r.loc };
    },
    step: async (lr) => {
      if (!Number.isFinite(lr) || lr < 0) {
        throw new RangeError(`optimizer: learning rate must be finite and ≥ 0, got ${lr}`);
      }
      if (!kept) throw new Error("step: no gradients kept");
      kept = false;
      await sgd.step({ lr, momentum: c.momentum, weightDecay: c.weightDecay });
      steps++;
    },
    discard: () => void (kept = false),
    syncModel: () => sgd.pullWeights(trainable),
    get steps() {
      return steps;
    },
    exportState: () =>
      Promise.resolve({ kind: "sgd", step: steps, buf1: sgd.momentumBuffers(), buf2: new Map() }),
    importState: (state) => {
      if (state.kind !== "sgd") {
        throw new RangeError(`optimizer: state is for '${state.kind}', optimizer is 'sgd'`);
      }
      for (const [k, data] of state.buf1) {
        const p = model.params.get(k);
        if (!p) throw new RangeError(`optimizer: state for unknown parameter '${k}'`);
        if (data.length !== p.size) {
          throw new RangeError(`optimizer: state '${k}' has ${data.length} values, not ${p.size}`);
        }
      }
      sgd.setMomentumBuffers(state.buf1);
      steps = state.step;
    },
    dispose: () => void (kept = false),
  };
}
