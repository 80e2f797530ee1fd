import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/mod.ts";
import type { RgbImage } from "../../lib/image/mod.ts";
import {
  createSsd300,
  detectInImage,
  disposeModel,
  forwardAndDetect,
  preprocessForSsd,
  SSD_INPUT_SIDE,
} from "../../lib/ssd/mod.ts";

await initBackend("wasm", null);

/** A small deterministic RGB image (a gradient with a bright rectangle). */
function image(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = x > width / 3 && x < width / 2 && y > height / 4;
      for (let c = 0; c < 3; c++) {
        data[(y * width + x) * 3 + c] = inside ? 240 : (x * 7 + y * 3 + c * seed) & 0xff;
      }
    }
  }
  return { width, height, data };
}

Deno.test("forwardAndDetect() decodes a batch image by image as detectInImage() does, without leaking tensors", async () => {
  const model = createSsd300(2, 3);
  try {
    const opts = { minScore: 0.3, maxOverlap: 0.45, topK: 20 };
    const images = [image(64, 48, 1), image(40, 80, 2)];
    const before = tf.memory().numTensors;
    const single = await Promise.all(images.map((im) => detectInImage(model, im, opts)));
    const input = new Float32Array(2 * SSD_INPUT_SIDE * SSD_INPUT_SIDE * 3);
    images.forEach((im, i) => input.set(preprocessForSsd(im), i * SSD_INPUT_SIDE * SSD_INPUT_SIDE * 3));
    const batch = await forwardAndDetect(model, input, opts);
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    assert.equal(batch.length, 2);
    batch.forEach((dets, i) => {
      assert.ok(dets.length > 0);
      assert.deepEqual(dets.map((d) => d.classId), single[i].map((d) => d.classId), `image ${i}: classes`);
      dets.forEach((d, k) => {
        for (let c = 0; c < 4; c++) {
          assert.ok(Math.abs(d.box[c] - single[i][k].box[c]) < 1e-5, `image ${i} box ${k}`);
        }
        assert.ok(Math.abs(d.score - single[i][k].score) < 1e-5, `image ${i} score ${k}`);
      });
    });
    await assert.rejects(() => forwardAndDetect(model, new Float32Array(10), opts), /not n ≥ 1 images/);
  } finally {
    disposeModel(model);
  }
});
