/**
 * Post-processing of the network's raw outputs into detections: the reference's `SSD300.detect_objects` —
 * softmax, decoding against the priors, per-class thresholding and greedy NMS, the top-k cut — in float32 as
 * torch computes it. Plain arrays in, plain objects out: no TF.js tensors.
 * @module
 */
import { cxcyToXyxy, decodeOffsets } from "./boxes.ts";
import { priorsCxcyFor } from "./priors.ts";

/** One detection: fractional xyxy box, class index (0 = background) and softmax score. */
export interface Detection {
  /** (x_min, y_min, x_max, y_max), fractional; may lie slightly outside [0, 1] (decoded boxes are not clipped) */
  box: [number, number, number, number];
  classId: number;
  /** softmax probability of `classId`, in (minScore, 1] (0 for the "nothing found" background box) */
  score: number;
}

/** Parameters of `detect_objects`. */
export interface DetectOptions {
  /** keep boxes whose class score is strictly greater than this */
  minScore: number;
  /** NMS suppresses a box whose IoU with a kept box of the same class is strictly greater than this */
  maxOverlap: number;
  /** keep at most this many detections over all classes (by score) */
  topK: number;
}

const f = Math.fround;

/**
 * Row-wise softmax in float32 as torch's CPU kernel computes it: exp(x − max), sum, multiply by 1/sum.
 * @param logits Float32Array [n * c]
 * @returns new Float32Array [n * c]
 */
export function softmaxRows(logits: Float32Array, c: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length; r += c) {
    let max = -Infinity;
    for (let k = 0; k < c; k++) max = Math.max(max, logits[r + k]);
    let sum = 0;
    for (let k = 0; k < c; k++) {
      const e = f(Math.exp(f(logits[r + k] - max)));
      out[r + k] = e;
      sum = f(sum + e);
    }
    const inv = f(1 / sum);
    for (let k = 0; k < c; k++) out[r + k] = out[r + k] * inv;
  }
  return out;
}

/**
 * Greedy NMS of the reference over boxes already sorted by score (best first), float32 IoU arithmetic as
 * `find_jaccard_overlap`, stopping once `maxKept` boxes are kept (the later ones are then flagged suppressed).
 * @param sorted Float32Array [n * 4] xyxy
 * @returns suppress flags [n] (1 = suppressed)
 */
function greedyNms(sorted: Float32Array, n: number, maxOverlap: number, maxKept = n): Uint8Array {
  const x0 = new Float32Array(n),
    y0 = new Float32Array(n),
    x1 = new Float32Array(n),
    y1 = new Float32Array(n);
  const area = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    x0[k] = sorted[k * 4];
    y0[k] = sorted[k * 4 + 1];
    x1[k] = sorted[k * 4 + 2];
    y1[k] = sorted[k * 4 + 3];
    area[k] = f(x1[k] - x0[k]) * f(y1[k] - y0[k]);
  }
  // The reference ORs `overlap[k] > max_overlap` into all n flags for each unsuppressed k in order. Flags of
  // earlier boxes cannot change (IoU is symmetric, so a kept earlier box m would already have suppressed k), and
  // suppressed flags stay set: so keep a compacted list of the later, still unsuppressed boxes and filter it.
  const suppress = new Uint8Array(n).fill(1);
  let alive = new Int32Array(n).map((_, i) => i);
  let nAlive = n;
  let next = new Int32Array(n);
  for (let nKept = 0; nAlive > 0 && nKept < maxKept; nKept++) {
    const k = alive[0];
    suppress[k] = 0;
    const ax0 = x0[k], ay0 = y0[k], ax1 = x1[k], ay1 = y1[k], areaK = area[k];
    let kept = 0;
    for (let a = 1; a < nAlive; a++) {
      const m = alive[a];
      const iw = f(Math.min(ax1, x1[m]) - Math.max(ax0, x0[m]));
      const ih = f(Math.min(ay1, y1[m]) - Math.max(ay0, y0[m]));
      // no intersection: IoU 0 (or NaN for empty boxes), never > maxOverlap ≥ 0
      if (iw > 0 && ih > 0) {
        const inter = f(iw * ih);
        if (f(inter / f(f(areaK + area[m]) - inter)) > maxOverlap) continue; // suppressed
      }
      next[kept++] = m;
    }
    [alive, next] = [next, alive];
    nAlive = kept;
  }
  return suppress;
}

/** Indices sorted by score descending; ties keep ascending index order (a stable sort, as torch's CPU sort). */
function argsortDescending(scores: ArrayLike<number>, idx: number[]): number[] {
  return idx.sort((a, b) => scores[b] - scores[a] || a - b);
}

