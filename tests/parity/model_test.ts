import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import {
  allConvs,
  type ConvFn,
  createSsd300,
  disposeModel,
  fusedConv,
  paramShapes,
  RESCALE_INIT,
  ssdForward,
} from "../../lib/ssd/model.ts";
import { N_PRIORS } from "../../lib/ssd/priors.ts";
import { loadCheckpointFile } from "../../lib/interop/mod.ts";
import { convWithGrad } from "../../lib/engine/conv_grad.ts"; // registers the training gradients on import
import { compareArrays, GOLDEN_DIR, goldenF32, haveGolden, parityTestConv } from "../helpers.ts";

await initBackend("wasm", null);
/** SSD_TEST_CONV=onednn: the forward's convolutions through oneDNN (its kernels replace WASM's on this thread) */
const ENGINE = parityTestConv().name;

/** Forward parity tolerances of issue 3. */
const PARITY_MAX_ABS = 1e-3;
const PARITY_REL_FRO = 1e-5;

/** A ConvFn from unfused differentiable ops: explicit tf.pad, conv2d 'valid', bias add, ReLU. */
const unfusedConv: ConvFn = (x, w, b, o) =>
  tf.tidy(() => {
    const padded = o.pad > 0 ? tf.pad(x, [[0, 0], [o.pad, o.pad], [o.pad, o.pad], [0, 0]]) : x;
    const y = tf.add(tf.conv2d(padded, w, o.stride, "valid", "NHWC", o.dilation), b) as tf.Tensor4D;
    return o.relu ? tf.relu(y) : y;
  });

function randomImages(batch: number, seed: number): tf.Tensor4D {
  return tf.randomNormal([batch, 300, 300, 3], 0, 1, "float32", seed) as tf.Tensor4D;
}

Deno.test(`ssdForward() on ssd300_voc.pth reproduces voc_locs/voc_scores (max |Δ| ≤ 1e-3, rel. Frobenius ≤ 1e-5; ${ENGINE})`, async (t) => {
  if (!haveGolden(t, "ssd300_voc.pth")) return;
  const input = await goldenF32(t, "input_nchw.f32");
  const goldLocs = await goldenF32(t, "voc_locs.f32");
  const goldScores = await goldenF32(t, "voc_scores.f32");
  if (!input || !goldLocs || !goldScores) return;
  const model = await loadCheckpointFile(new URL("ssd300_voc.pth", GOLDEN_DIR).pathname);
  const before = tf.memory().numTensors;
  const images = tf.tidy(() =>
    tf.transpose(tf.tensor4d(input, [3, 3, 300, 300]), [0, 2, 3, 1])
  ) as tf.Tensor4D;
  const { locs, scores } = ssdForward(model, images);
  assert.deepEqual(locs.shape, [3, N_PRIORS, 4]);
  assert.deepEqual(scores.shape, [3, N_PRIORS, 21]);
  const l = compareArrays(await locs.data(), goldLocs);
  const s = compareArrays(await scores.data(), goldScores);
  console.error(
    `forward parity (wasm): locs max|Δ| ${l.maxAbs.toExponential(3)} relFro ${l.relFro.toExponential(3)}; ` +
      `scores max|Δ| ${s.maxAbs.toExponential(3)} relFro ${s.relFro.toExponential(3)}`,
  );
  tf.dispose([images, locs, scores]);
  assert.deepEqual(tf.memory().numTensors, before, "no tensor leaks");
  disposeModel(model);
  for (const [what, e] of [["locs", l], ["scores", s]] as const) {
    assert(e.maxAbs <= PARITY_MAX_ABS, `${what}: max |Δ| ${e.maxAbs}`);
    assert(e.relFro <= PARITY_REL_FRO, `${what}: relative Frobenius error ${e.relFro}`);
  }
});

Deno.test("createSsd300() makes every reference parameter: xavier heads, zero biases, rescale 20", () => {
  const model = createSsd300(2, 1);
  assert.deepEqual([...model.params.keys()], [...paramShapes(2).keys()]);
  assert.deepEqual(model.params.size, 1 + 2 * allConvs(2).length);
  for (const [name, shape] of paramShapes(2)) assert.deepEqual(model.params.get(name)!.shape, shape, name);
  assert(model.params.get("rescale_factors")!.dataSync().every((v) => v === RESCALE_INIT));
  assert(model.params.get("aux_convs.conv8_2.bias")!.dataSync().every((v) => v === 0));
  const w = model.params.get("pred_convs.loc_conv7.weight")!.dataSync() as Float32Array; // [3, 3, 1024, 24]
  const bound = Math.sqrt(6 / (9 * (1024 + 24)));
  assert(w.every((v) => Math.abs(v) <= bound) && w.some((v) => Math.abs(v) > 0.99 * bound));
  const again = createSsd300(2, 1);
  assert.deepEqual(
    again.params.get("base.conv2_1.weight")!.dataSync(),
    model.params.get("base.conv2_1.weight")!.dataSync(),
  );
  const other = createSsd300(2, 2);
  assert(
    other.params.get("base.conv2_1.weight")!.dataSync()[0] !==
      model.params.get("base.conv2_1.weight")!.dataSync()[0],
  );
  [model, again, other].forEach(disposeModel);
});

