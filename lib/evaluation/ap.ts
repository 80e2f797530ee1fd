/**
 * Single-category average precision, exactly as pycocotools' `COCOeval` (iouType "bbox", maxDets [1, 10, 100],
 * area range "all") computes it (PASCAL VOC AP, the alternative, is lib/evaluation/voc.ts).
 *
 * Everything here works on pixel boxes in COCO layout (x, y, width, height) and plain JS numbers (float64), so
 * that the float operations happen in the same order as numpy's and the results agree with pycocotools to the
 * last few ulps (see `tests/parity/ap_test.ts`: 40 golden cases within 1e-9). lib/evaluation/bootstrap.ts
 * reuses its per-image evaluation and ranked accumulation.
 *
 * The steps, as in `cocoeval.py` (`evaluateImg`, `accumulate`, `summarize`) and `maskApi.c` (`bbIou`):
 * 1. per image: ground truths stable-sorted so that ignored ones (crowd, or area outside the range) go last;
 *    detections stable-sorted by decreasing score and cut at maxDet;
 * 2. per IoU threshold t, greedy matching: each detection in score order takes the unmatched (or crowd) ground
 *    truth with the highest IoU ≥ min(t, 1 − 1e-10), stopping at the first ignored ground truth once it holds a
 *    non-ignored match; a detection matched to an ignored ground truth, or unmatched and outside the area range,
 *    is ignored;
 * 3. all images' detections concatenated (image ids ascending) and stable-sorted by decreasing score; cumulative
 *    TP/FP; recall = TP / #non-ignored gt; precision = TP / (TP + FP + eps); precision envelope (running max from
 *    the right); precision sampled at 101 recall thresholds (`searchsorted(..., side="left")`, 0 past the end);
 * 4. AP = mean of the sampled precision (numpy pairwise summation), AR = mean over IoU thresholds of final recall.
 * @module
 */

/** COCO bbox in pixels: [x_min, y_min, width, height]. */
export type XywhBox = [number, number, number, number];

/** One ground-truth object (COCO annotation, single category). */
export interface CocoGt {
  image_id: number;
  /** Pixel [x, y, w, h]. */
  bbox: XywhBox;
  /** 1 for a crowd region: it is ignored, can match many detections, and its IoU is intersection / det area. */
  iscrowd?: 0 | 1;
  /** Object area used for the area range; pycocotools takes it from the annotation (default here: w × h). */
  area?: number;
}

/** One detection (COCO results entry, single category). */
export interface CocoDet {
  image_id: number;
  /** Pixel [x, y, w, h]. */
  bbox: XywhBox;
  /** Confidence; higher first. */
  score: number;
}

/**
 * `np.linspace(start, stop, num)` bit for bit: `i * step + start` with `step = (stop - start) / (num - 1)`, and the
 * last value set to `stop` exactly.
 */
export function numpyLinspace(start: number, stop: number, num: number): number[] {
  if (num <= 0) return [];
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(i * step + start);
  out[num - 1] = stop;
  return out;
}

/** `Params.iouThrs`: `np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1)` — 10 values (0.9 is 0.8999999999999999). */
export const COCO_IOU_THRESHOLDS: readonly number[] = Object.freeze(
  numpyLinspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1),
);
/** `Params.recThrs`: `np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1)` — 101 recall thresholds. */
export const COCO_RECALL_THRESHOLDS: readonly number[] = Object.freeze(
  numpyLinspace(0, 1, Math.round((1 - 0) / 0.01) + 1),
);
/** `Params.maxDets` for bbox evaluation. */
export const COCO_MAX_DETS: readonly number[] = Object.freeze([1, 10, 100]);
/** `Params.areaRng` "all": [0 ** 2, 1e5 ** 2] square pixels. */
export const COCO_AREA_ALL: readonly [number, number] = Object.freeze([0 ** 2, 1e5 ** 2]) as readonly [
  number,
  number,
];
/** `np.spacing(1)`, added to TP + FP in the precision denominator by `accumulate`. */
const NP_SPACING_1 = Number.EPSILON;
/** numpy's pairwise summation block size (`PW_BLOCKSIZE` in loops_utils.h). */
const NUMPY_PW_BLOCKSIZE = 128;

