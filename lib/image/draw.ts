/**
 * Drawing on RGB images: labelled boxes (with a small embedded 5×7 bitmap font) and instance-mask overlays.
 * Every exported function except {@link drawTextInPlace} returns a new image and leaves its input untouched.
 * @module
 */
import type { GrayImage, RgbImage } from "./codec.ts";
import FONT_HEX from "./font5x7.json" with { type: "json" };

/** An RGB colour, each channel 0..255. */
export type Rgb = [number, number, number];

/** A box to draw: pixel xyxy (x_min, y_min, x_max, y_max; inclusive pixel extremes), optional label, colour. */
export interface DrawBox {
  box: [number, number, number, number];
  label?: string;
  color: Rgb;
}

/** Glyph cell of the embedded font: 5 columns × 7 rows, plus 1 column of spacing. */
export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
const GLYPH_ADVANCE = GLYPH_WIDTH + 1;

/**
 * 5×7 glyphs (the classic HD44780 LCD character shapes) from font5x7.json: per glyph 7 rows of two hex digits,
 * bit 4 = leftmost column.
 * Covers A–Z a–z 0–9 . : % - _ space and a few extras; any other character draws as "?".
 */
const FONT: Record<string, number[]> = Object.fromEntries(
  Object.entries(FONT_HEX as Record<string, string>).map(([ch, hex]) => [
    ch,
    Array.from({ length: GLYPH_HEIGHT }, (_, row) => parseInt(hex.slice(2 * row, 2 * row + 2), 16)),
  ]),
);

/** Whether the embedded font has a glyph for `ch` (others draw as "?"). */
export function hasGlyph(ch: string): boolean {
  return ch in FONT;
}

/** Size in pixels of `text` drawn at `scale` (glyphs 5×7 scaled, 1 column of spacing between glyphs). */
export function measureText(text: string, scale = 1): { width: number; height: number } {
  const n = [...text].length;
  return { width: n === 0 ? 0 : (n * GLYPH_ADVANCE - 1) * scale, height: GLYPH_HEIGHT * scale };
}

function copyImage(img: RgbImage): RgbImage {
  if (img.data.length !== img.width * img.height * 3) {
    throw new RangeError(`RGB image ${img.width}×${img.height} has data length ${img.data.length}`);
  }
  return { width: img.width, height: img.height, data: img.data.slice() };
}

/** Fills the pixel rectangle [x0, x1] × [y0, y1] (inclusive, clipped to the image) in place. */
function fillRectInPlace(img: RgbImage, x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
  const xa = Math.max(0, x0), xb = Math.min(img.width - 1, x1);
  const ya = Math.max(0, y0), yb = Math.min(img.height - 1, y1);
  for (let y = ya; y <= yb; y++) {
    for (let x = xa; x <= xb; x++) {
      const p = (y * img.width + x) * 3;
      img.data[p] = color[0];
      img.data[p + 1] = color[1];
      img.data[p + 2] = color[2];
    }
  }
}

/**
 * Draws `text` with the embedded font, top-left corner at pixel (x, y), each font pixel a `scale`×`scale` square.
 * MUTATES `img` (for building up a picture); pixels outside the image are skipped.
 */
export function drawTextInPlace(
  img: RgbImage,
  x: number,
  y: number,
  text: string,
  color: Rgb,
  scale = 1,
): void {
  let cx = Math.round(x);
  const cy = Math.round(y);
  for (const ch of text) {
    const rows = FONT[ch] ?? FONT["?"];
    for (let r = 0; r < GLYPH_HEIGHT; r++) {
      for (let c = 0; c < GLYPH_WIDTH; c++) {
        if ((rows[r] >> (GLYPH_WIDTH - 1 - c)) & 1) {
          const px = cx + c * scale, py = cy + r * scale;
          fillRectInPlace(img, px, py, px + scale - 1, py + scale - 1, color);
        }
      }
    }
    cx += GLYPH_ADVANCE * scale;
  }
}

/** Returns a copy of `img` with `text` drawn at (x, y) (see {@link drawTextInPlace}). */
export function drawText(img: RgbImage, x: number, y: number, text: string, color: Rgb, scale = 1): RgbImage {
  const out = copyImage(img);
  drawTextInPlace(out, x, y, text, color, scale);
  return out;
}

/** Black or white, whichever reads better on `background` (ITU-R BT.601 luma threshold 128). */
export function contrastingTextColor(background: Rgb): Rgb {
  const luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2];
  return luma >= 128 ? [0, 0, 0] : [255, 255, 255];
}

