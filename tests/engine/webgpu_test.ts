/**
 * The WebGPU engine (lib/engine/webgpu.ts) against TF.js's CPU backend, op by op on small shapes: the
 * differentiable convolution of training (lib/engine/conv_grad.ts: padding, dilation, stride, both filter-gradient
 * formulations) and the inference one, the max-pools with ceil mode, the conv4_3 L2 norm and its rescale, and the
 * MultiBox loss with its hard negatives mined on the device (ties included) — values and gradients, each with no
 * tensor left behind. Runs on whatever adapter there is (llvmpipe in CI); skipped without one, failing under CI.
 *
 * Tolerances, as max |Δ| over the largest |reference| of each output ({@link OP_RTOL}, {@link LOSS_RTOL}); measured
 * on llvmpipe: convolutions 2.4e-6 (the 100 × 100 filter gradient, a sum over 10⁴ positions), pools and the L2
 * norm 1.7e-7, the loss and its gradients 9.5e-8 (the same priors picked, so only summation orders differ).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { convWithGrad } from "../../lib/engine/conv_grad.ts"; // also registers the training gradients
import {
  describeAdapter,
  isSoftwareAdapter,
  startWebGpu,
  webGpuAdapter,
  WebGpuError,
  webGpuImagesPerPass,
  WebGpuSyncReadError,
} from "../../lib/engine/webgpu.ts";
import { type ConvOptions, fusedConv } from "../../lib/ssd/model.ts";
import { buildTargets, type GroundTruth, multiboxLossPart } from "../../lib/ssd/loss.ts";
import { createPriorsCxcy } from "../../lib/ssd/priors.ts";
import { randomArray, requireWebGpu, webGpuForTests } from "../helpers.ts";

const GPU = await webGpuForTests();

/** Forward and gradients of one op: max |Δ| ≤ OP_RTOL × max |reference|. */
const OP_RTOL = 1e-5;
/** MultiBox loss and its gradients w.r.t. locs and scores. */
const LOSS_RTOL = 1e-5;

/** Runs `fn` on a backend and reads its outputs back; asserts that it leaves no tensor behind. */
async function on(backend: "cpu" | "webgpu", fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  if (backend === "webgpu") assert.ok(await startWebGpu(), "the WebGPU backend starts");
  else await tf.setBackend("cpu");
  assert.equal(tf.getBackend(), backend);
  const before = tf.memory().numTensors;
  const outs = fn();
  const data = await Promise.all(outs.map((t) => t.data()));
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, before, `${backend}: no tensor left behind`);
  return data as Float32Array[];
}

