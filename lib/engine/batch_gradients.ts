/**
 * The loss and gradients of one training batch: the reference's MultiBox loss, its gradients with respect to the
 * trainable parameters, accumulated over micro-batches. {@link accumulateGradients} is the one accumulation loop:
 * {@link lossAndGradients} runs it in this thread, the data-parallel workers (lib/engine/pool_worker.ts) on their
 * shards.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { convWithGrad } from "./conv_grad.ts";
import {
  buildTargets,
  type ConvFn,
  type GroundTruth,
  type ImageTargets,
  type LossOptions,
  multiboxLossPart,
  SSD_INPUT_SIDE,
  ssdForward,
  type SsdModel,
  stackImages,
} from "../ssd/mod.ts";

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

/** Options of {@link accumulateGradients}: the loss's, and how to run the passes. */
export interface AccumulateOptions extends LossOptions {
  /** images per forward/backward pass (bounds activation memory); default: all at once */
  microBatch?: number;
  /** names of the parameters to differentiate; default: all */
  trainable?: readonly string[];
  /** differentiable convolution; default {@link convWithGrad} (e.g. lib/engine/onednn.ts `oneDnnConvWithGrad`) */
  conv?: ConvFn;
}

/** Options of {@link lossAndGradients}. */
export interface GradientOptions extends AccumulateOptions {
  /** prior boxes (cx, cy, w, h), Float32Array [8732 * 4] */
  priorsCxcy: Float32Array;
}

/**
 * MultiBox loss of `n` images and its gradients, summed over micro-batches: for each micro-batch
 * [start, end) the images from `imagesOf(start, end)` ([end - start, 300, 300, 3], disposed here) go forward,
 * their share of the loss ({@link multiboxLossPart}, normalised by the batch's `nPositivesTotal`) is
 * differentiated and added up. So the sum is exactly the whole batch's loss and gradient, whatever the
 * micro-batch size. A parameter without a path to the loss gets no gradient (torch leaves `.grad` None).
 * @param targets per image, from `buildTargets` over the whole batch
 * @returns loss, its confidence and localisation parts, and the gradients (the caller disposes them)
 */
export function accumulateGradients(
  model: SsdModel,
  n: number,
  imagesOf: (start: number, end: number) => tf.Tensor4D,
  targets: readonly ImageTargets[],
  nPositivesTotal: number,
  opts: AccumulateOptions = {},
): { loss: number; conf: number; loc: number; grads: Map<string, tf.Tensor> } {
  if (n === 0) throw new RangeError("accumulateGradients: empty batch");
  if (targets.length !== n) {
    throw new RangeError(`accumulateGradients: ${targets.length} targets for ${n} images`);
  }
  const micro = Math.max(1, Math.min(opts.microBatch ?? n, n));
  const names = opts.trainable ? [...opts.trainable] : [...model.params.keys()];
  const vars = names.map((name) => {
    const v = model.params.get(name);
    if (!v) throw new RangeError(`gradients: unknown parameter '${name}'`);
    return v;
  });
  const acc = new Map<string, tf.Tensor>();
  let loss = 0, conf = 0, loc = 0;
  try {
    for (let start = 0; start < n; start += micro) {
      const end = Math.min(n, start + micro);
      const images = imagesOf(start, end);
      try {
        const { value, grads } = tf.variableGrads(() => {
          const { locs, scores } = ssdForward(model, images, { conv: opts.conv ?? convWithGrad });
          const part = multiboxLossPart(locs, scores, targets.slice(start, end), nPositivesTotal, opts);
          conf += part.conf.dataSync()[0];
          loc += part.loc.dataSync()[0];
          return part.loss;
        }, vars);
        loss += value.dataSync()[0];
        value.dispose();
        for (const [i, name] of names.entries()) {
          const g = grads[vars[i].name];
          if (!g) continue; // no path from this parameter to the loss
          const prev = acc.get(name);
          acc.set(name, prev ? tf.add(prev, g) : g);
          if (prev) {
            prev.dispose();
            g.dispose();
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
  return { loss, conf, loc, grads: acc };
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
  const { targets, nPositivesTotal } = buildTargets(batch.map((s) => s.gt), opts.priorsCxcy, opts);
  const imagesOf = (start: number, end: number) =>
    tf.tensor4d(stackImages(batch.slice(start, end).map((s) => s.image)), [
      end - start,
      SSD_INPUT_SIDE,
      SSD_INPUT_SIDE,
      3,
    ]);
  const r = accumulateGradients(model, batch.length, imagesOf, targets, nPositivesTotal, opts);
  return { ...r, nPositives: nPositivesTotal };
}
