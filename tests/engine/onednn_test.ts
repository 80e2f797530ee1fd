import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import { mulberry32 } from "../../lib/core/mod.ts";
import { convWithGrad } from "../../lib/engine/conv_grad.ts";
import type { ConvFn } from "../../lib/ssd/model.ts";
import { maxAbsDiffAndScale } from "../helpers.ts";
import {
  enableOneDnn,
  oneDnnCalls,
  oneDnnConvWithGrad,
  oneDnnLibrary,
  oneDnnWeightCopies,
} from "../../lib/engine/onednn.ts";

await initBackend("wasm", null);

interface Case {
  name: string;
  x: [number, number, number, number];
  k: number;
  cout: number;
  stride: number;
  pad: number;
  dilation: number;
  relu: boolean;
  fused: boolean;
}

// the SSD300 kinds of convolution: 3×3 pad 1, atrous conv6 (pad 6, dilation 6), 1×1, stride-2 3×3, 3×3 valid
const CASES: Case[] = [
  {
    name: "3x3 pad 1 relu",
    x: [2, 13, 11, 8],
    k: 3,
    cout: 16,
    stride: 1,
    pad: 1,
    dilation: 1,
    relu: true,
    fused: true,
  },
  {
    name: "atrous conv6",
    x: [1, 19, 19, 8],
    k: 3,
    cout: 12,
    stride: 1,
    pad: 6,
    dilation: 6,
    relu: true,
    fused: true,
  },
  {
    name: "1x1 linear",
    x: [2, 7, 7, 16],
    k: 1,
    cout: 5,
    stride: 1,
    pad: 0,
    dilation: 1,
    relu: false,
    fused: true,
  },
  {
    name: "3x3 stride 2",
    x: [1, 19, 19, 8],
    k: 3,
    cout: 6,
    stride: 2,
    pad: 1,
    dilation: 1,
    relu: true,
    fused: true,
  },
  {
    name: "3x3 valid",
    x: [3, 5, 5, 4],
    k: 3,
    cout: 7,
    stride: 1,
    pad: 0,
    dilation: 1,
    relu: false,
    fused: true,
  },
  // maps large enough for the weight gradient by GEMM (padded / output positions ≤ 1.25; the GEMM runs without
  // AVX-512, e.g. under ONEDNN_MAX_CPU_ISA=AVX2), dilated too
  {
    name: "3x3 pad 1 relu, GEMM weight gradient",
    x: [2, 20, 18, 8],
    k: 3,
    cout: 12,
    stride: 1,
    pad: 1,
    dilation: 1,
    relu: true,
    fused: true,
  },
  {
    // 4222 rows of x and dY at 2048 per chunk of GEMM_CHUNK_BYTES (lib/engine/onednn_primitives.ts): three chunks
    name: "3x3 pad 1 relu, GEMM weight gradient over several row chunks",
    x: [1, 64, 64, 64],
    k: 3,
    cout: 64,
    stride: 1,
    pad: 1,
    dilation: 1,
    relu: true,
    fused: true,
  },
  {
    name: "3x3 pad 2 dilation 2, GEMM weight gradient",
    x: [1, 40, 38, 8],
    k: 3,
    cout: 8,
    stride: 1,
    pad: 2,
    dilation: 2,
    relu: false,
    fused: true,
  },
  {
    name: "Conv2D dilated",
    x: [1, 17, 17, 6],
    k: 3,
    cout: 4,
    stride: 1,
    pad: 0,
    dilation: 2,
    relu: false,
    fused: false,
  },
];

/** Seeded random input x, filter f and bias b of a case (call inside tf.tidy), and the generator, for more. */
function inputs(c: Case, seed: number) {
  const rand = mulberry32(seed);
  const r = (n: number) => Float32Array.from({ length: n }, () => 2 * rand() - 1);
  const [n, h, w, cin] = c.x;
  const x = tf.tensor4d(r(n * h * w * cin), c.x);
  const f = tf.tensor4d(r(c.k * c.k * cin * c.cout), [c.k, c.k, cin, c.cout]);
  const b = tf.tensor1d(r(c.cout));
  return { x, f, b, r };
}

function run(c: Case, seed: number): Float32Array {
  return tf.tidy(() => {
    const { x, f, b } = inputs(c, seed);
    const pad = [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]] as tf.backend_util.ExplicitPadding;
    const y = c.fused
      ? tf.fused.conv2d({
        x,
        filter: f,
        bias: b,
        strides: c.stride,
        pad,
        dilations: c.dilation,
        activation: c.relu ? "relu" : "linear",
      })
      : tf.conv2d(x, f, c.stride, pad, "NHWC", c.dilation);
    return y.dataSync() as Float32Array;
  });
}

/** dL/dx, dL/dw, dL/db of L = Σ y·r through a ConvFn (fused cases only). */
function grads(c: Case, seed: number, convFn: ConvFn): Float32Array[] {
  return tf.tidy(() => {
    const { x, f, b, r } = inputs(c, seed);
    const o = { stride: c.stride, pad: c.pad, dilation: c.dilation, relu: c.relu };
    const probe = convFn(x, f, b, o);
    const weights = tf.tensor(r(probe.size), probe.shape);
    const g = tf.grads((xx, ff, bb) =>
      tf.sum(tf.mul(convFn(xx as tf.Tensor4D, ff as tf.Tensor4D, bb as tf.Tensor1D, o), weights))
    )([x, f, b]);
    return g.map((t) => t.dataSync() as Float32Array);
  });
}

