import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/engine/backend.ts";
import { encodeOffsets, xyxyToCxcy } from "../../lib/ssd/boxes.ts";
import "../../lib/engine/conv_grad.ts"; // registers the training gradients
import {
  buildTargets,
  type GroundTruth,
  hardNegatives,
  hardNegativesOnDevice,
  type ImageTargets,
  matchPriors,
  MIN_TARGET_SIDE,
  multiboxLoss,
  multiboxLossPart,
  NEG_POS_RATIO,
} from "../../lib/ssd/loss.ts";
import { createPriorsCxcy } from "../../lib/ssd/priors.ts";
import { randomArray } from "../helpers.ts";

await initBackend("wasm", null);

// Four priors (cx, cy, w, h): two at the left, one in the centre, one at the right.
const PRIORS = new Float32Array([
  0.25,
  0.5,
  0.2,
  0.4,
  0.25,
  0.5,
  0.4,
  0.4,
  0.5,
  0.5,
  0.2,
  0.2,
  0.8,
  0.5,
  0.2,
  0.2,
]);

Deno.test("matchPriors() makes a prior identical to a box positive with zero offsets, others background", () => {
  // box = prior 2 exactly (xyxy 0.4..0.6)
  const t = matchPriors({ boxes: new Float32Array([0.4, 0.4, 0.6, 0.6]), labels: [1] }, PRIORS);
  assert.deepEqual([...t.trueClasses], [0, 0, 1, 0]);
  assert.equal(t.nPositives, 1);
  assert.ok(t.trueLocs.subarray(8, 12).every((v) => Math.abs(v) < 1e-5), `${t.trueLocs.subarray(8, 12)}`);
  assert.deepEqual([...t.trueLocs.subarray(0, 8)], [0, 0, 0, 0, 0, 0, 0, 0], "background offsets are zeroed");
});

Deno.test("matchPriors() applies the 0.5 IoU threshold and encodes with variances 10 and 5", () => {
  // box of width 0.3 centred on prior 0 (w 0.2, h 0.4): IoU with prior 0 = 0.08/0.12 = 0.667 (best), with prior 1
  // (w 0.4): 0.12/0.16 = 0.75 → prior 1 is its best; prior 0 at 0.667 ≥ 0.5 is positive too
  const box = new Float32Array([0.1, 0.3, 0.4, 0.7]);
  const t = matchPriors({ boxes: box, labels: [1] }, PRIORS);
  assert.deepEqual([...t.trueClasses], [1, 1, 0, 0]);
  const expected = encodeOffsets(xyxyToCxcy(new Float32Array([...box, ...box])), PRIORS.subarray(0, 8));
  assert.deepEqual([...t.trueLocs.subarray(0, 8)], [...expected]);
  // g_w for prior 0: log(0.3 / 0.2) · 5
  assert.ok(Math.abs(t.trueLocs[2] - Math.log(1.5) * 5) < 1e-5);
  // the same box with threshold 0.7: prior 0 (0.667) drops to background, prior 1 stays (best prior)
  const strict = matchPriors({ boxes: box, labels: [1] }, PRIORS, 0.7);
  assert.deepEqual([...strict.trueClasses], [0, 1, 0, 0]);
});

Deno.test("matchPriors() forces each object onto its best prior, the later object winning a shared one", () => {
  // both boxes have prior 2 as their best prior (the first is nearly identical to it, the second overlaps it most
  // of all priors); torch's object_for_each_prior[prior_for_each_object] = range(n) lets object 1 win it
  const boxes = new Float32Array([0.4, 0.4, 0.6, 0.6, 0.45, 0.45, 0.7, 0.62]);
  const t = matchPriors({ boxes, labels: [1, 2] }, PRIORS);
  assert.equal(t.trueClasses[2], 2, "shared best prior goes to the later object");
  // even a tiny box (IoU < 0.5 with every prior) gets its best prior
  const tiny = matchPriors({ boxes: new Float32Array([0.79, 0.49, 0.8, 0.5]), labels: [1] }, PRIORS);
  assert.deepEqual([...tiny.trueClasses], [0, 0, 0, 1]);
});

