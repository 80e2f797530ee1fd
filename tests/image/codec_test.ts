import assert from "node:assert/strict";
import { encode as encodePngRaw } from "fast-png";
import jpeg from "jpeg-js";
import {
  decodeImage,
  decodeMask,
  encodeGrayPng,
  encodePng,
  ImageDecodeError,
  inspectImage,
  type RgbImage,
} from "../../lib/image/mod.ts";

Deno.test("encodePng() and decodeImage() round-trip an RGB image", () => {
  const img: RgbImage = {
    width: 5,
    height: 3,
    data: Uint8Array.from({ length: 45 }, (_, i) => (i * 37) % 256),
  };
  const back = decodeImage(encodePng(img));
  assert.deepEqual(back, img);
});

Deno.test("decodeImage() converts palette, gray, gray+alpha, RGBA, 16-bit and 1-bit PNGs to RGB like PIL", () => {
  const palette = encodePngRaw({
    width: 2,
    height: 1,
    depth: 8,
    channels: 1,
    data: Uint8Array.of(1, 0),
    palette: [[10, 20, 30], [40, 50, 60]],
  });
  assert.deepEqual(Array.from(decodeImage(palette).data), [40, 50, 60, 10, 20, 30]);
  const gray = encodePngRaw({ width: 2, height: 1, depth: 8, channels: 1, data: Uint8Array.of(7, 250) });
  assert.deepEqual(Array.from(decodeImage(gray).data), [7, 7, 7, 250, 250, 250]);
  const grayAlpha = encodePngRaw({ width: 1, height: 1, depth: 8, channels: 2, data: Uint8Array.of(9, 0) });
  assert.deepEqual(Array.from(decodeImage(grayAlpha).data), [9, 9, 9]);
  const rgba = encodePngRaw({ width: 1, height: 1, depth: 8, channels: 4, data: Uint8Array.of(1, 2, 3, 0) });
  assert.deepEqual(Array.from(decodeImage(rgba).data), [1, 2, 3]);
  const rgb16 = encodePngRaw({
    width: 1,
    height: 1,
    depth: 16,
    channels: 3,
    data: Uint16Array.of(0x1234, 0xff00, 5),
  });
  assert.deepEqual(Array.from(decodeImage(rgb16).data), [0x12, 0xff, 0]);
  // 1-bit gray, 3 pixels packed in one byte 0b101xxxxx → 255, 0, 255
  const bits = encodePngRaw({ width: 3, height: 1, depth: 1, channels: 1, data: Uint8Array.of(0b10100000) });
  assert.deepEqual(Array.from(decodeImage(bits).data), [255, 255, 255, 0, 0, 0, 255, 255, 255]);
});

Deno.test("decodeImage() decodes a JPEG with jpeg-js", () => {
  const w = 16, h = 8;
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([200, 100, 50, 255], i * 4);
  const jpg = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 95).data);
  const img = decodeImage(jpg, "x.jpg");
  assert.deepEqual([img.width, img.height, img.data.length], [w, h, w * h * 3]);
  for (let i = 0; i < w * h * 3; i += 3) {
    assert.ok(Math.abs(img.data[i] - 200) <= 3 && Math.abs(img.data[i + 1] - 100) <= 3, `pixel ${i / 3}`);
  }
});

Deno.test("decodeImage() throws ImageDecodeError naming the file for non-image and truncated bytes", () => {
  const text = new TextEncoder().encode("hello, not an image");
  assert.throws(
    () => decodeImage(text, "notes.png"),
    (e) => e instanceof ImageDecodeError && /notes\.png/.test(e.message),
  );
  const png = encodePng({ width: 20, height: 20, data: new Uint8Array(1200).fill(90) });
  assert.throws(() => decodeImage(png.slice(0, png.length - 30), "cut.png"), ImageDecodeError);
  const jpgHeader = Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3);
  assert.throws(() => decodeImage(jpgHeader, "bad.jpg"), ImageDecodeError);
});

Deno.test("decodeMask() returns palette indices or gray values as instance ids", () => {
  const ids = Uint8Array.of(0, 1, 2, 0, 2, 2);
  const gray = decodeMask(encodeGrayPng({ width: 3, height: 2, data: ids }));
  assert.deepEqual([gray.width, gray.height, Array.from(gray.data)], [3, 2, Array.from(ids)]);
  const palette = encodePngRaw({
    width: 3,
    height: 2,
    depth: 8,
    channels: 1,
    data: ids,
    palette: [[0, 0, 0], [255, 0, 0], [0, 255, 0]],
  });
  assert.deepEqual(Array.from(decodeMask(palette).data), Array.from(ids));
});

Deno.test("decodeMask() rejects colour masks and non-PNG bytes", () => {
  const rgb = encodePng({ width: 1, height: 1, data: Uint8Array.of(1, 2, 3) });
  assert.throws(() => decodeMask(rgb, "m.png"), /colour/);
  assert.throws(() => decodeMask(Uint8Array.of(1, 2, 3), "m.png"), ImageDecodeError);
});

Deno.test("inspectImage() reads a PNG's size without decoding and checks its chunks", () => {
  const png = encodePng({
    width: 7,
    height: 5,
    data: Uint8Array.from({ length: 105 }, (_, i) => (i * 11) % 256),
  });
  assert.deepEqual(inspectImage(png, "ok.png"), { format: "png", width: 7, height: 5 });
  const cases: { name: string; bytes: Uint8Array; pattern: RegExp }[] = [
    { name: "truncated", bytes: png.slice(0, png.length - 6), pattern: /truncated/ },
    { name: "no IEND", bytes: png.slice(0, png.length - 12), pattern: /no IEND/ },
    {
      name: "flipped pixel byte",
      bytes: png.map((b, i) => (i === png.length - 20 ? b ^ 1 : b)),
      pattern: /CRC/,
    },
    { name: "text", bytes: new TextEncoder().encode("plain text"), pattern: /not a PNG or JPEG/ },
  ];
  for (const c of cases) {
    assert.throws(
      () => inspectImage(c.bytes, `${c.name}.png`),
      (e) =>
        e instanceof ImageDecodeError && c.pattern.test(e.message) && e.message.includes(`${c.name}.png`),
      c.name,
    );
  }
});
