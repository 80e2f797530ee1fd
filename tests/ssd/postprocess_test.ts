import assert from "node:assert/strict";
import { goldenF32, goldenJson } from "../helpers.ts";
import { detectObjects, detectObjectsBatch } from "../../lib/ssd/mod.ts";
import { softmaxRows } from "../../lib/ssd/postprocess.ts";
import { createPriorsCxcy, N_PRIORS } from "../../lib/ssd/priors.ts";
import { cxcyToXyxy, decodeOffsets, iouMatrix } from "../../lib/ssd/boxes.ts";
import { mulberry32 } from "../../lib/core/mod.ts";

interface GoldenDetections {
  boxes: number[][];
  labels: number[];
  scores: number[];
}

/** "min_score=0.2,max_overlap=0.45,top_k=200" → options */
function parseParams(key: string): { minScore: number; maxOverlap: number; topK: number } {
  const m = /^min_score=([\d.]+),max_overlap=([\d.]+),top_k=(\d+)$/.exec(key);
  if (!m) throw new Error(`unexpected golden detections key ${key}`);
  return { minScore: Number(m[1]), maxOverlap: Number(m[2]), topK: Number(m[3]) };
}

Deno.test("detectObjects() reproduces golden.json detections for both parameter sets within 1e-5", async (t) => {
  const golden = await goldenJson(t);
  const locs = await goldenF32(t, "voc_locs.f32");
  const scores = await goldenF32(t, "voc_scores.f32");
  if (!golden || !locs || !scores) return;
  const nClasses = 21;
  const sets = golden.detections as Record<string, GoldenDetections[]>;
  assert.deepEqual(Object.keys(sets).length, 2);
  for (const [key, perImage] of Object.entries(sets)) {
    const opts = parseParams(key);
    for (let i = 0; i < perImage.length; i++) {
      const exp = perImage[i];
      const dets = detectObjects(
        locs.subarray(i * N_PRIORS * 4, (i + 1) * N_PRIORS * 4),
        scores.subarray(i * N_PRIORS * nClasses, (i + 1) * N_PRIORS * nClasses),
        nClasses,
        opts,
      );
      const where = `${key}, image ${i}`;
      assert.deepEqual(dets.map((d) => d.classId), exp.labels, `${where}: labels`);
      let maxBox = 0, maxScore = 0;
      dets.forEach((d, k) => {
        maxScore = Math.max(maxScore, Math.abs(d.score - exp.scores[k]));
        for (let c = 0; c < 4; c++) maxBox = Math.max(maxBox, Math.abs(d.box[c] - exp.boxes[k][c]));
      });
      assert(maxBox <= 1e-5, `${where}: box max |Δ| ${maxBox}`);
      assert(maxScore <= 1e-5, `${where}: score max |Δ| ${maxScore}`);
    }
  }
});

Deno.test("detectObjectsBatch() decodes each image of a batch as detectObjects() does (the golden batch of 3)", async (t) => {
  const locs = await goldenF32(t, "voc_locs.f32");
  const scores = await goldenF32(t, "voc_scores.f32");
  if (!locs || !scores) return;
  const opts = { minScore: 0.2, maxOverlap: 0.45, topK: 200 };
  const batch = detectObjectsBatch(locs, scores, 21, opts);
  assert.deepEqual(batch.length, 3);
  batch.forEach((dets, i) => {
    const one = detectObjects(
      locs.subarray(i * N_PRIORS * 4, (i + 1) * N_PRIORS * 4),
      scores.subarray(i * N_PRIORS * 21, (i + 1) * N_PRIORS * 21),
      21,
      opts,
    );
    assert.deepEqual(dets, one, `image ${i}`);
  });
  let threw = false;
  try {
    detectObjectsBatch(locs.subarray(0, N_PRIORS * 4 + 4), scores, 21, opts);
  } catch (e) {
    threw = e instanceof RangeError;
  }
  assert(threw, "a batch that is not whole images is rejected");
});

Deno.test("detectObjects() returns the background box [0, 0, 1, 1] with score 0 when nothing passes minScore", () => {
  const locs = new Float32Array(N_PRIORS * 4);
  const scores = new Float32Array(N_PRIORS * 2); // equal logits → 0.5 each, not > 0.5
  assert.deepEqual(detectObjects(locs, scores, 2, { minScore: 0.5, maxOverlap: 0.5, topK: 10 }), [
    { box: [0, 0, 1, 1], classId: 0, score: 0 },
  ]);
});

