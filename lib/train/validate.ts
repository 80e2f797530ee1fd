/**
 * Validation after each epoch: the MultiBox loss, COCO AP@0.75 and AP@[.5:.95] of the model on held-out TRAIN images (no
 * augmentation, forward only), detections decoded against the model's anchor set.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  type CocoDet,
  type CocoGt,
  detectionsToCocoResults,
  EVAL_DETECT_DEFAULTS,
  evaluateCoco,
  pixelXyxyToXywh,
} from "../eval/mod.ts";
import { buildTargets, detectObjectsBatch, multiboxLossPart, ssdForward, type SsdModel } from "../ssd/mod.ts";
import { prepareSample, type TrainItem } from "./samples.ts";
import { stackImages } from "./step.ts";

/**
 * Loss, AP@0.75 and AP@[.5:.95] of the model on validation items (no augmentation, forward only).
 * @param priorsCxcy priors for the targets and for decoding detections (the model's anchor set)
 * @param batchSize images per forward pass
 */
export function validateModel(
  model: SsdModel,
  items: readonly TrainItem[],
  priorsCxcy: Float32Array,
  batchSize: number,
): { loss: number; ap75: number; ap: number } {
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
        locs: out.locs.dataSync() as Float32Array, // [n, nPriors, 4]
        scores: out.scores.dataSync() as Float32Array, // [n, nPriors, nClasses]
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
  return { loss: loss / items.length, ap75: ap.ap75, ap: ap.ap };
}
