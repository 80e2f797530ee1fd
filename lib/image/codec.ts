/**
 * Image decoding (PNG via fast-png, JPEG via jpeg-js), PNG encoding, and the SSD300 input preprocessing: Pillow's
 * antialiased BILINEAR resize to 300×300, /255, ImageNet mean/std.
 * @module
 */
import { decode as decodePngRaw, encode as encodePngRaw } from "fast-png";
import jpeg from "jpeg-js";
import { InputError } from "../core/errors.ts";

/** 8-bit RGB image, row-major, 3 bytes per pixel: `data[(y * width + x) * 3 + c]`, c = 0 R, 1 G, 2 B. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Single-channel 8-bit image, row-major: for instance masks, `data[y * width + x]` is the instance id (0 = background). */
export interface GrayImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The bytes are not a decodable PNG or JPEG image (or not a usable mask). Names the file. */
export class ImageDecodeError extends InputError {
  override name = "ImageDecodeError";
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
  }
}

/** Side length of the SSD300 input, in pixels. */
export const SSD_INPUT_SIZE = 300;
/** ImageNet channel means (RGB) of torchvision's pretrained VGG16, as used by the reference notebook. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
/** ImageNet channel standard deviations (RGB), as used by the reference notebook. */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Which codec the bytes' magic number says: "png", "jpeg" or null. */
export function sniffImageFormat(bytes: Uint8Array): "png" | "jpeg" | null {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return "png";
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  return null;
}

/** Format and size of an image, from {@link inspectImage}. */
export interface ImageInfo {
  format: "png" | "jpeg";
  width: number;
  height: number;
}

const PNG_IEND = 0x49454e44;
const PNG_IHDR = 0x49484452;
const PNG_IDAT = 0x49444154;

/**
 * Reads an image's format and size and checks its integrity without decompressing the pixels — much cheaper than
 * {@link decodeImage}. PNG: signature, IHDR first, every chunk inside the file with a correct CRC-32, at least one
 * IDAT, IEND last (catches non-images, truncation and corrupted bytes; not a zlib stream that is invalid yet has
 * correct CRCs). JPEG: fully decoded with jpeg-js (JPEG has no checksums).
 * @throws ImageDecodeError naming the file.
 */
