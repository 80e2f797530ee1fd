import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { transpose4d } from "../../lib/core/mod.ts";

Deno.test("transpose4d() equals tf.transpose for the weight layouts and others, and refuses a wrong size", async () => {
  await tf.setBackend("cpu");
  const shape: [number, number, number, number] = [2, 3, 4, 5];
  const src = Float32Array.from({ length: 120 }, (_, i) => i);
  // HWIO → OIHW, OIHW → HWIO, identity, a swap of pairs
  for (const perm of [[3, 2, 0, 1], [2, 3, 1, 0], [0, 1, 2, 3], [1, 0, 3, 2]]) {
    const want = tf.tidy(() => tf.transpose(tf.tensor4d(src, shape), perm).dataSync());
    assert.deepEqual(Array.from(transpose4d(src, shape, perm)), Array.from(want), `axes ${perm}`);
  }
  assert.throws(() => transpose4d(src.subarray(1), shape, [3, 2, 0, 1]), /119 values for \[2, 3, 4, 5\]/);
});