/**
 * numpy's `pairwise_sum` for float64 (what `np.sum`/`np.mean` use on a contiguous 1-D array): fewer than 8 values
 * summed left to right; up to 128 with 8 interleaved accumulators combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))
 * and the remainder added in order; longer arrays split at a multiple of 8 near the middle.
 */
export function numpyPairwiseSum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i];
    return res;
  }
  if (n <= NUMPY_PW_BLOCKSIZE) {
    const r = [0, 1, 2, 3, 4, 5, 6, 7].map((j) => a[start + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
    }
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return numpyPairwiseSum(a, start, n2) + numpyPairwiseSum(a, start + n2, n - n2);
}

/** `np.mean` of a 1-D float64 array: pairwise sum (added to the identity 0) divided by the count. NaN if empty. */
export function numpyMean(a: ArrayLike<number>): number {
  return (0 + numpyPairwiseSum(a)) / a.length;
}

/**
 * IoU of two pixel xywh boxes as `maskApi.c` `bbIou` computes it (no +1): intersection / union, or
 * intersection / detection area when the ground truth is a crowd region. 0 when they do not overlap.
 */
export function bboxIou(dt: readonly number[], gt: readonly number[], gtIsCrowd = false): number {
  const w = Math.min(dt[2] + dt[0], gt[2] + gt[0]) - Math.max(dt[0], gt[0]);
  if (w <= 0) return 0;
  const h = Math.min(dt[3] + dt[1], gt[3] + gt[1]) - Math.max(dt[1], gt[1]);
  if (h <= 0) return 0;
  const i = w * h;
  const da = dt[2] * dt[3];
  const u = gtIsCrowd ? da : da + gt[2] * gt[3] - i;
  return i / u;
}

/** Options of {@link evaluateCoco}; defaults are pycocotools' bbox defaults for one category. */
export interface CocoEvalOptions {
  /**
   * The images evaluated (pycocotools: the ground-truth file's image list). Detections on other images are an
   * error, as in `COCO.loadRes`. Default: every image id that occurs in `gts` or `dets`.
   */
  imageIds?: readonly number[];
  /** Max detections per image, ascending; the last one is used for matching and AP. Default [1, 10, 100]. */
  maxDets?: readonly number[];
  /** Area range [min, max] in square pixels; objects outside are ignored. Default "all" = [0, 1e10]. */
  areaRange?: readonly [number, number];
  /** Default {@link COCO_IOU_THRESHOLDS}. */
  iouThresholds?: readonly number[];
  /** Default {@link COCO_RECALL_THRESHOLDS}. */
  recallThresholds?: readonly number[];
}

/** {@link CocoEvalOptions} with pycocotools' defaults filled in (maxDets ascending). */
export function resolveCocoOptions(
  opts: CocoEvalOptions,
): {
  maxDets: number[];
  areaRange: readonly [number, number];
  iouThresholds: number[];
  recallThresholds: number[];
} {
  return {
    maxDets: [...(opts.maxDets ?? COCO_MAX_DETS)].sort((a, b) => a - b),
    areaRange: opts.areaRange ?? COCO_AREA_ALL,
    iouThresholds: [...(opts.iouThresholds ?? COCO_IOU_THRESHOLDS)],
    recallThresholds: [...(opts.recallThresholds ?? COCO_RECALL_THRESHOLDS)],
  };
}

/**
 * The evaluated image ids, ascending and unique (`np.unique`): `imageIds` when given, else every id in `gts` or
 * `dets`.
 * @throws RangeError when a detection's image is not among them (as `COCO.loadRes`)
 */
export function evaluatedImageIds(
  gts: readonly CocoGt[],
  dets: readonly CocoDet[],
  imageIds?: readonly number[],
): number[] {
  const ids = new Set(imageIds ?? [...gts.map((g) => g.image_id), ...dets.map((d) => d.image_id)]);
  const stray = dets.find((d) => !ids.has(d.image_id));
  if (stray) {
    throw new RangeError(`detection on image ${stray.image_id}, which is not among the evaluated images`);
  }
  return [...ids].sort((a, b) => a - b);
}

/** What {@link evaluateCoco} reports. Values are −1 (as pycocotools) when there is no non-ignored ground truth. */
export interface CocoEvalResult {
  /** AP at IoU 0.5, maxDets 100. */
  ap50: number;
  /** AP at IoU 0.75, maxDets 100. */
  ap75: number;
  /** AP averaged over IoU 0.50:0.05:0.95, maxDets 100. */
  ap: number;
  /** AR (recall averaged over the IoU thresholds) with 1, 10, 100 detections per image. */
  ar1: number;
  ar10: number;
  ar100: number;
  iouThresholds: number[];
  recallThresholds: number[];
  /** [T][R] interpolated precision at each IoU and recall threshold for the largest maxDet (−1: no gt). */
  precision: number[][];
  /** [T] final recall for the largest maxDet (−1: no gt). */
  recall: number[];
  /** Number of images evaluated. */
  nImages: number;
  /** Ground truths that count (not crowd, inside the area range). */
  nGt: number;
  /** Ground truths that are ignored (crowd or outside the area range). */
  nGtIgnored: number;
  /** Detections given. */
  nDetections: number;
  /** Detections evaluated (after the per-image cut at the largest maxDet). */
  nDetectionsEvaluated: number;
}

/** Per-image matching result (pycocotools `evaluateImg` output), detections in score order. */
export interface ImageEval {
  dtScores: number[];
  /** [T][D] matched to some gt. */
  dtMatched: Uint8Array[];
  /** [T][D] ignored. */
  dtIgnore: Uint8Array[];
  /** [G] ignore flags (sorted, ignored last). */
  gtIgnore: Uint8Array;
  /** [T][G] matched to some detection (pycocotools `gtMatches` ≠ 0), gt in sorted order. */
  gtMatched: Uint8Array[];
  /** Index into the given `gts` of each sorted gt, and into `dets` of each kept detection (`gtIds`, `dtIds`). */
  gtOrder: number[];
  dtOrder: number[];
}

/** Stable argsort of `keys` ascending (numpy `argsort(kind="mergesort")`; JS sort is stable). */
export function stableArgsort(keys: readonly number[]): number[] {
  return keys.map((_, i) => i).sort((a, b) => {
    const ka = keys[a], kb = keys[b];
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

/**
 * pycocotools `evaluateImg` for one image and one area range: sorts ground truths (ignored last) and detections
 * (decreasing score, cut at `maxDet`) and matches them greedily at each IoU threshold (module doc, steps 1–2).
 */
export function evaluateImage(
  gts: readonly CocoGt[],
  dets: readonly CocoDet[],
  areaRange: readonly [number, number],
  maxDet: number,
  iouThresholds: readonly number[],
): ImageEval {
  const gtIgnoreRaw = gts.map((g) => {
    const area = g.area ?? g.bbox[2] * g.bbox[3];
    return g.iscrowd || area < areaRange[0] || area > areaRange[1] ? 1 : 0;
  });
  const gtOrder = stableArgsort(gtIgnoreRaw); // ignored last
  const gt = gtOrder.map((i) => gts[i]);
  const gtIgnore = Uint8Array.from(gtOrder.map((i) => gtIgnoreRaw[i]));
  const crowd = gt.map((g) => g.iscrowd === 1);
  const dtOrder = stableArgsort(dets.map((d) => -d.score)).slice(0, maxDet);
  const dt = dtOrder.map((i) => dets[i]);
  const T = iouThresholds.length, G = gt.length, D = dt.length;
  // ious[d][g] — [D, G]
  const ious = dt.map((d) => gt.map((g, gi) => bboxIou(d.bbox, g.bbox, crowd[gi])));
  const dtMatched: Uint8Array[] = [];
  const dtIgnore: Uint8Array[] = [];
  const gtMatched: Uint8Array[] = [];
  for (let t = 0; t < T; t++) {
    const gtm = new Uint8Array(G);
    const dtm = new Uint8Array(D);
    const dtIg = new Uint8Array(D);
    if (G > 0) {
      for (let d = 0; d < D; d++) {
        let iou = Math.min(iouThresholds[t], 1 - 1e-10);
        let m = -1;
        for (let g = 0; g < G; g++) {
          if (gtm[g] && !crowd[g]) continue; // already matched and not a crowd
          if (m > -1 && gtIgnore[m] === 0 && gtIgnore[g] === 1) break; // matched a real gt: stop at the ignored
          if (ious[d][g] < iou) continue;
          iou = ious[d][g];
          m = g;
        }
        if (m === -1) continue;
        dtIg[d] = gtIgnore[m];
        dtm[d] = 1;
        gtm[m] = 1;
      }
    }
    for (let d = 0; d < D; d++) {
      const area = dt[d].bbox[2] * dt[d].bbox[3]; // COCO.loadRes: area = w * h
      if (!dtm[d] && (area < areaRange[0] || area > areaRange[1])) dtIg[d] = 1;
    }
    dtMatched.push(dtm);
    dtIgnore.push(dtIg);
    gtMatched.push(gtm);
  }
  return { dtScores: dt.map((d) => d.score), dtMatched, dtIgnore, gtIgnore, gtMatched, gtOrder, dtOrder };
}

/** First index i with sorted[i] >= value (`np.searchsorted(sorted, value, side="left")`). */
function searchsortedLeft(sorted: ArrayLike<number>, value: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The detections of all images in the order `accumulate` ranks them: the first `maxDet` of each image
 * concatenated (images in `evals` order), stable-sorted by decreasing score (`np.argsort(-dtScores,
 * kind="mergesort")`). Entry i is detection `det[i]` (score order within its image) of image `image[i]`.
 */
export function rankDetections(
  evals: readonly ImageEval[],
  maxDet: number,
): { image: Int32Array; det: Int32Array } {
  const scores: number[] = [];
  const ownerImage: number[] = []; // image (index into evals) of each concatenated entry
  const ownerDet: number[] = []; // detection index within that image
  evals.forEach((e, ei) => {
    const n = Math.min(maxDet, e.dtScores.length);
    for (let d = 0; d < n; d++) {
      scores.push(-e.dtScores[d]);
      ownerImage.push(ei);
      ownerDet.push(d);
    }
  });
  const order = stableArgsort(scores);
  return {
    image: Int32Array.from(order, (i) => ownerImage[i]),
    det: Int32Array.from(order, (i) => ownerDet[i]),
  };
}

/** Ground truths of `evals` that are not ignored (pycocotools `npig`). */
export function countNonIgnoredGt(evals: readonly ImageEval[]): number {
  let npig = 0;
  for (const e of evals) for (const ig of e.gtIgnore) if (ig === 0) npig++;
  return npig;
}

/**
 * The accumulation of `accumulate` for one k/a/m over detections already ranked (see {@link rankDetections}):
 * cumulative TP/FP, recall = TP / npig, precision = TP / (TP + FP + eps), precision envelope, precision sampled at
 * the recall thresholds. `npig` > 0.
 */
export function accumulateRanked(
  evals: readonly ImageEval[],
  ranked: { image: Int32Array; det: Int32Array },
  npig: number,
  T: number,
  recallThresholds: readonly number[],
): { precision: number[][]; recall: number[] } {
  const R = recallThresholds.length;
  const nd = ranked.image.length;
  const precision: number[][] = [];
  const recall: number[] = [];
  const rc = new Float64Array(nd);
  const pr = new Float64Array(nd);
  for (let t = 0; t < T; t++) {
    let tp = 0, fp = 0;
    const dtMatched = evals.map((e) => e.dtMatched[t]), dtIgnore = evals.map((e) => e.dtIgnore[t]);
    for (let i = 0; i < nd; i++) {
      const ei = ranked.image[i], d = ranked.det[i];
      const matched = dtMatched[ei][d], ignored = dtIgnore[ei][d];
      if (matched && !ignored) tp++;
      if (!matched && !ignored) fp++;
      rc[i] = tp / npig;
      pr[i] = tp / (fp + tp + NP_SPACING_1);
    }
    recall.push(nd ? rc[nd - 1] : 0);
    for (let i = nd - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i]; // precision envelope
    const q = new Array<number>(R).fill(0);
    for (let r = 0; r < R; r++) {
      const pi = searchsortedLeft(rc, recallThresholds[r]);
      if (pi >= nd) break; // pycocotools: IndexError caught, the rest stay 0
      q[r] = pr[pi];
    }
    precision.push(q);
  }
  return { precision, recall };
}

/** Precision at recall thresholds and final recall for one maxDet (pycocotools `accumulate`, one k/a/m). */
function accumulate(
  evals: readonly ImageEval[],
  maxDet: number,
  T: number,
  recallThresholds: readonly number[],
): { precision: number[][]; recall: number[] } {
  const npig = countNonIgnoredGt(evals);
  if (npig === 0) {
    return {
      precision: Array.from({ length: T }, () => new Array(recallThresholds.length).fill(-1)),
      recall: new Array(T).fill(-1),
    };
  }
  return accumulateRanked(evals, rankDetections(evals, maxDet), npig, T, recallThresholds);
}

/** Mean of the entries > −1 (pycocotools `_summarize`), −1 when there are none. */
export function meanValid(values: readonly number[]): number {
  const valid = values.filter((v) => v > -1);
  return valid.length === 0 ? -1 : numpyMean(valid);
}

/** Items (ground truths, detections) by `image_id`, each list in input order. */
export function groupByImage<T extends { image_id: number }>(items: readonly T[]): Map<number, T[]> {
  const map = new Map<number, T[]>();
  for (const item of items) {
    const list = map.get(item.image_id);
    if (list) list.push(item);
    else map.set(item.image_id, [item]);
  }
  return map;
}

/**
 * Single-category COCO bbox evaluation, as pycocotools `COCOeval.evaluate(); accumulate(); summarize()` with
 * `params.catIds = [that category]`. Inputs are not modified.
 * @throws RangeError when a detection's image is not among `opts.imageIds`.
 */
export function evaluateCoco(
  gts: readonly CocoGt[],
  dets: readonly CocoDet[],
  opts: CocoEvalOptions = {},
): CocoEvalResult {
  const { maxDets, areaRange, iouThresholds, recallThresholds } = resolveCocoOptions(opts);
  const imageIds = evaluatedImageIds(gts, dets, opts.imageIds);
  const imageIdSet = new Set(imageIds);
  const gtByImage = groupByImage(gts.filter((g) => imageIdSet.has(g.image_id)));
  const dtByImage = groupByImage(dets);
  const T = iouThresholds.length;
  const maxDet = maxDets[maxDets.length - 1];
  const evals: ImageEval[] = [];
  let nGt = 0, nGtIgnored = 0, nDetectionsEvaluated = 0;
  for (const id of imageIds) {
    const g = gtByImage.get(id) ?? [], d = dtByImage.get(id) ?? [];
    if (g.length === 0 && d.length === 0) continue; // evaluateImg returns None
    const e = evaluateImage(g, d, areaRange, maxDet, iouThresholds);
    for (const ig of e.gtIgnore) ig ? nGtIgnored++ : nGt++;
    nDetectionsEvaluated += e.dtScores.length;
    evals.push(e);
  }
  const byMaxDet = maxDets.map((m) => accumulate(evals, m, T, recallThresholds));
  const last = byMaxDet[byMaxDet.length - 1];
  const atIou = (thr: number) => {
    const t = iouThresholds.indexOf(thr); // `np.where(iouThr == p.iouThrs)`: exact equality
    return t < 0 ? -1 : meanValid(last.precision[t]);
  };
  const arAt = (m: number) => {
    const k = maxDets.indexOf(m);
    return k < 0 ? -1 : meanValid(byMaxDet[k].recall);
  };
  return {
    ap50: atIou(0.5),
    ap75: atIou(0.75),
    ap: meanValid(last.precision.flat()),
    ar1: arAt(1),
    ar10: arAt(10),
    ar100: arAt(100),
    iouThresholds,
    recallThresholds,
    precision: last.precision,
    recall: last.recall,
    nImages: imageIds.length,
    nGt,
    nGtIgnored,
    nDetections: dets.length,
    nDetectionsEvaluated,
  };
}

/**
 * The COCO precision–recall curve at one IoU threshold: `[recall threshold, interpolated precision]` for the 101
 * recall thresholds (precision 0 beyond the highest recall reached). Empty when that threshold was not evaluated
 * or there is no ground truth.
 */
export function prCurveAt(result: CocoEvalResult, iouThreshold: number): [number, number][] {
  const t = result.iouThresholds.indexOf(iouThreshold);
  if (t < 0 || result.precision[t].every((p) => p === -1)) return [];
  return result.recallThresholds.map((r, i) => [r, result.precision[t][i]]);
}
