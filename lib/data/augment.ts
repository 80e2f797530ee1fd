/**
 * SSD training augmentations as pure, seeded functions of (image, boxes) → new (image, boxes): photometric
 * distortion, zoom-out (expand onto a mean-filled canvas), the SSD random IoU crop, horizontal flip — the classic
 * SSD recipe (Liu et al. 2016; as in the widely used PyTorch SSD tutorial the reference notebook derives from).
 * Inputs are never mutated.
 *
 * Boxes are continuous pixel coordinates xyxy (x_min, y_min, x_max, y_max) in the image they accompany, so the
 * fractional boxes the model uses are box / [W, H, W, H] of the returned image (the dataset's convention).
 * @module
 */
import type { Rng } from "../core/mod.ts";
import type { RgbImage } from "../image/mod.ts";
// directly, not through ssd/mod.ts: the data stage stays free of TF.js
import { IMAGENET_MEAN } from "../ssd/preprocess.ts";

/** Boxes with the original indices of the ones kept (to filter labels alongside). */
export interface AugmentResult {
  image: RgbImage;
  /** Float32Array [n * 4] pixel xyxy */
  boxes: Float32Array;
  /** index into the input boxes of each output box */
  keep: number[];
}

/** Fill colour of zoom-out: the ImageNet mean, in 0..255 (the SSD recipe fills with the mean). */
export const EXPAND_FILL: readonly [number, number, number] = IMAGENET_MEAN.map((m) =>
  Math.round(m * 255)
) as [
  number,
  number,
  number,
];
/** Largest zoom-out factor (canvas side / image side). */
export const EXPAND_MAX_SCALE = 4;
/** Minimum IoU choices of the random crop; `null` = keep the whole image. */
export const CROP_MIN_OVERLAPS: readonly (number | null)[] = [0.1, 0.3, 0.5, 0.7, 0.9, null];
/** Crop side as a fraction of the image side, and the allowed crop aspect ratio (h / w). */
export const CROP_SCALE: readonly [number, number] = [0.3, 1];
export const CROP_ASPECT: readonly [number, number] = [0.5, 2];
/** Crop attempts per chosen minimum overlap before choosing again. */
export const CROP_TRIALS = 50;

const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

function copyImage(img: RgbImage): RgbImage {
  return { width: img.width, height: img.height, data: img.data.slice() };
}

function identityKeep(boxes: Float32Array): number[] {
  return Array.from({ length: boxes.length / 4 }, (_, i) => i);
}

// ---------------------------------------------------------------------------------------------------------------
// photometric distortion

/** Brightness × f (torchvision adjust_brightness: blend with black). */
export function adjustBrightness(img: RgbImage, f: number): RgbImage {
  const out = copyImage(img);
  for (let i = 0; i < out.data.length; i++) out.data[i] = clamp255(img.data[i] * f);
  return out;
}

function grayOf(d: Uint8Array, i: number): number {
  return 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
}

/** Contrast × f (torchvision adjust_contrast: blend with the mean grey level). */
export function adjustContrast(img: RgbImage, f: number): RgbImage {
  let mean = 0;
  for (let i = 0; i < img.data.length; i += 3) mean += grayOf(img.data, i);
  mean /= Math.max(1, img.data.length / 3);
  const out = copyImage(img);
  for (let i = 0; i < out.data.length; i++) out.data[i] = clamp255(mean + (img.data[i] - mean) * f);
  return out;
}

/** Saturation × f (torchvision adjust_saturation: blend each pixel with its grey level). */
export function adjustSaturation(img: RgbImage, f: number): RgbImage {
  const out = copyImage(img);
  for (let i = 0; i < out.data.length; i += 3) {
    const g = grayOf(img.data, i);
    for (let c = 0; c < 3; c++) out.data[i + c] = clamp255(g + (img.data[i + c] - g) * f);
  }
  return out;
}

/** Hue shifted by `shift` of a full turn (torchvision adjust_hue, shift in [−0.5, 0.5]). */
export function adjustHue(img: RgbImage, shift: number): RgbImage {
  const out = copyImage(img);
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) {
    const r = d[i] / 255, g = d[i + 1] / 255, b = d[i + 2] / 255;
    const max = Math.max(r, g, b), min = Math.min(r, g, b), delta = max - min;
    let h = 0;
    if (delta > 0) {
      if (max === r) h = ((g - b) / delta) % 6;
      else if (max === g) h = (b - r) / delta + 2;
      else h = (r - g) / delta + 4;
      h /= 6;
    }
    h = (((h + shift) % 1) + 1) % 1;
    const s = max === 0 ? 0 : delta / max, v = max;
    const k = (n: number) => (n + h * 6) % 6;
    const f = (n: number) => v - v * s * Math.max(0, Math.min(k(n), 4 - k(n), 1));
    out.data[i] = clamp255(f(5) * 255);
    out.data[i + 1] = clamp255(f(3) * 255);
    out.data[i + 2] = clamp255(f(1) * 255);
  }
  return out;
}

