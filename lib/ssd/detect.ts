/**
 * Running the detector: preprocessed images → {@link ssdForward} → the reference's `detect_objects`
 * (lib/ssd/postprocess.ts) against the model's own prior set, the one "forward and decode" path every stage uses;
 * the single-image path of `deno task detect` (RGB image in, detections in original pixels out) and its JSON
 * output, `detections.json`.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import type { RgbImage } from "../image/mod.ts";
import { BACKGROUND_CLASS } from "./classes.ts";
import { ssdForward, type SsdModel } from "./model.ts";
import { type Detection, detectObjectsBatch, type DetectOptions } from "./postprocess.ts";
import { preprocessForSsd, SSD_INPUT_FLOATS, SSD_INPUT_SIDE, stackImages } from "./preprocess.ts";
import { priorsCxcyFor } from "./priors.ts";

/**
 * Runs the network on a batch of preprocessed images and reads its raw outputs back with `await data()` (the
 * only read a GPU backend such as WebGPU has). Creates no lasting tensors.
 * @param images each Float32Array HWC [300*300*3] ({@link preprocessForSsd})
 * @returns locs Float32Array [n*8732*4] (encoded offsets against the priors), scores [n*8732*nClasses] logits
 */
export async function forwardImages(
  model: SsdModel,
  images: readonly Float32Array[],
): Promise<{ locs: Float32Array; scores: Float32Array }> {
  const x = stackImages(images);
  const out = tf.tidy(() =>
    ssdForward(model, tf.tensor4d(x, [images.length, SSD_INPUT_SIDE, SSD_INPUT_SIDE, 3]))
  );
  try {
    const [locs, scores] = await Promise.all([out.locs.data(), out.scores.data()]);
    return { locs: locs as Float32Array, scores: scores as Float32Array };
  } finally {
    tf.dispose([out.locs, out.scores]);
  }
}

/**
 * Runs the model on a batch of preprocessed images and decodes its outputs: {@link ssdForward}, then
 * `detect_objects` per image against the model's prior set (`model.priorSet`). Creates no lasting tensors. The
 * outputs are read back with `await data()` (the only read a GPU backend such as WebGPU has).
 * @param images Float32Array [n * 300 * 300 * 3]: n preprocessed HWC images back to back ({@link preprocessForSsd})
 * @returns per image its fractional detections (see `detectObjects`), in batch order
 */
export async function forwardAndDetect(
  model: SsdModel,
  images: Float32Array,
  opts: DetectOptions,
): Promise<Detection[][]> {
  const n = images.length / SSD_INPUT_FLOATS;
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`forwardAndDetect: ${images.length} values are not n ≥ 1 images of 300 × 300 × 3`);
  }
  const { locs, scores } = tf.tidy(() =>
    ssdForward(model, tf.tensor4d(images, [n, SSD_INPUT_SIDE, SSD_INPUT_SIDE, 3]))
  );
  let locData: Float32Array, scoreData: Float32Array;
  try {
    locData = (await locs.data()) as Float32Array; // [n, 8732, 4]
    scoreData = (await scores.data()) as Float32Array; // [n, 8732, nClasses]
  } finally {
    tf.dispose([locs, scores]);
  }
  return detectObjectsBatch(locData, scoreData, model.nClasses, opts, priorsCxcyFor(model.priorSet));
}

/**
 * Runs the model on a batch of RGB images (any sizes): {@link preprocessForSsd} of each (PIL bilinear 300×300,
 * ImageNet normalisation) into one [n, 300, 300, 3] input, then one {@link forwardAndDetect}. The per-batch step
 * of every multi-image path (`deno task detect --images`, evaluation); creates no lasting tensors.
 * @returns per image its fractional detections (see `detectObjects`), in order
 */
export async function detectImages(
  model: SsdModel,
  images: readonly RgbImage[],
  opts: DetectOptions,
): Promise<Detection[][]> {
  if (images.length === 0) return [];
  return await forwardAndDetect(model, stackImages(images.map(preprocessForSsd)), opts);
}

/**
 * Runs the model on one RGB image: {@link preprocessForSsd} (PIL bilinear 300×300, ImageNet normalisation), then
 * {@link forwardAndDetect}. Creates no lasting tensors.
 * @returns fractional detections (see `detectObjects`)
 */
export async function detectInImage(
  model: SsdModel,
  img: RgbImage,
  opts: DetectOptions,
): Promise<Detection[]> {
  return (await forwardAndDetect(model, preprocessForSsd(img), opts))[0];
}

/** A detection in original-image pixels, as written to `detections.json`. */
export interface PixelDetection {
  label: string;
  class_id: number;
  score: number;
  /** (x_min, y_min, x_max, y_max) in original pixels: fractional box × [W, H, W, H], not clipped (as the reference) */
  box: [number, number, number, number];
}

/**
 * Fractional detections → original pixels (`det_boxes * original_dims` of the reference), with class names.
 * The reference's "nothing found" placeholder (class 0, score 0) is dropped.
 */
export function toPixelDetections(
  dets: readonly Detection[],
  width: number,
  height: number,
  names: readonly string[],
): PixelDetection[] {
  return dets.filter((d) => d.classId !== BACKGROUND_CLASS).map((d) => ({
    label: names[d.classId] ?? `class_${d.classId}`,
    class_id: d.classId,
    score: d.score,
    box: [d.box[0] * width, d.box[1] * height, d.box[2] * width, d.box[3] * height],
  }));
}

/** Schema of `deno task detect`'s JSON output (boxes in original pixels). */
export const DetectionsJsonSchema = z.object({
  image: z.string(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  detections: z.array(z.object({
    label: z.string(),
    class_id: z.number().int().nonnegative(),
    score: z.number().min(0).max(1),
    box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  })),
});
export type DetectionsJson = z.infer<typeof DetectionsJsonSchema>;
