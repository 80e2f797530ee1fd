/**
 * Optimisers with PyTorch semantics (torch.optim.SGD without nesterov/dampening, torch.optim.Adam with L2
 * weight decay) over a model's `Map<string, tf.Variable>`, and learning-rate schedules (constant, per-step cosine
 * annealing as the notebook's CosineAnnealingLR, step decay) with optional linear warm-up.
 * Optimiser state is exportable as plain Float32Arrays for the resume state (lib/train/resume.ts).
 */
import * as tf from "@tensorflow/tfjs-core";

export type OptimizerKind = "sgd" | "adam";
export const OPTIMIZERS: readonly OptimizerKind[] = ["sgd", "adam"];

/** Hyper-parameters; defaults are torch's (Adam betas 0.9/0.999, eps 1e-8) and the notebook's (momentum 0.9). */
export interface OptimizerConfig {
  kind: OptimizerKind;
  momentum?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Serializable optimiser state: step count and one or two buffers per parameter. */
export interface OptimizerState {
  kind: OptimizerKind;
  step: number;
  /** name → momentum buffer (SGD) or first moment (Adam) */
  buf1: Map<string, Float32Array>;
  /** name → second moment (Adam only) */
  buf2: Map<string, Float32Array>;
}

/** An optimiser bound to nothing but its state; `step` updates variables in place. */
export class Optimizer {
  readonly config: Required<OptimizerConfig>;
  private stepCount = 0;
  private buf1 = new Map<string, tf.Tensor>();
  private buf2 = new Map<string, tf.Tensor>();

  constructor(config: OptimizerConfig) {
    this.config = {
      momentum: config.kind === "sgd" ? 0.9 : 0,
      weightDecay: 0,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      ...config,
    };
    const c = this.config;
    if (!OPTIMIZERS.includes(c.kind)) throw new RangeError(`optimizer: unknown kind '${c.kind}'`);
    for (const [k, v] of Object.entries({ momentum: c.momentum, weightDecay: c.weightDecay, eps: c.eps })) {
      if (!(v >= 0) || !Number.isFinite(v)) {
        throw new RangeError(`optimizer: ${k} must be a finite number ≥ 0, got ${v}`);
      }
    }
    for (const [k, v] of Object.entries({ beta1: c.beta1, beta2: c.beta2 })) {
      if (!(v >= 0 && v < 1)) throw new RangeError(`optimizer: ${k} must be in [0, 1), got ${v}`);
    }
  }

  /** Number of updates done. */
  get steps(): number {
    return this.stepCount;
  }

