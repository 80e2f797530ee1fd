import assert from "node:assert/strict";
import {
  contrastingTextColor,
  drawBoxes,
  drawText,
  GLYPH_HEIGHT,
  GLYPH_WIDTH,
  hasGlyph,
  instanceColor,
  measureText,
  overlayMask,
  type Rgb,
} from "../../lib/image/draw.ts";
import type { RgbImage } from "../../lib/image/codec.ts";

function blank(width: number, height: number, value = 0): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3).fill(value) };
}
function pixel(img: RgbImage, x: number, y: number): Rgb {
  const p = (y * img.width + x) * 3;
  return [img.data[p], img.data[p + 1], img.data[p + 2]];
}
const RED: Rgb = [255, 0, 0];
const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];

Deno.test("drawBoxes() draws a 2-px outline inside the box's inclusive pixel extremes", () => {
  const out = drawBoxes(blank(12, 12), [{ box: [2, 3, 8, 9], color: RED }]);
  const expected = (x: number, y: number) => {
    const inside = x >= 2 && x <= 8 && y >= 3 && y <= 9;
    const border = x <= 3 || x >= 7 || y <= 4 || y >= 8;
    return inside && border ? RED : BLACK;
  };
  for (let y = 0; y < 12; y++) {
    for (let x = 0; x < 12; x++) assert.deepEqual(pixel(out, x, y), expected(x, y), `pixel (${x}, ${y})`);
  }
});

Deno.test("drawBoxes() honours lineWidth and clips boxes that leave the image", () => {
  const out = drawBoxes(blank(6, 6), [{ box: [-3, -3, 2.4, 10], color: RED }], { lineWidth: 1 });
  // right edge at round(2.4) = 2, top/left/bottom edges outside the image
  for (let y = 0; y < 6; y++) {
    for (let x = 0; x < 6; x++) {
      assert.deepEqual(pixel(out, x, y), x === 2 ? RED : BLACK, `pixel (${x}, ${y})`);
    }
  }
});

Deno.test("drawBoxes() draws the label text in a filled tab above the box", () => {
  const out = drawBoxes(blank(40, 30), [{ box: [5, 15, 30, 28], label: "A", color: WHITE }]);
  // tab: (5 + 2·1 pad) wide, (7 + 2·1) high, directly above y = 15 → rows 6..14, columns 5..11
  const glyphA = [0x0e, 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11];
  for (let y = 6; y <= 14; y++) {
    for (let x = 5; x <= 11; x++) {
      const r = y - 7, c = x - 6;
      const ink = r >= 0 && r < GLYPH_HEIGHT && c >= 0 && c < GLYPH_WIDTH &&
        ((glyphA[r] >> (4 - c)) & 1) === 1;
      assert.deepEqual(pixel(out, x, y), ink ? BLACK : WHITE, `pixel (${x}, ${y})`);
    }
  }
  assert.deepEqual(pixel(out, 5, 5), BLACK, "nothing above the tab");
  assert.deepEqual(pixel(out, 12, 10), BLACK, "nothing right of the tab");
});

Deno.test("drawBoxes() puts the label inside the box when there is no room above", () => {
  const out = drawBoxes(blank(30, 30), [{ box: [0, 2, 20, 20], label: "x", color: RED }]);
  assert.deepEqual(pixel(out, 3, 9), RED, "tab reaches down to row 2 + 9 − 1 = 10");
  assert.deepEqual(pixel(out, 3, 11), BLACK);
});

Deno.test("drawBoxes() does not mutate its input", () => {
  const img = blank(20, 20, 7);
  const before = img.data.slice();
  drawBoxes(img, [{ box: [1, 1, 10, 10], label: "person 0.93", color: RED }]);
  assert.deepEqual(img.data, before);
});

Deno.test("the embedded font covers A–Z a–z 0–9 . : % - _ space with distinct glyphs", () => {
  const required = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:%-_ ";
  const seen = new Map<string, string>();
  for (const ch of required) {
    assert.ok(hasGlyph(ch), `missing glyph ${JSON.stringify(ch)}`);
    const drawn = drawText(blank(GLYPH_WIDTH, GLYPH_HEIGHT), 0, 0, ch, WHITE).data.join(",");
    assert.ok(
      !seen.has(drawn),
      `glyphs ${JSON.stringify(ch)} and ${JSON.stringify(seen.get(drawn))} are identical`,
    );
    seen.set(drawn, ch);
    if (ch !== " ") assert.ok(drawn.includes("255"), `glyph ${JSON.stringify(ch)} is empty`);
  }
});

Deno.test("drawText() draws unknown characters as '?' and scales glyphs", () => {
  const unknown = drawText(blank(5, 7), 0, 0, "é", WHITE);
  const question = drawText(blank(5, 7), 0, 0, "?", WHITE);
  assert.deepEqual(unknown.data, question.data);
  const big = drawText(blank(10, 14), 0, 0, "-", WHITE, 2);
  // "-" is row 3 full: rows 6..7 at scale 2
  for (let y = 0; y < 14; y++) {
    assert.deepEqual(pixel(big, 4, y), y === 6 || y === 7 ? WHITE : BLACK, `row ${y}`);
  }
  assert.deepEqual(measureText("ab", 2), { width: 22, height: 14 });
});

Deno.test("contrastingTextColor() picks black on light and white on dark backgrounds", () => {
  assert.deepEqual(contrastingTextColor([255, 255, 0]), BLACK);
  assert.deepEqual(contrastingTextColor([0, 0, 128]), WHITE);
});

Deno.test("overlayMask() tints each instance with a distinct colour and leaves the background", () => {
  const img = blank(3, 1, 100);
  const mask = { width: 3, height: 1, data: Uint8Array.of(0, 1, 2) };
  const out = overlayMask(img, mask, 0.5);
  assert.deepEqual(pixel(out, 0, 0), [100, 100, 100]);
  for (const [x, id] of [[1, 1], [2, 2]]) {
    const c = instanceColor(id);
    assert.deepEqual(pixel(out, x, 0), c.map((v) => Math.round(50 + 0.5 * v)), `instance ${id}`);
  }
  const colors = new Set(Array.from({ length: 20 }, (_, i) => instanceColor(i + 1).join(",")));
  assert.equal(colors.size, 20);
  assert.deepEqual(img.data, new Uint8Array(9).fill(100), "input not mutated");
});

Deno.test("overlayMask() rejects a mask of another size", () => {
  assert.throws(
    () => overlayMask(blank(3, 3), { width: 2, height: 3, data: new Uint8Array(6) }),
    /does not match/,
  );
});
