/**
 * Boxes from instance masks, as the reference's `extract_boxes` derives them: for every instance id > 0 the
 * inclusive pixel extremes and the pixel count.
 * @module
 */
import type { GrayImage } from "../image/mod.ts";
import type { PixelBox } from "./dataset.ts";

/** One instance of a mask: its id, inclusive pixel extremes and pixel count. */
export interface MaskInstance {
  id: number;
  box: PixelBox;
  area: number;
}

/**
 * For every instance id > 0 present in `mask`, the inclusive pixel extremes (x_min, y_min, x_max, y_max) of its
 * pixels and its pixel count, in ascending id order (as the reference's `extract_boxes`, which uses np.unique).
 */
export function boxesFromMask(mask: GrayImage): MaskInstance[] {
  const { width, height, data } = mask;
  if (data.length !== width * height) {
    throw new RangeError(`mask data length ${data.length} != ${width}×${height}`);
  }
  const xmin = new Int32Array(256).fill(width), ymin = new Int32Array(256).fill(height);
  const xmax = new Int32Array(256).fill(-1), ymax = new Int32Array(256).fill(-1);
  const area = new Int32Array(256);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const id = data[row + x];
      if (id === 0) continue;
      area[id]++;
      if (x < xmin[id]) xmin[id] = x;
      if (x > xmax[id]) xmax[id] = x;
      if (y < ymin[id]) ymin[id] = y;
      ymax[id] = y; // rows ascend
    }
  }
  const out: MaskInstance[] = [];
  for (let id = 1; id < 256; id++) {
    if (area[id] > 0) out.push({ id, box: [xmin[id], ymin[id], xmax[id], ymax[id]], area: area[id] });
  }
  return out;
}