/** max |a − ref| / max |ref|. */
function relMax(a: Float32Array, ref: Float32Array): number {
  assert.equal(a.length, ref.length);
  let d = 0, m = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(a[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  assert.ok(m > 0, "a non-zero reference");
  return d / m;
}

/** Both backends on `fn`; every output within `rtol`. Returns the worst relative error. */
async function sameOnBoth(
  what: string,
  names: string[],
  fn: () => tf.Tensor[],
  rtol: number,
): Promise<number> {
  const ref = await on("cpu", fn);
  const gpu = await on("webgpu", fn);
  let worst = 0;
  names.forEach((name, i) => {
    const e = relMax(gpu[i], ref[i]);
    worst = Math.max(worst, e);
    assert.ok(e <= rtol, `${what} ${name}: max |Δ| / max |ref| = ${e.toExponential(2)} > ${rtol}`);
  });
  return worst;
}

Deno.test("isSoftwareAdapter() and describeAdapter() name software rasterisers and hardware GPUs", () => {
  const llvmpipe = {
    vendor: "65541",
    architecture: "",
    device: "0",
    description: "llvmpipe (LLVM 15.0.6, 256 bits)",
  };
  assert.ok(isSoftwareAdapter(llvmpipe));
  assert.ok(isSoftwareAdapter({ ...llvmpipe, description: "SwiftShader Device (Subzero)" }));
  assert.ok(isSoftwareAdapter({ ...llvmpipe, description: "Microsoft Basic Render Driver" }));
  const nvidia = { vendor: "4318", architecture: "", device: "9984", description: "NVIDIA GeForce RTX 4090" };
  assert.ok(!isSoftwareAdapter(nvidia));
  assert.ok(isSoftwareAdapter(nvidia, true), "isFallbackAdapter wins");
  assert.equal(
    describeAdapter({ ...llvmpipe, software: true, maxBindingBytes: 1 }),
    "llvmpipe (LLVM 15.0.6, 256 bits) [vendor 65541, device 0, software adapter]",
  );
  assert.equal(
    describeAdapter({ ...nvidia, architecture: "ada", software: false, maxBindingBytes: 1 }),
    "NVIDIA GeForce RTX 4090 [vendor 4318, architecture ada, device 9984, hardware adapter]",
  );
});

Deno.test({
  name:
    "startWebGpu() runs TF.js's WebGPU backend on the adapter and refuses synchronous reads of GPU tensors",
  ignore: GPU.ignore,
  fn: async () => {
    const adapter = requireWebGpu(GPU);
    console.error(`adapter: ${describeAdapter(adapter)} (${JSON.stringify(adapter)})`);
    assert.deepEqual(await startWebGpu(), adapter);
    assert.equal(tf.getBackend(), "webgpu");
    assert.deepEqual(webGpuAdapter(), adapter);
    assert.ok(webGpuImagesPerPass() >= 1);
    // 4096 values: above the size up to which TF.js's WebGPU backend computes on the CPU
    const x = tf.tensor1d(Float32Array.from({ length: 4096 }, (_, i) => i));
    assert.equal(x.dataSync()[3], 3, "values uploaded from the CPU still read synchronously");
    const y = tf.mul(x, 2);
    assert.throws(() => y.dataSync(), WebGpuSyncReadError);
    assert.equal((await y.data())[4095], 8190);
    tf.dispose([x, y]);
  },
});

/** Seeded input tensors of a conv case, from plain arrays (so both backends see the same values). */
function convInputs(x: number[], k: number, cout: number, seed: number) {
  const [n, h, w, cin] = x;
  return {
    x: randomArray(n * h * w * cin, seed),
    w: randomArray(k * k * cin * cout, seed + 1).map((v) => v * 0.3),
    b: randomArray(cout, seed + 2).map((v) => v * 0.1),
    shape: x as [number, number, number, number],
    wShape: [k, k, cin, cout] as [number, number, number, number],
  };
}

type ConvCase = { name: string; x: number[]; k: number; cout: number; o: ConvOptions };

/** A 3×3 (or `k`) stride-1 ReLU conv on NHWC `x`, with `o` changing any of stride, pad, dilation, relu. */
const convCase = (name: string, x: number[], cout: number, o: Partial<ConvOptions>, k = 3): ConvCase => ({
  name,
  x,
  k,
  cout,
  o: { stride: 1, pad: 1, dilation: 1, relu: true, ...o },
});

const CONV_CASES: ConvCase[] = [
  convCase("3×3 pad 1 + ReLU (VGG)", [2, 12, 12, 8], 16, {}),
  convCase("3×3 dilation 6 pad 6 (conv6)", [1, 19, 19, 8], 8, { pad: 6, dilation: 6 }),
  convCase("3×3 stride 2 pad 1 (conv8_2)", [1, 19, 19, 8], 8, { stride: 2 }),
  convCase("3×3 pad 0 (conv10_2)", [2, 5, 5, 8], 8, { pad: 0 }),
  convCase("1×1 (conv7)", [2, 7, 7, 16], 8, { pad: 0 }, 1),
  convCase("3×3 pad 1 head, no ReLU", [2, 10, 10, 8], 12, { relu: false }),
  // 100 × 100 output positions: the filter gradient as one conv2d over swapped axes (conv1_x, conv2_x)
  convCase("3×3 pad 1 on 100 × 100 (large-map dW)", [1, 100, 100, 3], 4, {}),
];

Deno.test({
  name: "convWithGrad() and fusedConv() on WebGPU equal the CPU backend: output, dX, dW, db",
  ignore: GPU.ignore,
  fn: async () => {
    requireWebGpu(GPU);
    let worst = 0;
    for (const [i, c] of CONV_CASES.entries()) {
      const d = convInputs(c.x, c.k, c.cout, 10 * i + 1);
      const fn = () => {
        const x = tf.tensor4d(d.x, d.shape), w = tf.tensor4d(d.w, d.wShape), b = tf.tensor1d(d.b);
        const y = convWithGrad(x, w, b, c.o);
        const r = tf.tensor(randomArray(y.size, 10 * i + 5), y.shape); // dL/dY
        const [dx, dw, db] = tf.grads((a: tf.Tensor, f: tf.Tensor, g: tf.Tensor) =>
          tf.sum(tf.mul(convWithGrad(a as tf.Tensor4D, f as tf.Tensor4D, g as tf.Tensor1D, c.o), r))
        )([x, w, b]);
        const inference = fusedConv(x, w, b, c.o);
        const outs = [y, dx, dw, db, inference];
        tf.dispose([x, w, b, r]);
        return outs;
      };
      worst = Math.max(worst, await sameOnBoth(c.name, ["y", "dX", "dW", "db", "fused y"], fn, OP_RTOL));
    }
    console.error(`convolutions: worst max |Δ| / max |ref| ${worst.toExponential(2)} (tolerance ${OP_RTOL})`);
  },
});

Deno.test({
  name:
    "max-pools (ceil mode, 3×3 stride 1) and the conv4_3 L2 norm on WebGPU equal the CPU backend, with gradients",
  ignore: GPU.ignore,
  fn: async () => {
    requireWebGpu(GPU);
    const pools: [string, number[], number, number, "valid" | "same"][] = [
      ["2×2/2 valid", [2, 14, 14, 4], 2, 2, "valid"],
      ["2×2/2 ceil mode (15 → 8, pool3)", [2, 15, 15, 4], 2, 2, "same"],
      ["3×3/1 pad 1 (pool5)", [2, 7, 7, 4], 3, 1, "same"],
    ];
    let worst = 0;
    for (const [i, [name, shape, k, s, pad]] of pools.entries()) {
      const xs = randomArray(shape.reduce((a, b) => a * b), 40 + i);
      const fn = () => {
        const x = tf.tensor4d(xs, shape as [number, number, number, number]);
        const y = tf.maxPool(x, k, s, pad);
        const r = tf.tensor(randomArray(y.size, 50 + i), y.shape);
        const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, k, s, pad), r)))(x);
        tf.dispose([x, r]);
        return [y, dx];
      };
      worst = Math.max(worst, await sameOnBoth(name, ["y", "dX"], fn, OP_RTOL));
    }
    // conv4_3: x / ‖x‖ over channels × rescale (lib/ssd/model.ts)
    const xs = randomArray(2 * 6 * 6 * 16, 60).map(Math.abs), rs = randomArray(16, 61).map((v) => 20 + v);
    const norm = (x: tf.Tensor, rescale: tf.Tensor) =>
      tf.mul(tf.div(x, tf.sqrt(tf.sum(tf.square(x), 3, true))), rescale);
    const fn = () => {
      const x = tf.tensor4d(xs, [2, 6, 6, 16]), rescale = tf.tensor4d(rs, [1, 1, 1, 16]);
      const r = tf.tensor4d(randomArray(2 * 6 * 6 * 16, 62), [2, 6, 6, 16]);
      const y = tf.tidy(() => norm(x, rescale));
      const [dx, drescale] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(norm(a, b), r)))([
        x,
        rescale,
      ]);
      tf.dispose([x, rescale, r]);
      return [y, dx, drescale];
    };
    worst = Math.max(worst, await sameOnBoth("L2 norm", ["y", "dX", "d rescale"], fn, OP_RTOL));
    console.error(
      `pools, L2 norm: worst max |Δ| / max |ref| ${worst.toExponential(2)} (tolerance ${OP_RTOL})`,
    );
  },
});

