/**
 * Bootstrap confidence intervals for COCO AP (lib/evaluation/ap.ts), with the test *image* as the resampling unit: a
 * resample draws n of the n test images with replacement and evaluates them as if every copy were a distinct
 * image (own ground truths, own detections). The 95% interval is the percentile interval of B resamples
 * (numpy's default "linear" quantile). A paired bootstrap of two runs on the same images uses the same draws for
 * both, so that the interval of the difference reflects only how the two models differ on the same pictures.
 *
 * Why hand-written: no maintained npm library bootstraps a ranking metric such as COCO AP, and the interval has
 * to come from the same pycocotools-exact code as the point value. Speed comes from doing the per-image work
 * once: the matching (`evaluateImg`) of an image does not depend on which other images are drawn, and the ranking
 * of a resample follows from one global ranking. Equal scores are ranked as `accumulate` ranks the explicitly
 * resampled set (copies of an image consecutive, images in id order; see {@link resampleRanking}), so a resample's
 * AP equals `evaluateCoco` on that set bit for bit (tests/evaluation/bootstrap_test.ts checks it).
 * @module
 */
import { Rng } from "../core/rng.ts";
import {
  accumulateRanked,
  type CocoDet,
  type CocoEvalOptions,
  type CocoGt,
  evaluatedImageIds,
  evaluateImage,
  groupByImage,
  type ImageEval,
  meanValid,
  rankDetections,
  resolveCocoOptions,
} from "./ap.ts";
import type { CocoGroundTruth } from "../data/mod.ts";
import { type ApJson, type BootstrapSettings, type CocoResult, cocoToEvalInputs } from "./coco_files.ts";

/** Default number of resamples (`deno task ap --bootstrap`). */
export const BOOTSTRAP_RESAMPLES = 1000;
/** Default seed of the resampling. */
export const BOOTSTRAP_SEED = 0;
/** Coverage of the intervals. */
export const BOOTSTRAP_CONFIDENCE = 0.95;

/** The three AP values an interval is computed for (maxDets 100, area all). */
export interface ApTriple {
  ap50: number;
  ap75: number;
  ap: number;
}
/** A closed interval [lo, hi]. */
export type Interval = [number, number];
/** Intervals of the three AP values. */
export interface ApIntervals {
  ap50: Interval;
  ap75: Interval;
  ap: Interval;
}

/**
 * One run's evaluation split by image, computed once: what every resample re-accumulates. `evals[i]` is image
 * `imageIds[i]`'s `evaluateImg` result; an image with neither ground truth nor detections (pycocotools skips it)
 * has an empty one, which adds nothing when drawn.
 */
export interface PerImageEval {
  imageIds: number[];
  evals: ImageEval[];
  /** Non-ignored ground truths per image (`npig` of that image). */
  nGt: Int32Array;
  iouThresholds: number[];
  recallThresholds: number[];
  maxDet: number;
  /**
   * The global ranking cut into blocks: entries of one image with one score, in `accumulate`'s order. Block k
   * covers ranking entries [blockStart[k], blockStart[k + 1]) and belongs to image index blockImage[k].
   */
  ranking: { image: Int32Array; det: Int32Array; blockStart: Int32Array; blockImage: Int32Array };
}

/**
 * Matches detections to ground truths image by image, as `evaluateCoco` does (same options; only the largest
 * maxDet matters here), and ranks all detections once.
 * @param opts.imageIds the test images (default: every image id in `gts` or `dets`)
 */
export function evaluatePerImage(
  gts: readonly CocoGt[],
  dets: readonly CocoDet[],
  opts: CocoEvalOptions = {},
): PerImageEval {
  const { maxDets, areaRange, iouThresholds, recallThresholds } = resolveCocoOptions(opts);
  const maxDet = maxDets[maxDets.length - 1];
  const imageIds = evaluatedImageIds(gts, dets, opts.imageIds);
  const gtByImage = groupByImage(gts), dtByImage = groupByImage(dets);
  // An image without ground truth and detections gets an empty evaluation: as if pycocotools skipped it.
  const evals = imageIds.map((id) =>
    evaluateImage(gtByImage.get(id) ?? [], dtByImage.get(id) ?? [], areaRange, maxDet, iouThresholds)
  );
  const nGt = Int32Array.from(evals, (e) => e.gtIgnore.reduce((n, ig) => n + (ig === 0 ? 1 : 0), 0));
  // Rank once over all images (in id order), then cut into blocks of one image and one score.
  const { image, det } = rankDetections(evals, maxDet);
  const starts: number[] = [], owners: number[] = [];
  for (let r = 0; r < image.length; r++) {
    const score = evals[image[r]].dtScores[det[r]];
    if (r === 0 || image[r] !== image[r - 1] || score !== evals[image[r - 1]].dtScores[det[r - 1]]) {
      starts.push(r);
      owners.push(image[r]);
    }
  }
  starts.push(image.length);
  return {
    imageIds,
    evals,
    nGt,
    iouThresholds,
    recallThresholds,
    maxDet,
    ranking: {
      image,
      det,
      blockStart: Int32Array.from(starts),
      blockImage: Int32Array.from(owners),
    },
  };
}

