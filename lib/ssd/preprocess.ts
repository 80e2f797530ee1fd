/**
 * The SSD300 input: the reference model's transform of an RGB image into the network's input, Pillow's BILINEAR
 * resize to 300×300 (lib/image/resize.ts), /255, ImageNet mean/std; and the layout change to PyTorch's CHW.
 * No TF.js here (lib/data/augment.ts uses the ImageNet mean).
 * @module
 */
import { assertRgb, type RgbImage } from "../image/codec.ts";
import { resizeBilinearPil } from "../image/resize.ts";

/** Side of the SSD300 input, in pixels: images are resized to SSD_INPUT_SIDE × SSD_INPUT_SIDE. */
export const SSD_INPUT_SIDE = 300;
/** Values of one preprocessed image, HWC [300, 300, 3]. */
export const SSD_INPUT_FLOATS = SSD_INPUT_SIDE * SSD_INPUT_SIDE * 3;
/** ImageNet channel means (RGB) of torchvision's pretrained VGG16, as used by the reference notebook. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
/** ImageNet channel standard deviations (RGB), as used by the reference notebook. */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/**
 * Per-channel lookup tables byte → normalized float32, computed in float32 as torchvision does:
 * `ToTensor` (v / 255) then `Normalize` ((t − mean) / std).
 */
const NORMALIZE_LUT: Float32Array[] = [0, 1, 2].map((c) => {
  const lut = new Float32Array(256);
  const mean = Math.fround(IMAGENET_MEAN[c]);
  const std = Math.fround(IMAGENET_STD[c]);
  for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
  return lut;
});

/**
 * Normalizes an RGB image for the VGG16 backbone without resizing: /255, ImageNet mean/std.
 * @returns Float32Array HWC [height*width*3].
 */
export function normalizeImageNet(img: RgbImage): Float32Array {
  assertRgb(img);
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < img.data.length; i += 3) {
    out[i] = NORMALIZE_LUT[0][img.data[i]];
    out[i + 1] = NORMALIZE_LUT[1][img.data[i + 1]];
    out[i + 2] = NORMALIZE_LUT[2][img.data[i + 2]];
  }
  return out;
}

/**
 * The reference model's input transform: PIL BILINEAR (antialiased) resize to 300×300, /255, ImageNet mean/std.
 * Matches `shared/golden/input_nchw.f32` for FudanPed00001.png to float32 rounding (tests/ssd/preprocess_test.ts).
 * Does not mutate `img`.
 * @returns Float32Array HWC [300*300*3] (channel order RGB), values ≈ in [−2.12, 2.64].
 */
export function preprocessForSsd(img: RgbImage): Float32Array {
  return normalizeImageNet(resizeBilinearPil(img, SSD_INPUT_SIDE, SSD_INPUT_SIDE));
}

/**
 * Stacks preprocessed images into one batch, the network's NHWC input.
 * @param images each Float32Array HWC [300*300*3] ({@link preprocessForSsd})
 * @returns Float32Array NHWC [n*300*300*3], the images back to back
 * @throws RangeError naming the first image of another length
 */
export function stackImages(images: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(images.length * SSD_INPUT_FLOATS);
  images.forEach((im, i) => {
    if (im.length !== SSD_INPUT_FLOATS) {
      throw new RangeError(`image ${i}: ${im.length} values, expected ${SSD_INPUT_FLOATS} (300 × 300 × 3)`);
    }
    out.set(im, i * SSD_INPUT_FLOATS);
  });
  return out;
}

/** Converts HWC [h*w*c] to CHW [c*h*w] (e.g. to compare with PyTorch's NCHW tensors). */
export function hwcToChw(hwc: Float32Array, height: number, width: number, channels: number): Float32Array {
  if (hwc.length !== height * width * channels) throw new RangeError("hwcToChw: length != h*w*c");
  const out = new Float32Array(hwc.length);
  const plane = height * width;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) out[c * plane + p] = hwc[p * channels + c];
  }
  return out;
}