export function inspectImage(bytes: Uint8Array, name = "<image>"): ImageInfo {
  const format = sniffImageFormat(bytes);
  if (format === "jpeg") {
    const img = decodeImage(bytes, name);
    return { format, width: img.width, height: img.height };
  }
  if (format !== "png") throw new ImageDecodeError(name, "not a PNG or JPEG image (unknown signature)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = PNG_SIGNATURE.length;
  let width = 0, height = 0, sawIdat = false, first = true;
  while (true) {
    if (p + 12 > bytes.length) throw new ImageDecodeError(name, "truncated PNG (no IEND chunk)");
    const length = view.getUint32(p);
    const type = view.getUint32(p + 4);
    if (p + 12 + length > bytes.length) {
      throw new ImageDecodeError(name, "truncated PNG (chunk runs past the end)");
    }
    const crc = view.getUint32(p + 8 + length);
    if (crc32(bytes.subarray(p + 4, p + 8 + length)) !== crc) {
      throw new ImageDecodeError(name, `corrupt PNG (CRC mismatch in chunk at byte ${p})`);
    }
    if (first) {
      if (type !== PNG_IHDR || length !== 13) {
        throw new ImageDecodeError(name, "invalid PNG (IHDR is not first)");
      }
      width = view.getUint32(p + 8);
      height = view.getUint32(p + 12);
      if (width === 0 || height === 0) {
        throw new ImageDecodeError(name, `invalid PNG size ${width}×${height}`);
      }
      first = false;
    }
    if (type === PNG_IDAT) sawIdat = true;
    p += 12 + length;
    if (type === PNG_IEND) break;
  }
  if (!sawIdat) throw new ImageDecodeError(name, "invalid PNG (no IDAT chunk)");
  return { format, width, height };
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE, polynomial 0xEDB88320) of `bytes`, as PNG chunks and zip entries store it; unsigned 32-bit. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface Planar {
  width: number;
  height: number;
  /** Unpacked samples, one per channel per pixel, each in [0, 2^depth). */
  samples: Uint8Array | Uint16Array;
  channels: number;
  depth: number;
  palette?: number[][];
}

/** Decodes a PNG and unpacks sub-byte depths (fast-png leaves rows of depth < 8 packed, each row byte-aligned). */
function decodePngPlanar(bytes: Uint8Array, name: string): Planar {
  let png;
  try {
    png = decodePngRaw(bytes, { checkCrc: true });
  } catch (e) {
    throw new ImageDecodeError(name, `not a valid PNG: ${(e as Error).message}`);
  }
  const { width, height, channels, depth } = png;
  const n = width * height * channels;
  if (depth >= 8) {
    if (png.data.length < n) {
      throw new ImageDecodeError(name, `truncated PNG data (${png.data.length} < ${n})`);
    }
    return {
      width,
      height,
      samples: png.data as Uint8Array | Uint16Array,
      channels,
      depth,
      palette: png.palette,
    };
  }
  const samples = new Uint8Array(n);
  const bytesPerRow = Math.ceil((width * channels * depth) / 8);
  if (png.data.length < bytesPerRow * height) throw new ImageDecodeError(name, "truncated PNG data");
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    const row = y * bytesPerRow;
    for (let i = 0; i < width * channels; i++) {
      const bit = i * depth;
      const byte = png.data[row + (bit >> 3)];
      samples[y * width * channels + i] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return { width, height, samples, channels, depth, palette: png.palette };
}

/**
 * Decodes a PNG (fast-png) or JPEG (jpeg-js) into 8-bit RGB, as PIL's `Image.open(...).convert("RGB")` does:
 * palette → palette colours, gray → replicated, alpha dropped, 16-bit → high byte, gray of depth < 8 scaled to 0..255.
 * @param name used in error messages (the file's path).
 * @throws ImageDecodeError if the bytes are neither a valid PNG nor a valid JPEG.
 */
export function decodeImage(bytes: Uint8Array, name = "<image>"): RgbImage {
  const format = sniffImageFormat(bytes);
  if (format === "jpeg") {
    let jpg;
    try {
      jpg = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
    } catch (e) {
      throw new ImageDecodeError(name, `not a valid JPEG: ${(e as Error).message ?? e}`);
    }
    return { width: jpg.width, height: jpg.height, data: new Uint8Array(jpg.data) };
  }
  if (format !== "png") throw new ImageDecodeError(name, "not a PNG or JPEG image (unknown signature)");
  const p = decodePngPlanar(bytes, name);
  const { width, height, channels, samples, depth, palette } = p;
  const out = new Uint8Array(width * height * 3);
  const nPix = width * height;
  if (palette) {
    if (channels !== 1) throw new ImageDecodeError(name, `palette PNG with ${channels} channels`);
    for (let i = 0; i < nPix; i++) {
      const color = palette[samples[i]];
      if (!color) throw new ImageDecodeError(name, `palette index ${samples[i]} out of range`);
      out[i * 3] = color[0];
      out[i * 3 + 1] = color[1];
      out[i * 3 + 2] = color[2];
    }
    return { width, height, data: out };
  }
  // Convert a sample to 8 bits: 16-bit keeps its high byte, depth < 8 is scaled (1 → ×255, 2 → ×85, 4 → ×17).
  const to8 = depth === 16
    ? (v: number) => v >> 8
    : depth === 8
    ? (v: number) => v
    : (v: number) => (v * 255) / ((1 << depth) - 1);
  const colorChannels = channels >= 3 ? 3 : 1; // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  for (let i = 0; i < nPix; i++) {
    const base = i * channels;
    if (colorChannels === 1) {
      const v = to8(samples[base]);
      out[i * 3] = v;
      out[i * 3 + 1] = v;
      out[i * 3 + 2] = v;
    } else {
      out[i * 3] = to8(samples[base]);
      out[i * 3 + 1] = to8(samples[base + 1]);
      out[i * 3 + 2] = to8(samples[base + 2]);
    }
  }
  return { width, height, data: out };
}

/**
 * Decodes an instance mask PNG into one channel of instance ids: the palette index for palette PNGs, the raw gray
 * value for grayscale PNGs (as `np.array(Image.open(mask))` gives). An RGB(A) mask is accepted only if it is gray
 * (R = G = B); the alpha channel of gray+alpha is ignored.
 * @throws ImageDecodeError if not a PNG, if an id exceeds 255, or if the mask has colour.
 */
export function decodeMask(bytes: Uint8Array, name = "<mask>"): GrayImage {
  if (sniffImageFormat(bytes) !== "png") throw new ImageDecodeError(name, "mask is not a PNG image");
  const { width, height, channels, samples } = decodePngPlanar(bytes, name);
  const nPix = width * height;
  const out = new Uint8Array(nPix);
  for (let i = 0; i < nPix; i++) {
    const base = i * channels;
    const v = samples[base];
    if (channels >= 3 && (samples[base + 1] !== v || samples[base + 2] !== v)) {
      throw new ImageDecodeError(
        name,
        `mask has colour pixels (at x=${i % width}, y=${Math.floor(i / width)})`,
      );
    }
    if (v > 255) throw new ImageDecodeError(name, `mask instance id ${v} > 255`);
    out[i] = v;
  }
  return { width, height, data: out };
}

/** Encodes an RGB image as an 8-bit RGB PNG. */
export function encodePng(img: RgbImage): Uint8Array {
  assertRgb(img);
  return encodePngRaw({ width: img.width, height: img.height, data: img.data, depth: 8, channels: 3 });
}

/** Encodes a one-channel image as an 8-bit grayscale PNG (values kept as they are, e.g. instance ids). */
export function encodeGrayPng(img: GrayImage): Uint8Array {
  if (img.data.length !== img.width * img.height) {
    throw new RangeError("gray image data length != width*height");
  }
  return encodePngRaw({ width: img.width, height: img.height, data: img.data, depth: 8, channels: 1 });
}

function assertRgb(img: RgbImage): void {
  if (!(img.width > 0 && img.height > 0) || img.data.length !== img.width * img.height * 3) {
    throw new RangeError(`RGB image ${img.width}×${img.height} has data length ${img.data.length}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Pillow-compatible BILINEAR resampling (src/libImaging/Resample.c, 8 bits per channel).

/** Fixed-point precision of Pillow's 8-bpc resampling coefficients: 32 − 8 − 2 bits (Resample.c PRECISION_BITS). */
const PRECISION_BITS = 22;
const PRECISION_ONE = 1 << PRECISION_BITS;
/** Pillow's BILINEAR filter: triangle of support 1 (scaled by the downscale factor, hence antialiased). */
const BILINEAR_SUPPORT = 1.0;

function bilinearFilter(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

interface Coeffs {
  /** Kernel length per output pixel. */
  ksize: number;
  /** [outSize*2]: first input index and count of taps for each output pixel. */
  bounds: Int32Array;
  /** [outSize*ksize] fixed-point weights (rounded half away from zero at PRECISION_BITS). */
  weights: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box [0, inSize) → outSize. */
function precomputeCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1.0);
  const support = BILINEAR_SUPPORT * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterScale;
    // C's (int) cast truncates toward zero.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bilinearFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const w = x < xmax && ww !== 0 ? k[x] / ww : 0;
      weights[xx * ksize + x] = w < 0
        ? Math.trunc(-0.5 + w * PRECISION_ONE)
        : Math.trunc(0.5 + w * PRECISION_ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

/** Pillow's clip8: (sum >> PRECISION_BITS) clipped to [0, 255]. */
function clip8(sum: number): number {
  const v = Math.floor(sum / PRECISION_ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resizes an RGB image exactly as Pillow's `Image.resize((outWidth, outHeight), Image.BILINEAR)` does: separable
 * convolution with a triangle filter whose support grows with the downscale factor (antialiasing), horizontal pass
 * first, then vertical, in 8-bit fixed point with rounding and clipping after each pass. Does not mutate `img`.
 */
export function resizeBilinearPil(img: RgbImage, outWidth: number, outHeight: number): RgbImage {
  assertRgb(img);
  if (!(Number.isInteger(outWidth) && Number.isInteger(outHeight) && outWidth > 0 && outHeight > 0)) {
    throw new RangeError(`resize target must be positive integers, got ${outWidth}×${outHeight}`);
  }
  const { width: inW, height: inH } = img;
  const horiz = precomputeCoeffs(inW, outWidth);
  const vert = precomputeCoeffs(inH, outHeight);
  const needH = outWidth !== inW;
  const needV = outHeight !== inH;
  // Rows of the source that the vertical pass reads (Pillow's ybox_first / ybox_last).
  const yFirst = vert.bounds[0];
  const yLast = vert.bounds[outHeight * 2 - 2] + vert.bounds[outHeight * 2 - 1];

  let tmp: Uint8Array; // [tmpH, outWidth, 3]
  let tmpRow0: number;
  if (needH) {
    const rows = yLast - yFirst;
    tmp = new Uint8Array(rows * outWidth * 3);
    tmpRow0 = yFirst;
    const { ksize, bounds, weights } = horiz;
    const half = 1 << (PRECISION_BITS - 1);
    for (let y = 0; y < rows; y++) {
      const srcRow = (y + yFirst) * inW * 3;
      const dstRow = y * outWidth * 3;
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = bounds[xx * 2];
        const n = bounds[xx * 2 + 1];
        const kOff = xx * ksize;
        let s0 = half, s1 = half, s2 = half;
        for (let x = 0; x < n; x++) {
          const w = weights[kOff + x];
          const p = srcRow + (xmin + x) * 3;
          s0 += img.data[p] * w;
          s1 += img.data[p + 1] * w;
          s2 += img.data[p + 2] * w;
        }
        const d = dstRow + xx * 3;
        tmp[d] = clip8(s0);
        tmp[d + 1] = clip8(s1);
        tmp[d + 2] = clip8(s2);
      }
    }
  } else {
    tmp = img.data;
    tmpRow0 = 0;
  }
  if (!needV) {
    return { width: outWidth, height: outHeight, data: needH ? tmp : img.data.slice() };
  }
  const out = new Uint8Array(outWidth * outHeight * 3);
  const { ksize, bounds, weights } = vert;
  const half = 1 << (PRECISION_BITS - 1);
  const rowLen = outWidth * 3;
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2] - tmpRow0;
    const n = bounds[yy * 2 + 1];
    const kOff = yy * ksize;
    const dst = yy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let s = half;
      for (let y = 0; y < n; y++) s += tmp[(ymin + y) * rowLen + i] * weights[kOff + y];
      out[dst + i] = clip8(s);
    }
  }
  return { width: outWidth, height: outHeight, data: out };
}

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
 * Matches `shared/golden/input_nchw.f32` for FudanPed00001.png to float32 rounding (see tests/image_test.ts).
 * Does not mutate `img`.
 * @returns Float32Array HWC [300*300*3] (channel order RGB), values ≈ in [−2.12, 2.64].
 */
export function preprocessForSsd(img: RgbImage): Float32Array {
  return normalizeImageNet(resizeBilinearPil(img, SSD_INPUT_SIZE, SSD_INPUT_SIZE));
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