Deno.test("detectObjects() suppresses overlapping boxes per class only, and cuts to topK by score", () => {
  // 3 priors, 3 classes: priors 0 and 1 nearly coincide, prior 2 is elsewhere
  const priors = new Float32Array([0.3, 0.3, 0.2, 0.2, 0.31, 0.3, 0.2, 0.2, 0.8, 0.8, 0.2, 0.2]);
  const locs = new Float32Array(12); // zero offsets: boxes are the priors
  const logit = (p: number[]) => p.map(Math.log);
  const scores = new Float32Array([
    ...logit([0.1, 0.6, 0.3]), // prior 0: class 1 strong
    ...logit([0.1, 0.5, 0.4]), // prior 1: class 1 (suppressed by prior 0), class 2
    ...logit([0.2, 0.7, 0.1]), // prior 2: class 1
  ]);
  const all = detectObjects(locs, scores, 3, { minScore: 0.25, maxOverlap: 0.5, topK: 10 }, priors);
  // class 1: priors 2 (0.7) and 0 (0.6) survive, prior 1 suppressed; class 2: prior 1 (0.4), prior 0 (0.3) suppressed
  assert.deepEqual(all.map((d) => d.classId), [1, 1, 2]);
  assert.deepEqual(all.map((d) => Number(d.score.toFixed(4))), [0.7, 0.6, 0.4]);
  const top2 = detectObjects(locs, scores, 3, { minScore: 0.25, maxOverlap: 0.5, topK: 2 }, priors);
  assert.deepEqual(top2.map((d) => Number(d.score.toFixed(4))), [0.7, 0.6]);
  assert.deepEqual(top2[0].box.map((v) => Number(v.toFixed(5))), [0.7, 0.7, 0.9, 0.9]);
});

Deno.test("detectObjects() does not mutate its inputs", () => {
  const locs = new Float32Array(N_PRIORS * 4).map((_, i) => Math.sin(i));
  const scores = new Float32Array(N_PRIORS * 2).map((_, i) => Math.cos(i) * 3);
  const [l0, s0] = [locs.slice(), scores.slice()];
  const priors = createPriorsCxcy();
  const p0 = priors.slice();
  detectObjects(locs, scores, 2, { minScore: 0.2, maxOverlap: 0.45, topK: 200 }, priors);
  assert.deepEqual(locs, l0);
  assert.deepEqual(scores, s0);
  assert.deepEqual(priors, p0);
});

Deno.test("softmaxRows() gives rows summing to 1 and is shift invariant", () => {
  const p = softmaxRows(new Float32Array([1, 2, 3, 1001, 1002, 1003]), 3);
  assert(Math.abs(p[0] + p[1] + p[2] - 1) < 1e-6);
  for (let k = 0; k < 3; k++) assert(Math.abs(p[k] - p[k + 3]) < 1e-7);
});

/** The reference's `detect_objects` literally: every class's full greedy NMS, then the top-k cut by score. */
function referenceDetectObjects(
  locs: Float32Array,
  scores: Float32Array,
  nClasses: number,
  o: { minScore: number; maxOverlap: number; topK: number },
  priors: Float32Array,
) {
  const n = priors.length / 4;
  const probs = softmaxRows(scores, nClasses);
  const boxes = cxcyToXyxy(decodeOffsets(locs, priors));
  const out: { box: number[]; classId: number; score: number }[] = [];
  for (let c = 1; c < nClasses; c++) {
    const idx = [...Array(n).keys()].filter((p) => probs[p * nClasses + c] > Math.fround(o.minScore));
    idx.sort((a, b) => probs[b * nClasses + c] - probs[a * nClasses + c] || a - b);
    const sorted = new Float32Array(idx.flatMap((p) => [...boxes.subarray(p * 4, p * 4 + 4)]));
    const iou = iouMatrix(sorted, sorted);
    const suppress = new Uint8Array(idx.length);
    for (let k = 0; k < idx.length; k++) {
      if (suppress[k]) continue;
      for (let m = 0; m < idx.length; m++) {
        if (iou[k * idx.length + m] > Math.fround(o.maxOverlap)) suppress[m] = 1;
      }
      suppress[k] = 0;
    }
    idx.forEach((p, k) => {
      if (!suppress[k]) {
        out.push({ box: [...boxes.subarray(p * 4, p * 4 + 4)], classId: c, score: probs[p * nClasses + c] });
      }
    });
  }
  if (out.length > o.topK) {
    return [...out.keys()].sort((a, b) => out[b].score - out[a].score || a - b).slice(0, o.topK).map((i) =>
      out[i]
    );
  }
  return out;
}

Deno.test("detectObjects() (NMS stopped after topK survivors per class) = the reference's full NMS, ties included", () => {
  const rand = mulberry32(11);
  const n = 300;
  const priors = new Float32Array(n * 4).map((_, i) => (i % 4 < 2 ? rand() : 0.05 + 0.3 * rand()));
  for (
    const [trial, [topK, nClasses]] of [[1, 4], [3, 4], [10, 4], [40, 4], [1000, 4], [3, 2], [7, 2]].entries()
  ) {
    const locs = new Float32Array(n * 4).map(() => (rand() - 0.5) * 0.2);
    // logits on a coarse grid: many equal scores within and across classes
    const scores = new Float32Array(n * nClasses).map(() => Math.round(rand() * 4) / 2);
    const o = { minScore: 0.2, maxOverlap: 0.2 + 0.1 * (trial % 5), topK };
    const got = detectObjects(locs, scores, nClasses, o, priors);
    const want = referenceDetectObjects(locs, scores, nClasses, o, priors);
    assert(want.length > 0);
    assert.deepEqual(got, want, `topK ${o.topK}`);
  }
});
