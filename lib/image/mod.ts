/**
 * Images: PNG/JPEG decoding and PNG encoding, Pillow's BILINEAR resize, and drawing labelled boxes and mask
 * overlays. (The SSD300 input preprocessing is lib/ssd/preprocess.ts.)
 * @module
 */
export {
  assertRgb,
  decodeImage,
  decodeMask,
  encodeGrayPng,
  encodePng,
  type GrayImage,
  ImageDecodeError,
  type ImageInfo,
  inspectImage,
  type RgbImage,
  sniffImageFormat,
} from "./codec.ts";
export { resizeBilinearPil } from "./resize.ts";
export {
  contrastingTextColor,
  type DrawBox,
  drawBoxes,
  drawText,
  drawTextInPlace,
  GLYPH_HEIGHT,
  GLYPH_WIDTH,
  hasGlyph,
  instanceColor,
  measureText,
  overlayMask,
  type Rgb,
} from "./draw.ts";
