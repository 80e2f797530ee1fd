/**
 * The loss and gradients of one training batch: the reference's MultiBox loss, its gradients with respect to the
 * trainable parameters, accumulated over micro-batches. {@link accumulateGradients} is the one accumulation loop:
 * {@link lossAndGradients} runs it in this thread, the data-parallel workers (lib/engine/pool_worker.ts) on their
 * shards; the `…Async` twins read the loss back with `await data()` (lib/engine/setup.ts, WebGPU). One read per
 * step, for the loss; none per layer or micro-batch.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { convWithGrad } from "./conv_grad.ts";
import {
  type BatchTargets,
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
 * The loss parts are read back once, after the last micro-batch ({@link accumulateGradientsAsync} on backends
 * that read asynchronously only, such as WebGPU).
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
  const { parts, grads } = accumulateOnDevice(model, n, imagesOf, targets, nPositivesTotal, opts);
  return summed(parts, grads, () => parts.dataSync() as Float32Array);
}

/**
 * {@link accumulateGradients} (same arguments) with its one read back asynchronous (`await data()`), as WebGPU
 * needs.
 */
export async function accumulateGradientsAsync(
  ...args: Parameters<typeof accumulateGradients>
): Promise<{ loss: number; conf: number; loc: number; grads: Map<string, tf.Tensor> }> {
  const { parts, grads } = accumulateOnDevice(...args);
  const read = await parts.data().then((d) => d as Float32Array, (e: unknown) => ({ failed: e }));
  return summed(parts, grads, () => {
    if ("failed" in read) throw read.failed;
    return read;
  });
}

/**
 * The loss parts read by `read` ([micro-batches, 3] rows), summed, with the gradients; disposes `parts`, and the
 * gradients too when the read fails.
 */
function summed(
  parts: tf.Tensor2D,
  grads: Map<string, tf.Tensor>,
  read: () => Float32Array,
): { loss: number; conf: number; loc: number; grads: Map<string, tf.Tensor> } {
  try {
    return { ...sumParts(read()), grads };
  } catch (e) {
    for (const g of grads.values()) g.dispose();
    throw e;
  } finally {
    parts.dispose();
  }
}

/** Sums the rows [loss, conf, loc] of the micro-batches (in float64, in order). */
function sumParts(rows: Float32Array): { loss: number; conf: number; loc: number } {
  let loss = 0, conf = 0, loc = 0;
  for (let i = 0; i < rows.length; i += 3) {
    loss += rows[i];
    conf += rows[i + 1];
    loc += rows[i + 2];
  }
  return { loss, conf, loc };
}

/**
 * The passes of {@link accumulateGradients} (same arguments), reading nothing back.
 * @returns parts [micro-batches, 3]: each micro-batch's loss, conf and loc shares; the summed gradients
 */
function accumulateOnDevice(
  ...args: Parameters<typeof accumulateGradients>
): { parts: tf.Tensor2D; grads: Map<string, tf.Tensor> } {
  const [model, n, imagesOf, targets, nPositivesTotal, opts = {}] = args;
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
  const rows: tf.Tensor1D[] = []; // per micro-batch [loss, conf, loc]
  try {
    for (let start = 0; start < n; start += micro) {
      const end = Math.min(n, start + micro);
      const images = imagesOf(start, end);
      let kept: tf.Tensor[] = [];
      try {
        const { value, grads } = tf.variableGrads(() => {
          const { locs, scores } = ssdForward(model, images, { conv: opts.conv ?? convWithGrad });
          const part = multiboxLossPart(locs, scores, targets.slice(start, end), nPositivesTotal, opts);
          kept = [tf.keep(part.conf), tf.keep(part.loc)];
          return part.loss;
        }, vars);
        kept.unshift(value);
        rows.push(tf.stack(kept) as tf.Tensor1D);
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
        tf.dispose(kept);
        images.dispose();
      }
    }
    const parts = tf.stack(rows) as tf.Tensor2D;
    return { parts, grads: acc };
  } catch (e) {
    for (const g of acc.values()) g.dispose();
    throw e;
  } finally {
    tf.dispose(rows);
  }
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
  const { targets, nPositivesTotal } = batchTargets(batch, opts, "lossAndGradients");
  const r = accumulateGradients(model, batch.length, imagesOfBatch(batch), targets, nPositivesTotal, opts);
  return { ...r, nPositives: nPositivesTotal };
}

/** {@link lossAndGradients} with its one read back asynchronous (the engine's path; WebGPU needs it). */
export async function lossAndGradientsAsync(
  model: SsdModel,
  batch: readonly TrainSample[],
  opts: GradientOptions,
): Promise<LossAndGradients> {
  const { targets, nPositivesTotal } = batchTargets(batch, opts, "lossAndGradients");
  const imagesOf = imagesOfBatch(batch);
  const r = await accumulateGradientsAsync(model, batch.length, imagesOf, targets, nPositivesTotal, opts);
  return { ...r, nPositives: nPositivesTotal };
}

/**
 * The whole batch's matched targets and its total number of positives (`buildTargets` over every sample).
 * @throws RangeError naming `caller` when the batch is empty
 */
export function batchTargets(
  batch: readonly TrainSample[],
  opts: GradientOptions,
  caller: string,
): BatchTargets {
  if (batch.length === 0) throw new RangeError(`${caller}: empty batch`);
  return buildTargets(batch.map((s) => s.gt), opts.priorsCxcy, opts);
}

/** The images [start, end) of a batch as one NHWC input [end − start, 300, 300, 3]. */
function imagesOfBatch(batch: readonly TrainSample[]): (start: number, end: number) => tf.Tensor4D {
  return (start, end) =>
    tf.tensor4d(stackImages(batch.slice(start, end).map((s) => s.image)), [
      end - start,
      SSD_INPUT_SIDE,
      SSD_INPUT_SIDE,
      3,
    ]);
}
