import assert from "node:assert/strict";
import { unzipSync } from "fflate";
import { decodeImage, type RgbImage } from "../../lib/image/mod.ts";
import { preprocessForSsd, SSD_INPUT_SIDE } from "../../lib/ssd/mod.ts";
import { hwcToChw } from "../../lib/ssd/preprocess.ts";
import { ignoreWithoutShared, sharedPath } from "../helpers.ts";

const ZIP = "data/PennFudanPed.zip";
const GOLDEN_INPUT = "golden/input_nchw.f32";
const CROP = "golden/crop_FudanPed00001.png";
/** Tolerance from issue 2 (a plain, non-antialiased bilinear resize gives ≈ 0.07). */
const MEAN_ABS_TOLERANCE = 0.01;
const PLANE = 3 * SSD_INPUT_SIDE * SSD_INPUT_SIDE;

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
    const nchw = hwcToChw(preprocessForSsd(img), SSD_INPUT_SIDE, SSD_INPUT_SIDE, 3);
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
    const nchw = hwcToChw(preprocessForSsd(img), SSD_INPUT_SIDE, SSD_INPUT_SIDE, 3);
    const { mean, max } = meanAbsDiff(nchw, await goldenItem(2));
    assert.ok(mean <= MEAN_ABS_TOLERANCE, `mean |Δ| = ${mean}`);
    assert.ok(max <= 1e-6, `max |Δ| = ${max}`);
  },
});

Deno.test("preprocessForSsd() does not mutate its input and gives 300×300×3 float32 in the normalized range", () => {
  const img: RgbImage = {
    width: 4,
    height: 1,
    data: Uint8Array.from([0, 255, 128, 64].flatMap((v) => [v, v, v])),
  };
  const before = img.data.slice();
  const out = preprocessForSsd(img);
  assert.deepEqual(img.data, before);
  assert.equal(out.length, SSD_INPUT_SIDE * SSD_INPUT_SIDE * 3);
  // R of byte 0 = (0 − 0.485) / 0.229; B of byte 255 = (1 − 0.406) / 0.225
  const min = out.reduce((a, b) => Math.min(a, b));
  const max = out.reduce((a, b) => Math.max(a, b));
  assert.ok(Math.abs(min - -0.485 / 0.229) < 1e-5, `min ${min}`);
  assert.ok(max <= (1 - 0.406) / 0.225 + 1e-5, `max ${max}`);
});