  /**
   * One update of every parameter that has a gradient, with learning rate `lr` (torch semantics):
   * SGD: g += wd·p; buf = g (first step) else momentum·buf + g; p -= lr·buf.
   * Adam: g += wd·p; m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²; p -= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps).
   */
  step(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number): void {
    if (!Number.isFinite(lr) || lr < 0) {
      throw new RangeError(`optimizer: learning rate must be finite and ≥ 0, got ${lr}`);
    }
    this.stepCount++;
    const c = this.config;
    const t = this.stepCount;
    for (const [name, g0] of grads) {
      const p = params.get(name);
      if (!p) throw new RangeError(`optimizer: gradient for unknown parameter '${name}'`);
      tf.tidy(() => {
        const g = c.weightDecay > 0 ? tf.add(g0, tf.mul(p, c.weightDecay)) : g0;
        if (c.kind === "sgd") {
          let update: tf.Tensor = g;
          if (c.momentum > 0) {
            const old = this.buf1.get(name);
            const buf = old ? tf.add(tf.mul(old, c.momentum), g) : tf.clone(g);
            old?.dispose();
            this.buf1.set(name, tf.keep(buf));
            update = buf;
          }
          p.assign(tf.sub(p, tf.mul(update, lr)));
        } else {
          const m0 = this.buf1.get(name), v0 = this.buf2.get(name);
          const m = tf.add(tf.mul(m0 ?? tf.zerosLike(g), c.beta1), tf.mul(g, 1 - c.beta1));
          const v = tf.add(tf.mul(v0 ?? tf.zerosLike(g), c.beta2), tf.mul(tf.square(g), 1 - c.beta2));
          m0?.dispose();
          v0?.dispose();
          this.buf1.set(name, tf.keep(m));
          this.buf2.set(name, tf.keep(v));
          const bc1 = 1 - c.beta1 ** t, bc2 = 1 - c.beta2 ** t;
          const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), c.eps);
          p.assign(tf.sub(p, tf.mul(tf.div(m, denom), lr / bc1)));
        }
      });
    }
  }

  /** A copy of the state as plain arrays (for the resume state), read back with `await data()`. */
  async exportState(): Promise<OptimizerState> {
    const read = async (m: Map<string, tf.Tensor>) => {
      const out = new Map<string, Float32Array>();
      for (const [k, v] of m) out.set(k, (await v.data()).slice() as Float32Array);
      return out;
    };
    return {
      kind: this.config.kind,
      step: this.stepCount,
      buf1: await read(this.buf1),
      buf2: await read(this.buf2),
    };
  }

  /** Restores a state from {@link exportState}; shapes come from the parameters. */
  importState(state: OptimizerState, params: Map<string, tf.Variable>): void {
    if (state.kind !== this.config.kind) {
      throw new RangeError(`optimizer: state is for '${state.kind}', optimizer is '${this.config.kind}'`);
    }
    this.dispose();
    const load = (src: Map<string, Float32Array>, dst: Map<string, tf.Tensor>) => {
      for (const [k, data] of src) {
        const p = params.get(k);
        if (!p) throw new RangeError(`optimizer: state for unknown parameter '${k}'`);
        if (data.length !== p.size) {
          throw new RangeError(`optimizer: state '${k}' has ${data.length} values, not ${p.size}`);
        }
        dst.set(k, tf.tensor(data, p.shape));
      }
    };
    load(state.buf1, this.buf1);
    load(state.buf2, this.buf2);
    this.stepCount = state.step;
  }

  /** Frees the buffers. */
  dispose(): void {
    for (const t of [...this.buf1.values(), ...this.buf2.values()]) t.dispose();
    this.buf1.clear();
    this.buf2.clear();
  }
}

export type ScheduleKind = "constant" | "cosine" | "step";
export const SCHEDULES: readonly ScheduleKind[] = ["constant", "cosine", "step"];

/** Learning-rate schedule over optimiser steps (0-based: the lr used by update number `step + 1`). */
export interface ScheduleConfig {
  kind: ScheduleKind;
  baseLr: number;
  /** cosine's T_max in updates (the notebook: (⌊n / batch⌋ + 1) · epochs); also the run length for step decay */
  totalSteps: number;
  /** updates per epoch (step decay counts epochs) */
  stepsPerEpoch: number;
  /** linear warm-up over this many first updates: lr · (step + 1) / warmup */
  warmupSteps?: number;
  /** step decay: multiply by `gamma` every `stepEpochs` epochs (torch StepLR); defaults 0.1 and ⌈epochs / 3⌉ */
  gamma?: number;
  stepEpochs?: number;
}

/**
 * The learning rate for update `step` (0-based).
 * - constant: baseLr
 * - cosine: baseLr · (1 + cos(π · step / totalSteps)) / 2 (CosineAnnealingLR, eta_min 0, stepped after every update
 *   as in the notebook)
 * - step: baseLr · gamma^⌊epoch / stepEpochs⌋
 * then × (step + 1) / warmupSteps while step < warmupSteps.
 */
export function learningRateAt(step: number, s: ScheduleConfig): number {
  let lr: number;
  switch (s.kind) {
    case "constant":
      lr = s.baseLr;
      break;
    case "cosine":
      lr = s.baseLr * (1 + Math.cos(Math.PI * Math.min(step, s.totalSteps) / Math.max(1, s.totalSteps))) / 2;
      break;
    case "step": {
      const every = s.stepEpochs ?? Math.max(1, Math.ceil(s.totalSteps / Math.max(1, s.stepsPerEpoch) / 3));
      lr = s.baseLr * (s.gamma ?? 0.1) ** Math.floor(Math.floor(step / Math.max(1, s.stepsPerEpoch)) / every);
      break;
    }
    default:
      throw new RangeError(`schedule: unknown kind '${(s as { kind: string }).kind}'`);
  }
  const warm = s.warmupSteps ?? 0;
  if (step < warm) lr *= (step + 1) / warm;
  return lr;
}