/**
 * The ranking `accumulate` gives the resampled set in which image index i appears `counts[i]` times (copies
 * consecutive, images in id order): each block of the global ranking repeated `counts[its image]` times. Within
 * a run of equal scores `accumulate`'s stable sort keeps concatenation order, i.e. (image, copy, detection),
 * which is exactly this.
 */
export function resampleRanking(
  data: PerImageEval,
  counts: Int32Array,
): { image: Int32Array; det: Int32Array } {
  const { image, det, blockStart, blockImage } = data.ranking;
  let n = 0;
  for (let k = 0; k < blockImage.length; k++) {
    n += counts[blockImage[k]] * (blockStart[k + 1] - blockStart[k]);
  }
  const outImage = new Int32Array(n), outDet = new Int32Array(n);
  let o = 0;
  for (let k = 0; k < blockImage.length; k++) {
    const c = counts[blockImage[k]];
    if (c === 0) continue;
    const s = blockStart[k], e = blockStart[k + 1];
    for (let copy = 0; copy < c; copy++) {
      for (let r = s; r < e; r++, o++) {
        outImage[o] = image[r];
        outDet[o] = det[r];
      }
    }
  }
  return { image: outImage, det: outDet };
}

/**
 * AP@0.5, AP@0.75 and AP@[.5:.95] of a resample (image index i drawn `counts[i]` times); all −1 when it holds no
 * non-ignored ground truth, as pycocotools.
 */
export function resampleAp(data: PerImageEval, counts: Int32Array): ApTriple {
  let npig = 0;
  for (let i = 0; i < counts.length; i++) npig += counts[i] * data.nGt[i];
  if (npig === 0) return { ap50: -1, ap75: -1, ap: -1 };
  const T = data.iouThresholds.length;
  const { precision } = accumulateRanked(
    data.evals,
    resampleRanking(data, counts),
    npig,
    T,
    data.recallThresholds,
  );
  const at = (thr: number) => {
    const t = data.iouThresholds.indexOf(thr);
    return t < 0 ? -1 : meanValid(precision[t]);
  };
  return { ap50: at(0.5), ap75: at(0.75), ap: meanValid(precision.flat()) };
}

/** Every image once: the original test set. */
export function identityCounts(nImages: number): Int32Array {
  return new Int32Array(nImages).fill(1);
}

/**
 * `resamples` seeded draws of `nImages` images with replacement, as multiplicities: draw b gives image index i
 * `counts[b][i]` times (Σ = nImages). The same seed gives the same draws, so two runs on the same test images
 * can share them (paired bootstrap).
 */
export function drawResamples(nImages: number, resamples: number, seed: number): Int32Array[] {
  if (!(Number.isInteger(resamples) && resamples >= 0)) {
    throw new RangeError(`resamples must be an integer ≥ 0, got ${resamples}`);
  }
  const rng = new Rng(seed);
  return Array.from({ length: resamples }, () => {
    const counts = new Int32Array(nImages);
    for (let k = 0; k < nImages; k++) counts[rng.int(nImages)]++;
    return counts;
  });
}

/** numpy `np.quantile(values, q)` (method "linear") of unsorted values; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** The central `confidence` percentile interval of the samples. */
export function percentileInterval(samples: readonly number[], confidence = BOOTSTRAP_CONFIDENCE): Interval {
  const tail = (1 - confidence) / 2;
  return [quantile(samples, tail), quantile(samples, 1 - tail)];
}

/** Options of the bootstrap functions. */
export interface BootstrapOptions {
  /** Number of resamples B (default {@link BOOTSTRAP_RESAMPLES}). */
  resamples?: number;
  /** Seed of the draws (default {@link BOOTSTRAP_SEED}). */
  seed?: number;
  /** Coverage (default {@link BOOTSTRAP_CONFIDENCE}). */
  confidence?: number;
}

/** What {@link bootstrapAp} returns. */
export interface BootstrapResult {
  /** The values on the test set itself. */
  point: ApTriple;
  /** Percentile intervals over the resamples that hold ground truth; null when none does. */
  intervals: ApIntervals | null;
  resamples: number;
  /** Resamples with ground truth (the others have no AP and are left out). */
  validResamples: number;
  seed: number;
  confidence: number;
}

