/**
 * Images: PNG/JPEG decoding and PNG encoding, Pillow's BILINEAR resize and the SSD300 input preprocessing,
 * and drawing labelled boxes and mask overlays.
 * @module
 */
export {
  decodeImage,
  decodeMask,
  encodeGrayPng,
  encodePng,
  type GrayImage,
  hwcToChw,
  ImageDecodeError,
  type ImageInfo,
  IMAGENET_MEAN,
  IMAGENET_STD,
  inspectImage,
  normalizeImageNet,
  preprocessForSsd,
  resizeBilinearPil,
  type RgbImage,
  sniffImageFormat,
  SSD_INPUT_SIZE,
} from "./codec.ts";
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