Deno.test("matchPriors() treats an image without objects as all background and validates labels", () => {
  const t = matchPriors({ boxes: new Float32Array(0), labels: [] }, PRIORS);
  assert.equal(t.nPositives, 0);
  assert.ok(t.trueClasses.every((c) => c === 0));
  assert.throws(() => matchPriors({ boxes: new Float32Array([0, 0, 1, 1]), labels: [0] }, PRIORS), /label 0/);
  assert.throws(() => matchPriors({ boxes: new Float32Array([0, 0, 1, 1]), labels: [] }, PRIORS), /labels/);
});

Deno.test("matchPriors() does not mutate its inputs", () => {
  const boxes = new Float32Array([0.1, 0.3, 0.4, 0.7]);
  const priors = PRIORS.slice();
  matchPriors({ boxes, labels: [1] }, priors);
  assert.deepEqual([...boxes], [...new Float32Array([0.1, 0.3, 0.4, 0.7])]);
  assert.deepEqual([...priors], [...PRIORS]);
});

Deno.test("hardNegatives() keeps the 3 × n_positives highest-CE non-positives", () => {
  const ce = new Float32Array([5, 0.1, 0.9, 3, 0.2, 0.8, 0.7, 4, 0.05]);
  const classes = new Int32Array([1, 0, 0, 0, 0, 0, 0, 1, 0]); // priors 0 and 7 positive (highest CE, excluded)
  const mask = hardNegatives(ce, classes, 2, NEG_POS_RATIO);
  // 6 wanted among the 7 non-positives: all but the lowest (0.05 at index 8)
  assert.deepEqual([...mask], [0, 1, 1, 1, 1, 1, 1, 0, 0]);
  const one = hardNegatives(ce, classes, 1, 1);
  assert.deepEqual([...one], [0, 0, 0, 1, 0, 0, 0, 0, 0]);
  assert.ok(hardNegatives(ce, classes, 0).every((v) => v === 0));
});

/** The reference loss computed directly in float64 from values (independent of the tensor implementation). */
function referenceLoss(
  locs: Float32Array,
  scores: Float32Array,
  gts: GroundTruth[],
  priors: Float32Array,
  nClasses: number,
) {
  const nPriors = priors.length / 4;
  const { targets, nPositivesTotal } = buildTargets(gts, priors);
  let confSum = 0, l1 = 0;
  targets.forEach((t, i) => {
    const ce: number[] = [];
    for (let p = 0; p < nPriors; p++) {
      const row = scores.subarray((i * nPriors + p) * nClasses, (i * nPriors + p + 1) * nClasses);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      ce.push(lse - row[t.trueClasses[p]]);
    }
    const neg = ce.map((v, p) => (t.trueClasses[p] !== 0 ? 0 : v)).sort((a, b) => b - a);
    for (let r = 0; r < Math.min(3 * t.nPositives, nPriors); r++) confSum += neg[r];
    for (let p = 0; p < nPriors; p++) {
      if (t.trueClasses[p] === 0) continue;
      confSum += ce[p];
      for (let k = 0; k < 4; k++) l1 += Math.abs(locs[(i * nPriors + p) * 4 + k] - t.trueLocs[p * 4 + k]);
    }
  });
  return confSum / nPositivesTotal + l1 / (4 * nPositivesTotal);
}

const GTS: GroundTruth[] = [
  { boxes: new Float32Array([0.1, 0.2, 0.4, 0.9, 0.6, 0.3, 0.75, 0.8]), labels: [1, 1] },
  { boxes: new Float32Array([0.3, 0.1, 0.9, 0.95]), labels: [1] },
  {
    boxes: new Float32Array([0.05, 0.05, 0.12, 0.2, 0.5, 0.5, 0.52, 0.58, 0.2, 0.6, 0.5, 0.99]),
    labels: [1, 1, 1],
  },
];

