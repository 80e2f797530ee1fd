import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import { registerTrainingGradients } from "../../lib/engine/gradients.ts";
import { enableNativeConv } from "../../lib/engine/onednn.ts";
import { randomArray } from "../helpers.ts";

await initBackend("wasm", null);
registerTrainingGradients();

/** SSD300's max poolings (pool1–4: 2×2/2 valid, pool3: ceil mode as 'same' on an odd side, pool5: 3×3/1 pad 1). */
const POOLS: {
  name: string;
  x: [number, number, number, number];
  k: number;
  s: number;
  pad: "valid" | "same";
}[] = [
  { name: "2x2/2 valid", x: [2, 12, 10, 16], k: 2, s: 2, pad: "valid" },
  { name: "2x2/2 same, odd side (pool3)", x: [1, 15, 13, 8], k: 2, s: 2, pad: "same" },
  { name: "3x3/1 same (pool5)", x: [2, 7, 7, 24], k: 3, s: 1, pad: "same" },
];

/**
 * dL/dx of L = Σ maxPool(x)·r, x random and positive as SSD's pooled (post-ReLU) maps (no ties). Positive because
 * the WASM MaxPoolGrad routes no gradient out of a window whose values are all negative (tfjs-backend-wasm 4.22).
 */
function poolGrad(p: (typeof POOLS)[number], seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.add(
      tf.abs(tf.tensor4d(randomArray(p.x.reduce((a, b) => a * b), seed), p.x)),
      0.01,
    ) as tf.Tensor4D;
    const probe = tf.maxPool(x, p.k, p.s, p.pad);
    const r = tf.tensor(randomArray(probe.size, seed + 1), probe.shape);
    return tf.grad((xx) => tf.sum(tf.mul(tf.maxPool(xx as tf.Tensor4D, p.k, p.s, p.pad), r)))(x)
      .dataSync() as Float32Array;
  });
}

Deno.test("enableNativeConv(): oneDNN's MaxPoolGrad equals the WASM kernel's on SSD300's poolings", () => {
  const expected = POOLS.map((p, i) => poolGrad(p, 10 + i)); // WASM MaxPoolGrad
  const r = enableNativeConv(1);
  if (!r.ok) {
    if (Deno.env.get("CI") && Deno.env.get("SSD_REQUIRE_DNNL")) throw new Error(r.reason);
    console.warn(`skipping: oneDNN unavailable (${r.reason})`);
    return;
  }
  const before = tf.memory().numTensors;
  POOLS.forEach((p, i) => {
    const got = poolGrad(p, 10 + i);
    assert.equal(got.length, expected[i].length, p.name);
    // the same values routed to the same positions (sums of a few dy where windows overlap)
    got.forEach((v, j) =>
      assert.ok(Math.abs(v - expected[i][j]) <= 1e-6, `${p.name}: [${j}] ${v} vs ${expected[i][j]}`)
    );
    assert.ok(got.some((v) => v !== 0), `${p.name}: all-zero gradient`);
  });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});
