/**
 * Paired comparison of runs on the same test images: each fine-tuned run against the original detector, the
 * difference of their AP values with a paired bootstrap interval (lib/evaluation/bootstrap.ts). With k fine-tuned runs
 * each interval is a 1 − 0.05 / k interval (Bonferroni), so that the chance of calling any of them different by
 * luck stays at 5%.
 * @module
 */
import {
  type ApIntervals,
  type ApTriple,
  BOOTSTRAP_CONFIDENCE,
  BOOTSTRAP_RESAMPLES,
  BOOTSTRAP_SEED,
  cocoToEvalInputs,
  pairedBootstrap,
  type PerImageEval,
} from "../evaluation/mod.ts";
import { perImageEvalOf, type RunData } from "./run_dir.ts";

/** One fine-tuned run against the baseline: AP(candidate) − AP(baseline). */
export interface RunComparison {
  baseline: string;
  candidate: string;
  /** The differences on the test set; null when they cannot be computed (see `problem`). */
  point: ApTriple | null;
  /** Paired bootstrap intervals of the differences at `confidence`; null without per-image data. */
  intervals: ApIntervals | null;
  confidence: number;
  resamples: number;
  /** Test images and non-ignored ground truths the comparison is over. */
  nImages: number;
  nGt: number;
  /** Why there is no paired interval, in plain words. */
  problem?: string;
}

/** Options of {@link compareRuns}. */
export interface CompareOptions {
  /** Bootstrap resamples (default 1000). */
  resamples?: number;
  seed?: number;
}

/** What {@link compareRuns} finds: the baseline (first run of kind "original") and one comparison per fine-tuned run. */
export interface Comparisons {
  baseline?: RunData;
  comparisons: RunComparison[];
}

/** The ground truth a run was scored against, as text, to tell whether two runs used the same test set. */
function groundTruthKey(run: RunData): string | undefined {
  if (!run.groundTruth || !run.detections) return undefined;
  const { imageIds, gts } = cocoToEvalInputs(run.groundTruth, [], run.ap.settings.category.id);
  return JSON.stringify([imageIds, gts.map((g) => [g.image_id, g.bbox, g.iscrowd])]);
}

function missingData(run: RunData): string | undefined {
  const missing = [!run.groundTruth && "gt.coco.json", !run.detections && "detections.coco.json"].filter(
    Boolean,
  );
  return missing.length ? `${run.name} has no ${missing.join(" and ")} in ${run.dir}` : undefined;
}

/** Compares every fine-tuned run with the original detector, paired over their common test images. */
export function compareRuns(runs: readonly RunData[], opts: CompareOptions = {}): Comparisons {
  const baseline = runs.find((r) => r.kind === "original");
  const candidates = runs.filter((r) => r.kind === "finetuned");
  if (!baseline) return { comparisons: [] };
  const resamples = opts.resamples ?? BOOTSTRAP_RESAMPLES, seed = opts.seed ?? BOOTSTRAP_SEED;
  const confidence = 1 - (1 - BOOTSTRAP_CONFIDENCE) / Math.max(1, candidates.length);
  const cache = new Map<RunData, PerImageEval | undefined>();
  const perImage = (r: RunData) => {
    if (!cache.has(r)) cache.set(r, perImageEvalOf(r));
    return cache.get(r);
  };
  const comparisons = candidates.map((c): RunComparison => {
    const base = {
      baseline: baseline.name,
      candidate: c.name,
      confidence,
      resamples,
      nImages: c.ap.n_images,
      nGt: c.ap.n_gt,
    };
    const unpaired = {
      ap50: c.ap.ap50 - baseline.ap.ap50,
      ap75: c.ap.ap75 - baseline.ap.ap75,
      ap: c.ap.ap - baseline.ap.ap,
    };
    const problem = missingData(baseline) ?? missingData(c);
    if (problem) return { ...base, point: unpaired, intervals: null, problem };
    if (groundTruthKey(baseline) !== groundTruthKey(c)) {
      return {
        ...base,
        point: null,
        intervals: null,
        problem: `${c.name} and ${baseline.name} were evaluated on different test images ` +
          `(${c.ap.n_images} and ${baseline.ap.n_images} images)`,
      };
    }
    const r = pairedBootstrap(perImage(baseline)!, perImage(c)!, { resamples, seed, confidence });
    return {
      ...base,
      point: r.point,
      intervals: r.intervals,
      ...(r.intervals ? {} : {
        problem: resamples === 0
          ? "the bootstrap was skipped (0 resamples)"
          : "the test images hold no ground truth",
      }),
    };
  });
  return { baseline, comparisons };
}
