/**
 * Images: PNG/JPEG decoding and PNG encoding, Pillow's BILINEAR resize, and drawing labelled boxes and mask
 * overlays. (The SSD300 input preprocessing is lib/ssd/preprocess.ts.) No TF.js here.
 * @module
 */
export {
  assertRgb,
  decodeImage,
  decodeMask,
  encodeGrayPng,
  encodeJpeg,
  encodePng,
  type GrayImage,
  ImageDecodeError,
  type ImageInfo,
  inspectImage,
  type RgbImage,
  sniffImageFormat,
} from "./codec.ts";
export {
  checkImagePixels,
  DEFAULT_MAX_IMAGE_PIXELS,
  getMaxImagePixels,
  type ImageHeader,
  ImageTooLargeError,
  readImageHeader,
  setMaxImagePixels,
} from "./header.ts";
export { type CheckEntry, type CheckFailure, decodeCheckAll } from "./check.ts";
export { type DrawBox, drawBoxes, overlayMask, type Rgb } from "./draw.ts";
export { resizeBilinearPil } from "./resize.ts";