/**
 * Draws boxes on a copy of `img`: an outline `lineWidth` pixels wide lying inside the box's pixel extremes (as
 * PIL's `ImageDraw.rectangle(width=…)`, which torchvision's `draw_bounding_boxes` uses), and, when a label is given,
 * a filled tab in the box colour holding the text (black or white for contrast), above the box's top-left corner,
 * or just inside it when there is no room above. Coordinates are rounded to whole pixels and clipped to the image.
 * @param boxes pixel xyxy (x_min, y_min, x_max, y_max), inclusive extremes, in `img`'s pixels.
 * @param opts.lineWidth outline width in pixels (default 2); opts.fontScale font pixel size (default 1).
 */
export function drawBoxes(
  img: RgbImage,
  boxes: readonly DrawBox[],
  opts: { lineWidth?: number; fontScale?: number } = {},
): RgbImage {
  const lineWidth = opts.lineWidth ?? 2;
  const scale = opts.fontScale ?? 1;
  if (!(lineWidth >= 1 && Number.isInteger(lineWidth))) {
    throw new RangeError(`lineWidth must be ≥ 1, got ${lineWidth}`);
  }
  const out = copyImage(img);
  for (const { box, color } of boxes) {
    const [x0, y0, x1, y1] = box.map(Math.round);
    if (!(x1 >= x0 && y1 >= y0)) continue; // empty or inverted box: nothing to draw
    const w = Math.min(lineWidth, Math.ceil((x1 - x0 + 1) / 2), Math.ceil((y1 - y0 + 1) / 2));
    fillRectInPlace(out, x0, y0, x1, y0 + w - 1, color); // top
    fillRectInPlace(out, x0, y1 - w + 1, x1, y1, color); // bottom
    fillRectInPlace(out, x0, y0, x0 + w - 1, y1, color); // left
    fillRectInPlace(out, x1 - w + 1, y0, x1, y1, color); // right
  }
  // Labels after all outlines, so that a later box's outline does not cut an earlier label.
  const pad = 1;
  for (const { box, label, color } of boxes) {
    if (!label) continue;
    const [x0, y0] = box.map(Math.round);
    const size = measureText(label, scale);
    const tabW = size.width + 2 * pad, tabH = size.height + 2 * pad;
    const tabY = y0 - tabH >= 0 ? y0 - tabH : Math.max(0, y0);
    const tabX = Math.max(0, Math.min(x0, out.width - tabW));
    fillRectInPlace(out, tabX, tabY, tabX + tabW - 1, tabY + tabH - 1, color);
    drawTextInPlace(out, tabX + pad, tabY + pad, label, contrastingTextColor(color), scale);
  }
  return out;
}

/** 20 well-separated colours (Tableau 20 order: strong, then light); instance id k > 0 uses entry (k − 1) mod 20. */
const INSTANCE_PALETTE: Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
  [174, 199, 232],
  [255, 187, 120],
  [152, 223, 138],
  [255, 152, 150],
  [197, 176, 213],
  [196, 156, 148],
  [247, 182, 210],
  [199, 199, 199],
  [219, 219, 141],
  [158, 218, 229],
];

/** The overlay colour of instance id `id` (> 0); ids 1..20 get distinct colours. */
export function instanceColor(id: number): Rgb {
  if (!(Number.isInteger(id) && id > 0)) {
    throw new RangeError(`instance id must be a positive integer, got ${id}`);
  }
  return INSTANCE_PALETTE[(id - 1) % INSTANCE_PALETTE.length];
}

/**
 * Tints each instance of `mask` with its own colour on a copy of `img`: out = (1 − alpha)·pixel + alpha·colour for
 * pixels with id > 0, unchanged where the id is 0 (rounded to the nearest integer).
 * @param mask one channel of instance ids, same width/height as `img`.
 * @param alpha opacity of the tint in [0, 1] (default 0.5).
 */
export function overlayMask(img: RgbImage, mask: GrayImage, alpha = 0.5): RgbImage {
  if (mask.width !== img.width || mask.height !== img.height) {
    throw new RangeError(`mask ${mask.width}×${mask.height} does not match image ${img.width}×${img.height}`);
  }
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`alpha must be in [0, 1], got ${alpha}`);
  const out = copyImage(img);
  for (let i = 0; i < mask.data.length; i++) {
    const id = mask.data[i];
    if (id === 0) continue;
    const color = instanceColor(id);
    for (let c = 0; c < 3; c++) {
      out.data[i * 3 + c] = Math.round((1 - alpha) * out.data[i * 3 + c] + alpha * color[c]);
    }
  }
  return out;
}
