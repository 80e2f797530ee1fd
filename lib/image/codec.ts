/**
 * Image codecs: PNG decoding (fast-png) and JPEG decoding (jpeg-js) into 8-bit RGB as PIL's `convert("RGB")`
 * gives, instance masks into one channel of ids, a cheap structural PNG check (chunk CRCs), and PNG encoding.
 * @module
 */
import { decode as decodePngRaw, encode as encodePngRaw } from "fast-png";
import jpeg from "jpeg-js";
import { crc32 } from "../core/checksum.ts";
import { InputError } from "../core/errors.ts";
import { checkImagePixels } from "./header.ts";

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
 * correct CRCs). JPEG: fully decoded with jpeg-js (JPEG has no checksums). Both: the header's size is checked
 * against the pixel limit first (lib/image/header.ts).
 * @throws ImageDecodeError naming the file; ImageTooLargeError.
 */
export function inspectImage(bytes: Uint8Array, name = "<image>"): ImageInfo {
  checkImagePixels(bytes, name);
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
  checkImagePixels(bytes, name);
  let png;
  try {
    png = decodePngRaw(bytes, { checkCrc: true });
  } catch (e) {
    throw new ImageDecodeError(name, `not a valid PNG: ${(e as Error).message.replace(/:\s*$/, "")}`);
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
 * The header's size is checked against the pixel limit before anything is decompressed (lib/image/header.ts).
 * @throws ImageDecodeError if the bytes are neither a valid PNG nor a valid JPEG; ImageTooLargeError.
 */
export function decodeImage(bytes: Uint8Array, name = "<image>"): RgbImage {
  const format = sniffImageFormat(bytes);
  if (format === "jpeg") {
    checkImagePixels(bytes, name);
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

/** Encodes an RGB image as a baseline JPEG (jpeg-js) of `quality` 1..100 (default 90). */
export function encodeJpeg(img: RgbImage, quality = 90): Uint8Array {
  assertRgb(img);
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let i = 0, j = 0; i < img.data.length; i += 3, j += 4) {
    rgba[j] = img.data[i];
    rgba[j + 1] = img.data[i + 1];
    rgba[j + 2] = img.data[i + 2];
    rgba[j + 3] = 255;
  }
  return new Uint8Array(jpeg.encode({ data: rgba, width: img.width, height: img.height }, quality).data);
}

/** Encodes a one-channel image as an 8-bit grayscale PNG (values kept as they are, e.g. instance ids). */
export function encodeGrayPng(img: GrayImage): Uint8Array {
  if (img.data.length !== img.width * img.height) {
    throw new RangeError("gray image data length != width*height");
  }
  return encodePngRaw({ width: img.width, height: img.height, data: img.data, depth: 8, channels: 1 });
}

/** Throws a RangeError unless `img` is a non-empty RGB image whose data has width × height × 3 bytes. */
export function assertRgb(img: RgbImage): void {
  if (!(img.width > 0 && img.height > 0) || img.data.length !== img.width * img.height * 3) {
    throw new RangeError(`RGB image ${img.width}×${img.height} has data length ${img.data.length}`);
  }
}
