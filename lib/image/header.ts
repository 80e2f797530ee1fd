/**
 * Image sizes read from the header alone (PNG IHDR, JPEG SOFn), without decompressing anything, and the pixel
 * limit every decode checks first (a decompression-bomb guard, as Pillow's `Image.MAX_IMAGE_PIXELS`).
 * @module
 */
import { InputError } from "../core/errors.ts";

/**
 * Default limit on width × height of any decoded image or mask: Pillow's `Image.MAX_IMAGE_PIXELS`
 * (`int(1024 * 1024 * 1024 // 4 // 3)` = 89,478,485, a 1 GiB RGBA image / 3). An 8-bit RGB decode of that size is
 * ~256 MiB. Changed with `--max-pixels` ({@link setMaxImagePixels}).
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 89_478_485;

let maxImagePixels = DEFAULT_MAX_IMAGE_PIXELS;

/** Sets the process-wide pixel limit checked by {@link checkImagePixels} (tasks: from `--max-pixels`). */
export function setMaxImagePixels(pixels: number): void {
  if (!(Number.isInteger(pixels) && pixels > 0)) {
    throw new RangeError(`max pixels ${pixels}: not a positive integer`);
  }
  maxImagePixels = pixels;
}

/** The process-wide pixel limit (default {@link DEFAULT_MAX_IMAGE_PIXELS}). */
export function getMaxImagePixels(): number {
  return maxImagePixels;
}

/** An image whose header claims more pixels than the limit: refused before any decode. Names the file and size. */
export class ImageTooLargeError extends InputError {
  override name = "ImageTooLargeError";
  readonly reason: string;
  constructor(
    readonly file: string,
    readonly width: number,
    readonly height: number,
    readonly limit: number,
  ) {
    const reason = `image is ${width}×${height} = ${width * height} pixels, over the limit of ${limit} ` +
      `(a decompression bomb?); raise it with --max-pixels N if the image is genuine`;
    super(`${file}: ${reason}`);
    this.reason = reason;
  }
}

/** Format and size read from an image's header. */
export interface ImageHeader {
  format: "png" | "jpeg";
  width: number;
  height: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const PNG_IHDR = 0x49484452;

/**
 * Width and height from the header: PNG's IHDR (first chunk), or JPEG's first SOFn marker (0xC0–0xCF except DHT
 * 0xC4, JPG 0xC8, DAC 0xCC), walking the marker segments. Reads a few bytes; decompresses nothing.
 * @returns null when the bytes are not a PNG or JPEG or the header cannot be found (the decoder then reports it).
 */
export function readImageHeader(bytes: Uint8Array): ImageHeader | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    if (view.getUint32(12) !== PNG_IHDR) return null;
    return { format: "png", width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  let p = 2;
  while (p + 4 <= bytes.length) {
    if (bytes[p] !== 0xff) return null;
    const marker = bytes[p + 1];
    if (marker === 0xff) { // fill byte
      p++;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { // no length
      p += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null; // EOI / SOS before any SOF
    const length = view.getUint16(p + 2);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (p + 9 > bytes.length) return null;
      return { format: "jpeg", height: view.getUint16(p + 5), width: view.getUint16(p + 7) };
    }
    p += 2 + length;
  }
  return null;
}

/**
 * Refuses an image whose header claims more than `limit` pixels (default: the process-wide limit), before any
 * decode. Bytes without a readable header pass (the decoder reports them).
 * @throws ImageTooLargeError naming the file and its size.
 */
export function checkImagePixels(
  bytes: Uint8Array,
  name: string,
  limit = maxImagePixels,
): ImageHeader | null {
  const header = readImageHeader(bytes);
  if (header && header.width * header.height > limit) {
    throw new ImageTooLargeError(name, header.width, header.height, limit);
  }
  return header;
}