function intervalsOf(samples: ApTriple[], confidence: number): ApIntervals | null {
  if (samples.length === 0) return null;
  return {
    ap50: percentileInterval(samples.map((s) => s.ap50), confidence),
    ap75: percentileInterval(samples.map((s) => s.ap75), confidence),
    ap: percentileInterval(samples.map((s) => s.ap), confidence),
  };
}

/** Bootstrap intervals of one run's AP values, resampling its test images. */
export function bootstrapAp(data: PerImageEval, opts: BootstrapOptions = {}): BootstrapResult {
  const resamples = opts.resamples ?? BOOTSTRAP_RESAMPLES, seed = opts.seed ?? BOOTSTRAP_SEED;
  const confidence = opts.confidence ?? BOOTSTRAP_CONFIDENCE;
  const samples = drawResamples(data.imageIds.length, resamples, seed).map((c) => resampleAp(data, c))
    .filter((s) => s.ap > -1);
  return {
    point: resampleAp(data, identityCounts(data.imageIds.length)),
    intervals: intervalsOf(samples, confidence),
    resamples,
    validResamples: samples.length,
    seed,
    confidence,
  };
}

/** What {@link pairedBootstrap} returns: AP(b) − AP(a) on the test set and its intervals. */
export interface PairedBootstrapResult extends BootstrapResult {
  /** The differences b − a on the test set. */
  point: ApTriple;
  /** Intervals of the differences. */
  intervals: ApIntervals | null;
}

/**
 * Paired bootstrap of AP(b) − AP(a) for two runs on the same test images: each resample draws the images once
 * and evaluates both runs on that draw.
 * @throws RangeError when the runs were evaluated on different images or different ground truth counts
 */
export function pairedBootstrap(
  a: PerImageEval,
  b: PerImageEval,
  opts: BootstrapOptions = {},
): PairedBootstrapResult {
  const same = a.imageIds.length === b.imageIds.length && a.imageIds.every((id, i) => id === b.imageIds[i]) &&
    a.nGt.every((n, i) => n === b.nGt[i]);
  if (!same) {
    throw new RangeError("paired bootstrap: the two runs were not evaluated on the same test images");
  }
  const resamples = opts.resamples ?? BOOTSTRAP_RESAMPLES, seed = opts.seed ?? BOOTSTRAP_SEED;
  const confidence = opts.confidence ?? BOOTSTRAP_CONFIDENCE;
  const diff = (counts: Int32Array): ApTriple | null => {
    const pa = resampleAp(a, counts), pb = resampleAp(b, counts);
    if (pa.ap <= -1 || pb.ap <= -1) return null;
    return { ap50: pb.ap50 - pa.ap50, ap75: pb.ap75 - pa.ap75, ap: pb.ap - pa.ap };
  };
  const samples = drawResamples(a.imageIds.length, resamples, seed).map(diff)
    .filter((s): s is ApTriple => s !== null);
  const all = identityCounts(a.imageIds.length);
  return {
    point: diff(all) ?? { ap50: NaN, ap75: NaN, ap: NaN },
    intervals: intervalsOf(samples, confidence),
    resamples,
    validResamples: samples.length,
    seed,
    confidence,
  };
}

/**
 * `ap` (an `ap.json` from `evaluateCocoFiles` on `gt` and `results`) with the bootstrap intervals of its category
 * added: `ap50_ci`, `ap75_ci`, `ap_ci` (absent when no resample holds ground truth) and `bootstrap` (how, and how
 * long it took). With 0 resamples `ap` is returned unchanged.
 */
export function withBootstrapIntervals(
  ap: ApJson,
  gt: CocoGroundTruth,
  results: readonly CocoResult[],
  opts: BootstrapOptions = {},
): ApJson {
  if ((opts.resamples ?? BOOTSTRAP_RESAMPLES) === 0) return ap;
  const t0 = performance.now();
  const { imageIds, gts, dets } = cocoToEvalInputs(gt, results, ap.settings.category.id);
  const r = bootstrapAp(evaluatePerImage(gts, dets, { imageIds }), opts);
  const bootstrap: BootstrapSettings = {
    resamples: r.resamples,
    valid_resamples: r.validResamples,
    seed: r.seed,
    confidence: r.confidence,
    unit: "image",
    method: "percentile",
    seconds: (performance.now() - t0) / 1000,
  };
  if (!r.intervals) return { ...ap, bootstrap };
  return { ...ap, ap50_ci: r.intervals.ap50, ap75_ci: r.intervals.ap75, ap_ci: r.intervals.ap, bootstrap };
}