/** Range of the brightness, contrast and saturation factors, and of the hue shift (the SSD recipe: ±18/255). */
export const PHOTOMETRIC = {
  brightness: [0.5, 1.5],
  contrast: [0.5, 1.5],
  saturation: [0.5, 1.5],
  hue: 18 / 255,
};

/** Brightness, contrast, saturation and hue, each applied with probability ½ in a random order. Boxes unchanged. */
export function photometricDistort(img: RgbImage, rng: Rng): RgbImage {
  const ops: ((im: RgbImage) => RgbImage)[] = [
    (im) => adjustBrightness(im, rng.uniform(PHOTOMETRIC.brightness[0], PHOTOMETRIC.brightness[1])),
    (im) => adjustContrast(im, rng.uniform(PHOTOMETRIC.contrast[0], PHOTOMETRIC.contrast[1])),
    (im) => adjustSaturation(im, rng.uniform(PHOTOMETRIC.saturation[0], PHOTOMETRIC.saturation[1])),
    (im) => adjustHue(im, rng.uniform(-PHOTOMETRIC.hue, PHOTOMETRIC.hue)),
  ];
  // random order (Fisher–Yates), then each with probability ½
  for (let i = ops.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [ops[i], ops[j]] = [ops[j], ops[i]];
  }
  let out = img;
  for (const op of ops) if (rng.chance(0.5)) out = op(out);
  return out === img ? copyImage(img) : out;
}

// ---------------------------------------------------------------------------------------------------------------
// geometry

/**
 * Zoom out: places the image at a random position on a canvas `scale` times larger (scale ∈ [1, maxScale)),
 * filled with {@link EXPAND_FILL}; boxes move with the image.
 */
export function expand(
  img: RgbImage,
  boxes: Float32Array,
  rng: Rng,
  maxScale = EXPAND_MAX_SCALE,
): AugmentResult {
  const scale = rng.uniform(1, maxScale);
  const w = Math.floor(img.width * scale), h = Math.floor(img.height * scale);
  const left = rng.int(w - img.width + 1), top = rng.int(h - img.height + 1);
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(EXPAND_FILL, i * 3);
  for (let y = 0; y < img.height; y++) {
    data.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((top + y) * w + left) * 3);
  }
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = boxes[i] + left;
    out[i + 1] = boxes[i + 1] + top;
    out[i + 2] = boxes[i + 2] + left;
    out[i + 3] = boxes[i + 3] + top;
  }
  return { image: { width: w, height: h, data }, boxes: out, keep: identityKeep(boxes) };
}

/** IoU of one rectangle with each box. */
function iouWith(rect: readonly number[], boxes: Float32Array): number[] {
  const out: number[] = [];
  const ra = (rect[2] - rect[0]) * (rect[3] - rect[1]);
  for (let i = 0; i < boxes.length; i += 4) {
    const iw = Math.max(0, Math.min(rect[2], boxes[i + 2]) - Math.max(rect[0], boxes[i]));
    const ih = Math.max(0, Math.min(rect[3], boxes[i + 3]) - Math.max(rect[1], boxes[i + 1]));
    const inter = iw * ih;
    const ba = (boxes[i + 2] - boxes[i]) * (boxes[i + 3] - boxes[i + 1]);
    out.push(inter / (ra + ba - inter));
  }
  return out;
}

/** Indices of the boxes whose centres lie strictly inside `rect` (pixel xyxy). */
export function boxesWithCentreInside(boxes: Float32Array, rect: readonly number[]): number[] {
  const keep: number[] = [];
  for (let i = 0; i < boxes.length / 4; i++) {
    const cx = (boxes[i * 4] + boxes[i * 4 + 2]) / 2, cy = (boxes[i * 4 + 1] + boxes[i * 4 + 3]) / 2;
    if (cx > rect[0] && cx < rect[2] && cy > rect[1] && cy < rect[3]) keep.push(i);
  }
  return keep;
}

