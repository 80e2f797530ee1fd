import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import { registerTrainingGradients } from "../../lib/engine/kernel_gradients.ts";
import { enableOneDnn, oneDnnConvWithGrad } from "../../lib/engine/onednn.ts";
import { convWithGrad } from "../../lib/engine/conv_grad.ts";
import type { ConvFn } from "../../lib/ssd/model.ts";
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

/**
 * Gradients of L = Σ conv2(conv1(x))·r (3×3 ReLU, then 3×3 stride 2 linear) with respect to the inputs picked by
 * `which` (indices into [x, w1, b1, w2, b2]).
 */
function chainGrads(convFn: ConvFn, which: number[]): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(randomArray(2 * 9 * 9 * 5, 1), [2, 9, 9, 5]);
    const w1 = tf.tensor4d(randomArray(3 * 3 * 5 * 6, 2), [3, 3, 5, 6]);
    const b1 = tf.tensor1d(randomArray(6, 3));
    const w2 = tf.tensor4d(randomArray(3 * 3 * 6 * 7, 4), [3, 3, 6, 7]);
    const b2 = tf.tensor1d(randomArray(7, 5));
    const r = tf.tensor4d(randomArray(2 * 5 * 5 * 7, 6), [2, 5, 5, 7]);
    const all = [x, w1, b1, w2, b2];
    const f = (...picked: tf.Tensor[]) => {
      const t = all.map((v, i) => which.includes(i) ? picked[which.indexOf(i)] : v);
      const h = convFn(t[0] as tf.Tensor4D, t[1] as tf.Tensor4D, t[2] as tf.Tensor1D, {
        stride: 1,
        pad: 1,
        dilation: 1,
        relu: true,
      });
      const y = convFn(h, t[3] as tf.Tensor4D, t[4] as tf.Tensor1D, {
        stride: 2,
        pad: 1,
        dilation: 1,
        relu: false,
      });
      return tf.sum(tf.mul(y, r));
    };
    return tf.grads(f)(which.map((i) => all[i])).map((g) => g.dataSync() as Float32Array);
  });
}

const SUBSETS = [[0, 1, 2, 3, 4], [0], [1, 2, 3, 4], [3, 4]];

// the WASM references, computed before any test enables oneDNN in this module
const expectedChain = SUBSETS.map((which) => chainGrads(convWithGrad, which));

Deno.test("oneDnnConvWithGrad(): a two-layer chain's gradients, for any subset of inputs, equal convWithGrad's", () => {
  const expected = expectedChain;
  if (!enableOneDnn(1).ok) return console.warn("skipping: oneDNN unavailable");
  const before = tf.memory().numTensors;
  SUBSETS.forEach((which, k) => {
    const got = chainGrads(oneDnnConvWithGrad, which);
    got.forEach((g, i) => {
      let d = 0, m = 0;
      g.forEach((v, j) => {
        d = Math.max(d, Math.abs(v - expected[k][i][j]));
        m = Math.max(m, Math.abs(expected[k][i][j]));
      });
      assert.ok(d <= 1e-5 * m, `inputs ${which}: gradient ${which[i]} max diff ${d} (max ${m})`);
    });
  });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

const expectedPool = POOLS.map((p, i) => poolGrad(p, 10 + i)); // WASM MaxPoolGrad

Deno.test("enableOneDnn(): its MaxPoolGrad (from the saved output) equals the WASM kernel's on SSD300's poolings", () => {
  const expected = expectedPool;
  const r = enableOneDnn(1);
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