Deno.test({
  name:
    "multiboxLossPart() on WebGPU (hard negatives mined on the device) equals the CPU backend's, with gradients",
  ignore: GPU.ignore,
  fn: async () => {
    requireWebGpu(GPU);
    const priors = createPriorsCxcy();
    const nPriors = priors.length / 4, nClasses = 2;
    const gts: GroundTruth[] = [
      { boxes: new Float32Array([0.1, 0.2, 0.4, 0.9, 0.6, 0.3, 0.75, 0.8]), labels: [1, 1] },
      { boxes: new Float32Array([0.3, 0.1, 0.9, 0.95]), labels: [1] },
    ];
    const b = gts.length;
    const { targets, nPositivesTotal } = buildTargets(gts, priors);
    const locs = randomArray(b * nPriors * 4, 71);
    // logits on a coarse grid: many priors share their cross-entropy at the hard-negative threshold
    const scores = randomArray(b * nPriors * nClasses, 72).map((v) => Math.round(v * 4) / 2);
    const fn = () => {
      const lo = tf.tensor3d(locs, [b, nPriors, 4]), sc = tf.tensor3d(scores, [b, nPriors, nClasses]);
      const f = (l: tf.Tensor, s: tf.Tensor) =>
        multiboxLossPart(l as tf.Tensor3D, s as tf.Tensor3D, targets, nPositivesTotal).loss;
      const loss = tf.tidy(() => f(lo, sc));
      const [dl, ds] = tf.grads(f)([lo, sc]);
      tf.dispose([lo, sc]);
      return [loss, dl, ds];
    };
    const worst = await sameOnBoth("MultiBox loss", ["loss", "d locs", "d scores"], fn, LOSS_RTOL);
    console.error(
      `MultiBox loss and gradients: worst max |Δ| / max |ref| ${
        worst.toExponential(2)
      } (tolerance ${LOSS_RTOL})`,
    );
  },
});

// Last in this file: the device's error stays recorded, so later reads on this backend would fail too.
Deno.test({
  name: "a GPU error (here an invalid shader) makes the next read back throw instead of returning garbage",
  ignore: GPU.ignore,
  fn: async () => {
    requireWebGpu(GPU);
    await startWebGpu();
    const x = tf.mul(tf.tensor1d(Float32Array.from({ length: 4096 }, (_, i) => i)), 3);
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    device.createShaderModule({ code: "this is not WGSL" });
    await assert.rejects(() => x.data(), WebGpuError);
    x.dispose();
  },
});
