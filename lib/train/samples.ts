/**
 * Training examples: the TRAIN images of a dataset as loadable items, the seeded train/validation split of them,
 * and an item turned into the network's input and fractional ground truth (augmented or not).
 * @module
 */
import { augmentSample, type Dataset, type OpenedDataset } from "../data/mod.ts";
import type { RgbImage } from "../image/mod.ts";
import { preprocessForSsd } from "../ssd/mod.ts";
import { InputError, Rng, shuffled } from "../core/mod.ts";
import type { TrainSample } from "../engine/batch_gradients.ts";

/** One training image: its id, size, pixel boxes (dataset.json convention) and a loader. */
export interface TrainItem {
  id: number;
  /** the image's path in the dataset's file tree, for messages (default: `image <id>`) */
  file?: string;
  width: number;
  height: number;
  /** pixel (x_min, y_min, x_max, y_max), inclusive mask extremes */
  boxes: readonly (readonly number[])[];
  /**
   * COCO crowd regions (dataset.json `crowd`: pixel (x_min, y_min, x_max, y_max) boxes and areas): not training
   * targets; validation ignores detections on them as `ap` does. Absent: none.
   */
  crowd?: readonly { box: readonly number[]; area: number }[];
  load(): RgbImage;
}

/** The TRAIN split of a dataset as training items, read through its opened source. */
export function trainItemsOf(dataset: Dataset, source: OpenedDataset): TrainItem[] {
  return dataset.images.filter((im) => im.split === "train").map((im): TrainItem => ({
    id: im.id,
    file: im.file,
    width: im.width,
    height: im.height,
    boxes: im.boxes,
    ...(im.crowd?.length ? { crowd: im.crowd } : {}),
    load: () => source.readImage(im),
  }));
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
    throw new InputError(
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
