/**
 * Training step pieces: loss and gradients of a batch with gradient accumulation over micro-batches.
 */
import * as tf from "@tensorflow/tfjs-core";
import { convWithGrad } from "./conv_grad.ts";
import { buildTargets, type GroundTruth, type LossOptions, multiboxLossPart } from "./loss.ts";
import { ssdForward, type SsdModel } from "./model.ts";

/** Side of the square network input. */
const SIDE = 300;
const IMAGE_VALUES = SIDE * SIDE * 3;

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
  return tf.tensor4d(data, [images.length, SIDE, SIDE, 3]);
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
          const { locs, scores } = ssdForward(model, images, { conv: convWithGrad });
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
