import assert from "node:assert/strict";
import { unzipSync } from "fflate";
import { encode as encodePngRaw } from "fast-png";
import jpeg from "jpeg-js";
import {
  decodeImage,
  decodeMask,
  encodeGrayPng,
  encodePng,
  hwcToChw,
  ImageDecodeError,
  inspectImage,
  preprocessForSsd,
  resizeBilinearPil,
  type RgbImage,
  SSD_INPUT_SIZE,
} from "../../lib/image/codec.ts";
import { ignoreWithoutShared, sharedPath } from "../helpers.ts";

const ZIP = "data/PennFudanPed.zip";
const GOLDEN_INPUT = "golden/input_nchw.f32";
const CROP = "golden/crop_FudanPed00001.png";
/** Tolerance from issue 2 (a plain, non-antialiased bilinear resize gives ≈ 0.07). */
const MEAN_ABS_TOLERANCE = 0.01;
const PLANE = 3 * SSD_INPUT_SIZE * SSD_INPUT_SIZE;

function meanAbsDiff(a: Float32Array, b: Float32Array): { mean: number; max: number } {
  assert.equal(a.length, b.length);
  let sum = 0, max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / a.length, max };
}

async function goldenItem(index: number): Promise<Float32Array> {
  const bytes = await Deno.readFile(sharedPath(GOLDEN_INPUT));
  return new Float32Array(bytes.buffer, bytes.byteOffset + index * PLANE * 4, PLANE);
}

// Measured: mean |Δ| = 0 and max |Δ| = 0 (bit-exact) for both golden items.
Deno.test({
  name: "preprocessForSsd() matches the PyTorch golden for FudanPed00001.png (measured mean |Δ| = 0, ≤ 0.01)",
  ignore: ignoreWithoutShared(ZIP, GOLDEN_INPUT),
  async fn() {
    const files = unzipSync(await Deno.readFile(sharedPath(ZIP)), {
      filter: (f) => f.name === "PennFudanPed/PNGImages/FudanPed00001.png",
    });
    const img = decodeImage(files["PennFudanPed/PNGImages/FudanPed00001.png"], "FudanPed00001.png");
    assert.deepEqual([img.width, img.height], [559, 536]);
    const nchw = hwcToChw(preprocessForSsd(img), SSD_INPUT_SIZE, SSD_INPUT_SIZE, 3);
    const { mean, max } = meanAbsDiff(nchw, await goldenItem(0));
    assert.ok(mean <= MEAN_ABS_TOLERANCE, `mean |Δ| = ${mean}`);
    assert.ok(max <= 1e-6, `max |Δ| = ${max} (expected bit-exact up to float32 rounding)`);
  },
});

Deno.test({
  name:
    "preprocessForSsd() matches the PyTorch golden for crop_FudanPed00001.png (upscaling; measured mean |Δ| = 0)",
  ignore: ignoreWithoutShared(CROP, GOLDEN_INPUT),
  async fn() {
    const img = decodeImage(await Deno.readFile(sharedPath(CROP)), CROP);
    const nchw = hwcToChw(preprocessForSsd(img), SSD_INPUT_SIZE, SSD_INPUT_SIZE, 3);
    const { mean, max } = meanAbsDiff(nchw, await goldenItem(2));
    assert.ok(mean <= MEAN_ABS_TOLERANCE, `mean |Δ| = ${mean}`);
    assert.ok(max <= 1e-6, `max |Δ| = ${max}`);
  },
});

function rowImage(values: number[]): RgbImage {
  const data = new Uint8Array(values.length * 3);
  values.forEach((v, i) => data.fill(v, i * 3, i * 3 + 3));
  return { width: values.length, height: 1, data };
}
function redChannel(img: RgbImage): number[] {
  return Array.from({ length: img.width * img.height }, (_, i) => img.data[i * 3]);
}

// Expected values derived by hand from Pillow's precompute_coeffs (triangle filter, support scaled by max(1, in/out)).
const RESIZE_CASES: { name: string; input: number[]; outWidth: number; expected: number[] }[] = [
  // 2 → 4: weights per output [1], [.75,.25], [.25,.75], [1]
  {
    name: "upscales 2→4 with Pillow's pixel-centre weights",
    input: [0, 100],
    outWidth: 4,
    expected: [0, 25, 75, 100],
  },
  // 25.25 → 25, 75.75 → 76: rounding half up in fixed point
  { name: "rounds in fixed point", input: [0, 101], outWidth: 4, expected: [0, 25, 76, 101] },
  // 4 → 2: support 2 (antialiased): weights [3/7,3/7,1/7] and [1/7,3/7,3/7]; a plain bilinear would give [35, 175]
  {
    name: "downscales 4→2 with an antialiasing filter",
    input: [0, 70, 140, 210],
    outWidth: 2,
    expected: [50, 160],
  },
  {
    name: "keeps the image when the size does not change",
    input: [3, 200, 7],
    outWidth: 3,
    expected: [3, 200, 7],
  },
];
for (const c of RESIZE_CASES) {
  Deno.test(`resizeBilinearPil() ${c.name}`, () => {
    const out = resizeBilinearPil(rowImage(c.input), c.outWidth, 1);
    assert.deepEqual([out.width, out.height], [c.outWidth, 1]);
    assert.deepEqual(redChannel(out), c.expected);
  });
}

Deno.test("resizeBilinearPil() resizes rows and columns the same way (vertical pass)", () => {
  const col: RgbImage = { width: 1, height: 4, data: rowImage([0, 70, 140, 210]).data };
  assert.deepEqual(redChannel(resizeBilinearPil(col, 1, 2)), [50, 160]);
});

Deno.test("preprocessForSsd() does not mutate its input and gives 300×300×3 float32 in the normalized range", () => {
  const img = rowImage([0, 255, 128, 64]);
  const before = img.data.slice();
  const out = preprocessForSsd(img);
  assert.deepEqual(img.data, before);
  assert.equal(out.length, SSD_INPUT_SIZE * SSD_INPUT_SIZE * 3);
  // R of byte 0 = (0 − 0.485) / 0.229; B of byte 255 = (1 − 0.406) / 0.225
  const min = out.reduce((a, b) => Math.min(a, b));
  const max = out.reduce((a, b) => Math.max(a, b));
  assert.ok(Math.abs(min - -0.485 / 0.229) < 1e-5, `min ${min}`);
  assert.ok(max <= (1 - 0.406) / 0.225 + 1e-5, `max ${max}`);
});

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