function maxRel(got: Float32Array, want: Float32Array): number {
  const { num, den } = maxAbsDiffAndScale(got, want);
  return num / Math.max(den, 1e-30);
}

Deno.test("enableOneDnn(): oneDNN FusedConv2D/Conv2D equal the WASM kernels on SSD300's conv kinds", () => {
  const expected = CASES.map((c, i) => run(c, i + 1)); // WASM (XNNPACK) kernels
  const fusedCases = CASES.filter((c) => c.fused);
  const expectedGrads = fusedCases.map((c, i) => grads(c, 100 + i, convWithGrad)); // WASM kernels + matMul dW
  const r = enableOneDnn(1);
  if (!r.ok) {
    if (Deno.env.get("CI") && Deno.env.get("SSD_REQUIRE_DNNL")) throw new Error(r.reason);
    console.warn(`skipping: oneDNN unavailable (${r.reason})`);
    return;
  }
  assert.equal(oneDnnLibrary(), r.lib);
  const before = tf.memory().numTensors;
  const calls0 = oneDnnCalls();
  CASES.forEach((c, i) => {
    const got = run(c, i + 1);
    assert.equal(got.length, expected[i].length, c.name);
    let maxDiff = 0, maxAbs = 0;
    for (let j = 0; j < got.length; j++) {
      maxDiff = Math.max(maxDiff, Math.abs(got[j] - expected[i][j]));
      maxAbs = Math.max(maxAbs, Math.abs(expected[i][j]));
    }
    // float32 sums over ≤ 3·3·16 terms in a different order
    assert.ok(maxDiff <= 1e-5 * Math.max(1, maxAbs), `${c.name}: max diff ${maxDiff} (max |y| ${maxAbs})`);
  });
  assert.equal(oneDnnCalls() - calls0, CASES.length, "every case ran through oneDNN");
  const calls1 = oneDnnCalls();
  fusedCases.forEach((c, i) => {
    const got = grads(c, 100 + i, oneDnnConvWithGrad);
    ["dx", "dw", "db"].forEach((name, k) => {
      const d = maxRel(got[k], expectedGrads[i][k]);
      assert.ok(d < 1e-5, `${c.name} ${name}: max rel diff ${d}`);
    });
  });
  // per case: probe forward + forward + dX conv + dW backward-weights
  assert.equal(oneDnnCalls() - calls1, 4 * fusedCases.length, "gradients ran through oneDNN");
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

Deno.test("oneDNN reorders each weights version once: equal-geometry layers, batch sizes and updates keep their own results", () => {
  const r = enableOneDnn(1);
  if (!r.ok) {
    if (Deno.env.get("CI") && Deno.env.get("SSD_REQUIRE_DNNL")) throw new Error(r.reason);
    console.warn(`skipping: oneDNN unavailable (${r.reason})`);
    return;
  }
  const rand = mulberry32(7);
  const data = (n: number) => Float32Array.from({ length: n }, () => 2 * rand() - 1);
  const conv = (x: tf.Tensor4D, f: tf.Tensor4D) =>
    tf.tidy(() =>
      tf.fused.conv2d({ x, filter: f, strides: 1, pad: "same", activation: "relu" })
        .dataSync() as Float32Array
    );
  const before = tf.memory().numTensors;
  // 16 → 32 channels: oneDNN wants its own (blocked) weights layout, so every forward reads a reordered copy
  const x2 = tf.tensor4d(data(2 * 9 * 7 * 16), [2, 9, 7, 16]);
  const x1 = tf.slice(x2, [0, 0, 0, 0], [1, 9, 7, 16]) as tf.Tensor4D;
  const f1 = tf.tensor4d(data(9 * 16 * 32), [3, 3, 16, 32]);
  const f2 = tf.tensor4d(data(9 * 16 * 32), [3, 3, 16, 32]);
  const y1 = conv(x1, f1), y2 = conv(x1, f2);
  assert.notDeepEqual(y1, y2);
  // the two weights of one geometry alternate (they used to evict each other's copy), a batch of 2 shares them
  assert.deepEqual(conv(x1, f1), y1);
  assert.deepEqual(conv(x1, f2), y2);
  assert.deepEqual(conv(x2, f1).subarray(0, y1.length), y1);
  const copies = oneDnnWeightCopies();
  // new versions of the weights (as after each optimiser step): a copy of a disposed version is reused
  for (let i = 0; i < 5; i++) {
    const f = tf.tensor4d(data(9 * 16 * 32), [3, 3, 16, 32]);
    const y = conv(x1, f);
    f.dispose();
    const again = tf.tensor4d(f1.dataSync(), [3, 3, 16, 32]); // f1's values as a new version
    assert.deepEqual(conv(x1, again), y1, `version ${i}`);
    again.dispose();
    assert.equal(y.length, y1.length);
  }
  assert.ok(oneDnnWeightCopies() <= copies + 2, `${oneDnnWeightCopies()} copies, ${copies} before`);
  tf.dispose([x1, x2, f1, f2]);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});