Deno.test("multiboxLoss() equals the reference formula (CE over positives + hard negatives, L1 mean) on SSD priors", () => {
  const priors = createPriorsCxcy();
  const nPriors = priors.length / 4, nClasses = 2;
  const locsA = randomArray(GTS.length * nPriors * 4, 11).map((v) => v * 3); // |Δ| > 1 often: L1, not smooth L1
  const scoresA = randomArray(GTS.length * nPriors * nClasses, 12).map((v) => v * 4);
  const before = tf.memory().numTensors;
  const got = tf.tidy(() => {
    const r = multiboxLoss(
      tf.tensor3d(locsA, [GTS.length, nPriors, 4]),
      tf.tensor3d(scoresA, [GTS.length, nPriors, nClasses]),
      GTS,
      priors,
    );
    return r.loss.dataSync()[0];
  });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  const want = referenceLoss(locsA, scoresA, GTS, priors, nClasses);
  assert.ok(Math.abs(got - want) / want < 1e-5, `loss ${got} vs reference ${want}`);
});

Deno.test("multiboxLossPart() shares over micro-batches sum to the full-batch loss and gradients", () => {
  const priors = createPriorsCxcy();
  const nPriors = priors.length / 4, nClasses = 2, b = GTS.length;
  const locs = tf.tensor3d(randomArray(b * nPriors * 4, 21), [b, nPriors, 4]);
  const scores = tf.tensor3d(randomArray(b * nPriors * nClasses, 22).map((v) => v * 3), [
    b,
    nPriors,
    nClasses,
  ]);
  const { targets, nPositivesTotal } = buildTargets(GTS, priors);
  const f = (lo: tf.Tensor, sc: tf.Tensor, from: number, to: number) =>
    multiboxLossPart(
      tf.slice(lo, [from, 0, 0], [to - from, -1, -1]) as tf.Tensor3D,
      tf.slice(sc, [from, 0, 0], [to - from, -1, -1]) as tf.Tensor3D,
      targets.slice(from, to),
      nPositivesTotal,
    ).loss;
  const full = tf.grads((lo: tf.Tensor, sc: tf.Tensor) => f(lo, sc, 0, b))([locs, scores]);
  const fullLoss = tf.tidy(() => f(locs, scores, 0, b).dataSync()[0]);
  let partLoss = 0;
  const parts = [[0, 1], [1, 3]].map(([from, to]) => {
    partLoss += tf.tidy(() => f(locs, scores, from, to).dataSync()[0]);
    return tf.grads((lo: tf.Tensor, sc: tf.Tensor) => f(lo, sc, from, to))([locs, scores]);
  });
  assert.ok(Math.abs(partLoss - fullLoss) / fullLoss < 1e-6, `${partLoss} vs ${fullLoss}`);
  for (let k = 0; k < 2; k++) {
    const sum = tf.add(parts[0][k], parts[1][k]).dataSync();
    const ref = full[k].dataSync();
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(sum[i] - ref[i]));
    assert.ok(maxDiff < 1e-7, `gradient ${k}: max |Δ| ${maxDiff}`);
  }
  // positives' gradient wrt locs is ±1/(4N) (L1), zero elsewhere
  const gl = full[0].dataSync();
  const scale = 1 / (4 * nPositivesTotal);
  assert.ok(gl.every((v) => v === 0 || Math.abs(Math.abs(v) - scale) < 1e-9));
  assert.equal(gl.filter((v) => v !== 0).length, 4 * nPositivesTotal);
  tf.dispose([locs, scores, ...full, ...parts.flat()]);
});

Deno.test("multiboxLossPart() rejects a batch without positives and mismatched shapes", () => {
  tf.tidy(() => {
    const locs = tf.zeros([1, 4, 4]) as tf.Tensor3D;
    const scores = tf.zeros([1, 4, 2]) as tf.Tensor3D;
    const t = matchPriors({ boxes: new Float32Array(0), labels: [] }, PRIORS);
    assert.throws(() => multiboxLossPart(locs, scores, [t], 0), /0 positive/);
    assert.throws(() => multiboxLossPart(locs, scores, [t, t], 1), /disagree/);
  });
});