Deno.test("ssdForward() gives the same outputs with an unfused ConvFn, does not leak and does not mutate its input", async () => {
  const model = createSsd300(2, 7);
  const images = randomImages(2, 3);
  const copy = images.clone();
  const before = tf.memory().numTensors;
  let calls = 0;
  const counting: ConvFn = (x, w, b, o) => {
    calls++;
    return unfusedConv(x, w, b, o);
  };
  const a = ssdForward(model, images);
  const b = ssdForward(model, images, { conv: counting });
  assert.deepEqual(calls, allConvs(2).length);
  assert.deepEqual(a.locs.shape, [2, N_PRIORS, 4]);
  assert.deepEqual(a.scores.shape, [2, N_PRIORS, 2]);
  const dl = compareArrays(await b.locs.data(), await a.locs.data());
  const ds = compareArrays(await b.scores.data(), await a.scores.data());
  assert(dl.relFro < 1e-5 && ds.relFro < 1e-5, `unfused vs fused: ${JSON.stringify({ dl, ds })}`);
  tf.dispose([a.locs, a.scores, b.locs, b.scores]);
  assert.deepEqual(tf.memory().numTensors, before, "no tensor leaks");
  assert.deepEqual(await images.data(), await copy.data());
  // batch items are independent: image 1 alone gives the same rows as in the batch of 2
  const single = tf.tidy(() => tf.slice(images, [1, 0, 0, 0], [1, -1, -1, -1])) as tf.Tensor4D;
  const c = ssdForward(model, single);
  const full = ssdForward(model, images);
  const rows = tf.tidy(() => tf.slice(full.scores, [1, 0, 0], [1, -1, -1]));
  assert(compareArrays(await c.scores.data(), await rows.data()).relFro < 1e-6);
  tf.dispose([images, copy, single, c.locs, c.scores, full.locs, full.scores, rows]);
  disposeModel(model);
});

Deno.test("ssdForward() with the trainer's convWithGrad is differentiable through L2 norm, rescale and heads", () => {
  const model = createSsd300(2, 11);
  const images = randomImages(1, 5);
  const rescale = model.params.get("rescale_factors")!;
  const clBias = model.params.get("pred_convs.cl_conv4_3.bias")!;
  const locBias = model.params.get("pred_convs.loc_conv11_2.bias")!;
  const { value, grads } = tf.variableGrads(() => {
    const { locs, scores } = ssdForward(model, images, { conv: convWithGrad });
    return tf.add(tf.sum(scores), tf.sum(tf.mul(locs, 0.5))) as tf.Scalar;
  }, [rescale, clBias, locBias]);
  // d Σ scores / d bias = number of positions of the map (38·38 for conv4_3); d Σ 0.5·locs / d bias = 0.5·1·1
  assert(grads[clBias.name].dataSync().every((v) => v === 38 * 38), "cl_conv4_3 bias gradient = 1444");
  assert(grads[locBias.name].dataSync().every((v) => v === 0.5), "loc_conv11_2 bias gradient = 0.5");
  const g = grads[rescale.name];
  assert.deepEqual(g.shape, [1, 1, 1, 512]);
  assert(
    g.dataSync().every(Number.isFinite) && g.dataSync().some((v) => v !== 0),
    "rescale gradient non-zero",
  );
  tf.dispose([value, images, ...Object.values(grads)]);
  disposeModel(model);
});

Deno.test("ssdForward() rejects images that are not [B, 300, 300, 3]", () => {
  const model = createSsd300(2, 1);
  const bad = tf.zeros([1, 3, 300, 300]) as tf.Tensor4D;
  let message = "";
  try {
    ssdForward(model, bad);
  } catch (e) {
    message = (e as Error).message;
  }
  assert(message.includes("[1, 3, 300, 300]"), message);
  bad.dispose();
  disposeModel(model);
  void fusedConv;
});