/** Crops `img` to the integer rectangle and keeps the boxes whose centres are inside, clipped and shifted. */
export function cropTo(
  img: RgbImage,
  boxes: Float32Array,
  rect: readonly [number, number, number, number],
): AugmentResult {
  const [l, t, r, b] = rect;
  const w = r - l, h = b - t;
  if (
    !(Number.isInteger(l) && Number.isInteger(t) && w > 0 && h > 0 && l >= 0 && t >= 0 && r <= img.width &&
      b <= img.height)
  ) {
    throw new RangeError(`cropTo: bad rectangle [${rect}] for a ${img.width}×${img.height} image`);
  }
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    data.set(img.data.subarray(((t + y) * img.width + l) * 3, ((t + y) * img.width + r) * 3), y * w * 3);
  }
  const keep = boxesWithCentreInside(boxes, rect);
  const out = new Float32Array(keep.length * 4);
  keep.forEach((k, i) => {
    out[i * 4] = Math.max(boxes[k * 4], l) - l;
    out[i * 4 + 1] = Math.max(boxes[k * 4 + 1], t) - t;
    out[i * 4 + 2] = Math.min(boxes[k * 4 + 2], r) - l;
    out[i * 4 + 3] = Math.min(boxes[k * 4 + 3], b) - t;
  });
  return { image: { width: w, height: h, data }, boxes: out, keep };
}

/**
 * The SSD random crop: choose a minimum IoU from {@link CROP_MIN_OVERLAPS} (`null` → no crop); try up to
 * {@link CROP_TRIALS} rectangles with sides in {@link CROP_SCALE} of the image and aspect (h/w) in {@link CROP_ASPECT}
 * whose IoU with some box reaches the minimum and that contain at least one box centre; keep exactly the boxes whose
 * centres are inside. Returns the crop rectangle too (pixel xyxy; the whole image when not cropped).
 */
export function randomCrop(
  img: RgbImage,
  boxes: Float32Array,
  rng: Rng,
): AugmentResult & { rect: [number, number, number, number] } {
  const whole: [number, number, number, number] = [0, 0, img.width, img.height];
  if (boxes.length === 0) return { image: copyImage(img), boxes: boxes.slice(), keep: [], rect: whole };
  for (;;) {
    const minOverlap = CROP_MIN_OVERLAPS[rng.int(CROP_MIN_OVERLAPS.length)];
    if (minOverlap === null) {
      return { image: copyImage(img), boxes: boxes.slice(), keep: identityKeep(boxes), rect: whole };
    }
    for (let trial = 0; trial < CROP_TRIALS; trial++) {
      const w = Math.floor(rng.uniform(CROP_SCALE[0], CROP_SCALE[1]) * img.width);
      const h = Math.floor(rng.uniform(CROP_SCALE[0], CROP_SCALE[1]) * img.height);
      if (w < 1 || h < 1 || h / w < CROP_ASPECT[0] || h / w > CROP_ASPECT[1]) continue;
      const l = rng.int(img.width - w + 1), t = rng.int(img.height - h + 1);
      const rect: [number, number, number, number] = [l, t, l + w, t + h];
      if (Math.max(...iouWith(rect, boxes)) < minOverlap) continue;
      if (boxesWithCentreInside(boxes, rect).length === 0) continue;
      return { ...cropTo(img, boxes, rect), rect };
    }
  }
}

/** Mirror left–right: x → W − x for the image and the boxes. */
export function flipHorizontal(img: RgbImage, boxes: Float32Array): AugmentResult {
  const { width: w, height: h } = img;
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3, d = (y * w + (w - 1 - x)) * 3;
      data[d] = img.data[s];
      data[d + 1] = img.data[s + 1];
      data[d + 2] = img.data[s + 2];
    }
  }
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = w - boxes[i + 2];
    out[i + 1] = boxes[i + 1];
    out[i + 2] = w - boxes[i];
    out[i + 3] = boxes[i + 3];
  }
  return { image: { width: w, height: h, data }, boxes: out, keep: identityKeep(boxes) };
}

/** Which augmentations {@link augmentSample} applies. */
export interface AugmentOptions {
  photometric?: boolean;
  expand?: boolean;
  crop?: boolean;
  flip?: boolean;
}

/**
 * The SSD training augmentation chain: photometric distortion; zoom-out with probability ½; random IoU crop;
 * horizontal flip with probability ½. Deterministic for a given `rng` state.
 */
export function augmentSample(
  img: RgbImage,
  boxes: Float32Array,
  rng: Rng,
  opts: AugmentOptions = {},
): AugmentResult {
  const o = { photometric: true, expand: true, crop: true, flip: true, ...opts };
  let cur: AugmentResult = { image: img, boxes, keep: identityKeep(boxes) };
  const chain = (next: AugmentResult) => {
    cur = { image: next.image, boxes: next.boxes, keep: next.keep.map((k) => cur.keep[k]) };
  };
  if (o.photometric) cur = { ...cur, image: photometricDistort(cur.image, rng) };
  if (o.expand && rng.chance(0.5)) chain(expand(cur.image, cur.boxes, rng));
  if (o.crop) chain(randomCrop(cur.image, cur.boxes, rng));
  if (o.flip && rng.chance(0.5)) chain(flipHorizontal(cur.image, cur.boxes));
  if (cur.image === img) cur = { ...cur, image: copyImage(img), boxes: boxes.slice() };
  return cur;
}