/**
 * Detections for one image (`detect_objects`): softmax over classes; for each class 1..C−1 keep priors whose
 * score > minScore, sort them by score descending, greedy NMS (suppress IoU > maxOverlap); concatenate classes in
 * class order; only when more than topK survive, sort all by score and keep topK. When nothing survives, returns
 * the reference's single background detection box [0, 0, 1, 1], class 0, score 0.
 *
 * @param locs Float32Array [nPriors * 4] predicted offsets for one image
 * @param scores Float32Array [nPriors * nClasses] class logits (before softmax) for one image
 * @param nClasses number of classes including background (21 for VOC, 2 for person)
 * @param priorsCxcy Float32Array [nPriors * 4]; default the reference's 8732 SSD300 priors — pass
 *   `priorsCxcyFor(model.priorSet)` for a model's own prior set
 */
export function detectObjects(
  locs: Float32Array,
  scores: Float32Array,
  nClasses: number,
  opts: DetectOptions,
  priorsCxcy: Float32Array = priorsCxcyFor(),
): Detection[] {
  const nPriors = priorsCxcy.length / 4;
  if (locs.length !== nPriors * 4) {
    throw new RangeError(`detectObjects: locs has ${locs.length} values, expected ${nPriors} × 4`);
  }
  if (scores.length !== nPriors * nClasses) {
    throw new RangeError(
      `detectObjects: scores has ${scores.length} values, expected ${nPriors} × ${nClasses} classes`,
    );
  }
  const probs = softmaxRows(scores, nClasses); // [nPriors, nClasses]
  const boxes = cxcyToXyxy(decodeOffsets(locs, priorsCxcy)); // [nPriors, 4] fractional xyxy
  // torch compares a float32 tensor with a Python float after casting the scalar to float32
  if (!(opts.maxOverlap >= 0)) {
    throw new RangeError(`detectObjects: maxOverlap must be ≥ 0, got ${opts.maxOverlap}`);
  }
  const minScore = f(opts.minScore);
  const maxOverlap = f(opts.maxOverlap);

  const out: Detection[] = [];
  const classScores = new Float32Array(nPriors);
  for (let c = 1; c < nClasses; c++) {
    const above: number[] = [];
    for (let p = 0; p < nPriors; p++) {
      classScores[p] = probs[p * nClasses + c];
      if (classScores[p] > minScore) above.push(p);
    }
    if (above.length === 0) continue;
    const order = argsortDescending(classScores, above); // prior indices, best first
    const n = order.length;
    const sorted = new Float32Array(n * 4); // [n, 4] boxes in score order
    for (let k = 0; k < n; k++) sorted.set(boxes.subarray(order[k] * 4, order[k] * 4 + 4), k * 4);
    // NMS stops after topK survivors: a class's later ones cannot reach the image's top k (its first topK all
    // rank before them, ties included, in the stable sort below); and where that leaves exactly topK in all,
    // they are one class's in score order, which the reference's sort would not change
    const suppress = greedyNms(sorted, n, maxOverlap, opts.topK);
    for (let k = 0; k < n; k++) {
      if (suppress[k]) continue;
      out.push({
        box: [sorted[k * 4], sorted[k * 4 + 1], sorted[k * 4 + 2], sorted[k * 4 + 3]],
        classId: c,
        score: classScores[order[k]],
      });
    }
  }
  if (out.length === 0) return [{ box: [0, 0, 1, 1], classId: 0, score: 0 }];
  if (out.length > opts.topK) {
    const idx = argsortDescending(out.map((d) => d.score), out.map((_, i) => i));
    return idx.slice(0, opts.topK).map((i) => out[i]);
  }
  return out;
}

/**
 * Detections for each image of a batch (the reference's `detect_objects` loop over the batch): {@link detectObjects}
 * on each image's slice of the batch's outputs.
 * @param locs Float32Array [n * nPriors * 4] predicted offsets of n images
 * @param scores Float32Array [n * nPriors * nClasses] class logits of the same images
 * @param priorsCxcy Float32Array [nPriors * 4]; default the reference's priors (see {@link detectObjects})
 * @returns per image its detections, in batch order
 */
export function detectObjectsBatch(
  locs: Float32Array,
  scores: Float32Array,
  nClasses: number,
  opts: DetectOptions,
  priorsCxcy: Float32Array = priorsCxcyFor(),
): Detection[][] {
  const perImage = priorsCxcy.length; // nPriors * 4 offsets per image
  const n = locs.length / perImage;
  if (!Number.isInteger(n)) {
    throw new RangeError(
      `detectObjectsBatch: locs has ${locs.length} values, not a multiple of ${perImage / 4} × 4`,
    );
  }
  const nPriors = perImage / 4;
  return Array.from({ length: n }, (_, i) =>
    detectObjects(
      locs.subarray(i * nPriors * 4, (i + 1) * nPriors * 4), // [nPriors, 4]
      scores.subarray(i * nPriors * nClasses, (i + 1) * nPriors * nClasses), // [nPriors, nClasses]
      nClasses,
      opts,
      priorsCxcy,
    ));
}
