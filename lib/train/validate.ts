/**
 * Validation after each epoch: the MultiBox loss, COCO AP@0.75 and AP@[.5:.95] of the model on held-out TRAIN images (no
 * augmentation, forward only), detections decoded against the model's prior set, crowd regions ignored as `ap` does.
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
} from "../evaluation/mod.ts";
import {
  buildTargets,
  detectObjectsBatch,
  forwardImages,
  multiboxLossPart,
  type SsdModel,
} from "../ssd/mod.ts";
import { prepareSample, type TrainItem } from "./samples.ts";
import type { TrainSample } from "../engine/batch_gradients.ts";

/** A network forward over preprocessed images (NHWC [300 * 300 * 3] each): locs [n * 8732 * 4], scores [n * 8732 * C]. */
export type ValidationForward = (
  images: readonly Float32Array[],
) => Promise<{ locs: Float32Array; scores: Float32Array }>;

/**
 * Loss, AP@0.75 and AP@[.5:.95] of the model on validation items (no augmentation, forward only).
 * @param priorsCxcy priors for the targets and for decoding detections (the model's prior set)
 * @param batchSize images per forward pass and per loss: `loss` is each batch's MultiBox loss (normalised by
 *   its own positives) averaged over the images, as the notebook's test loop computes it
 * @param forward the forward pass (default: `ssdForward` on this thread), e.g. an engine's workers
 * @param prepare an item's unaugmented sample (default {@link prepareSample}; lib/train/samples.ts `SampleCache`
 *   keeps them between epochs)
 */
export async function validateModel(
  model: SsdModel,
  items: readonly TrainItem[],
  priorsCxcy: Float32Array,
  batchSize: number,
  forward: ValidationForward = (images) => forwardImages(model, images),
  prepare: (item: TrainItem) => TrainSample = (it) => prepareSample(it, null),
): Promise<{ loss: number; ap75: number; ap: number }> {
  const dets: CocoDet[] = [];
  let loss = 0;
  const nPriors = priorsCxcy.length / 4;
  for (let start = 0; start < items.length; start += batchSize) {
    const part = items.slice(start, start + batchSize);
    const samples = part.map(prepare);
    const { targets, nPositivesTotal } = buildTargets(samples.map((s) => s.gt), priorsCxcy);
    const { locs, scores } = await forward(samples.map((s) => s.image));
    const lossTensor = tf.tidy(() => {
      const n = part.length;
      return multiboxLossPart(
        tf.tensor3d(locs, [n, nPriors, 4]),
        tf.tensor3d(scores, [n, nPriors, model.nClasses]),
        targets,
        nPositivesTotal,
      ).loss;
    });
    const value = (await lossTensor.data())[0];
    lossTensor.dispose();
    loss += value * part.length; // per-batch loss, weighted by images for the mean below
    const found = detectObjectsBatch(locs, scores, model.nClasses, EVAL_DETECT_DEFAULTS, priorsCxcy);
    part.forEach((it, k) => dets.push(...detectionsToCocoResults(found[k], 1, it)));
  }
  return { loss: loss / items.length, ...validationAp(items, dets) };
}

/**
 * COCO AP@0.75 and AP@[.5:.95] of detections (pixel xywh) on validation items, scored as `ap` scores a split
 * (toCocoGroundTruth): each box a ground truth (iscrowd 0), each crowd region an ignored one (iscrowd 1, with its
 * area) that detections may match without counting as false positives.
 */
export function validationAp(
  items: readonly TrainItem[],
  dets: readonly CocoDet[],
): { ap75: number; ap: number } {
  const gts: CocoGt[] = items.flatMap((it) => [
    ...it.boxes.map((b): CocoGt => ({ image_id: it.id, bbox: pixelXyxyToXywh(b), iscrowd: 0 })),
    ...(it.crowd ?? []).map((c): CocoGt => ({
      image_id: it.id,
      bbox: pixelXyxyToXywh(c.box),
      iscrowd: 1,
      area: c.area,
    })),
  ]);
  const ap = evaluateCoco(gts, dets, { imageIds: items.map((it) => it.id) });
  return { ap75: ap.ap75, ap: ap.ap };
}