Deno.test("matchPriors() keeps the offsets of a zero-size box finite (MIN_TARGET_SIDE), not log(0)", () => {
  const t = matchPriors({ boxes: new Float32Array([0.5, 0.5, 0.5, 0.5]), labels: [1] }, PRIORS);
  assert.ok(t.trueLocs.every(Number.isFinite), `${t.trueLocs}`);
  const p = t.trueClasses.indexOf(1); // the prior the object is forced onto
  assert.ok(p >= 0);
  assert.ok(Math.abs(t.trueLocs[p * 4 + 2] - Math.log(MIN_TARGET_SIDE / PRIORS[p * 4 + 2]) * 5) < 1e-3);
});

/** Cross-entropies with many exact ties (values on a coarse grid) and targets with 0 to many positives. */
function tiedCase(nPriors: number, positives: readonly number[], seed: number) {
  const rand = randomArray(positives.length * nPriors * 2, seed);
  const ce = Float32Array.from(
    rand.subarray(0, positives.length * nPriors),
    (v) => Math.round(Math.abs(v) * 8) / 4,
  );
  const targets: ImageTargets[] = positives.map((nPos, i) => {
    const trueClasses = new Int32Array(nPriors);
    // nPos positives at pseudo-random priors
    for (let k = 0; k < nPos; k++) {
      trueClasses[Math.floor(Math.abs(rand[(i + 1) * nPriors + k]) * 1e6) % nPriors] = 1;
    }
    const n = trueClasses.reduce((a, c) => a + c, 0);
    return { trueClasses, trueLocs: new Float32Array(nPriors * 4), nPositives: n };
  });
  return { ce, targets };
}

Deno.test("hardNegativesOnDevice() picks exactly hardNegatives()' priors, equal CEs by index", () => {
  // 0 positives (none picked), a few, and so many that all negatives are wanted (3 · 40 > 60 candidates)
  const nPriors = 100;
  const { ce, targets } = tiedCase(nPriors, [0, 3, 12, 40], 5);
  const before = tf.memory().numTensors;
  const ceT = tf.tensor2d(ce, [targets.length, nPriors]);
  const mask = hardNegativesOnDevice(ceT, targets);
  const device = mask.dataSync();
  tf.dispose([ceT, mask]);
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  targets.forEach((t, i) => {
    const host = hardNegatives(ce.subarray(i * nPriors, (i + 1) * nPriors), t.trueClasses, t.nPositives);
    assert.deepEqual([...device.subarray(i * nPriors, (i + 1) * nPriors)], [...host], `image ${i}`);
  });
  assert.ok(device.some((v) => v === 1));
});

Deno.test("multiboxLossPart() mines on the device as on the host: same loss and gradients", () => {
  const priors = createPriorsCxcy();
  const nPriors = priors.length / 4, nClasses = 2, b = GTS.length;
  const locs = tf.tensor3d(randomArray(b * nPriors * 4, 31), [b, nPriors, 4]);
  // logits on a coarse grid: many priors share their cross-entropy, so the tie rule matters
  const grid = randomArray(b * nPriors * nClasses, 32).map((v) => Math.round(v * 4) / 2);
  const scores = tf.tensor3d(grid, [b, nPriors, nClasses]);
  const { targets, nPositivesTotal } = buildTargets(GTS, priors);
  const run = (mining: "host" | "device") => {
    const f = (lo: tf.Tensor, sc: tf.Tensor) =>
      multiboxLossPart(lo as tf.Tensor3D, sc as tf.Tensor3D, targets, nPositivesTotal, { mining }).loss;
    const loss = tf.tidy(() => f(locs, scores).dataSync()[0]);
    const grads = tf.grads(f)([locs, scores]);
    const data = grads.map((g) => g.dataSync().slice());
    tf.dispose(grads);
    return { loss, data };
  };
  const before = tf.memory().numTensors;
  const host = run("host"), device = run("device");
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  assert.equal(device.loss, host.loss);
  assert.deepEqual(device.data, host.data);
  tf.dispose([locs, scores]);
});
