/**
 * COCO AP of an exported graph model (or model.onnx, in ONNX Runtime) on a dataset split, through the detector
 * API (so quantised exports are scored exactly as a browser would run them): every image of the split →
 * `detect` with the evaluation thresholds of `deno task ap` (min score 0.01, NMS 0.45, top 200) → class
 * `person` as COCO category 1 → lib/evaluation `evaluateCocoFiles` (pycocotools semantics). Deno only (reads
 * the dataset from disk).
 * @module
 */
import { inlineList } from "../core/mod.ts";
import { Progress } from "../progress/mod.ts";
import { CATEGORY_ID, openDatasetSource, readDataset, toCocoGroundTruth } from "../data/mod.ts";
import { type ApJson, type CocoResult, EVAL_DETECT_DEFAULTS, evaluateCocoFiles } from "../evaluation/mod.ts";
import { type Detector, DetectorModelError } from "./detector.ts";

/** Options of {@link evaluateDetector}. */
export interface ExportEvalOptions {
  datasetPath: string;
  split?: "train" | "test";
  /** class scored as COCO category 1 (default: a 2-class model's class 1, else "person") */
  className?: string;
  /** first n images of the split only */
  limit?: number;
  /** recorded in ap.json's settings (e.g. the model folder and its quantisation) */
  settings?: Record<string, unknown>;
  /** the exported format, ap.json's `settings.detector` (default "graph-model") */
  format?: "graph-model" | "onnx";
}

/** What {@link evaluateDetector} needs of a detector: a graph model's (detector.ts) or model.onnx's. */
export type EvaluatedDetector = Pick<Detector, "classes" | "metadata" | "detect">;

/** The three files of `deno task ap` mode B. */
export interface ExportEvalResult {
  groundTruth: ReturnType<typeof toCocoGroundTruth>;
  detections: CocoResult[];
  ap: ApJson;
}

/**
 * Runs `detector` over a split of `datasetPath` and scores one class.
 * @throws DetectorModelError when the model has no class `className`; the dataset loaders' errors
 */
export async function evaluateDetector(
  detector: EvaluatedDetector,
  opts: ExportEvalOptions,
): Promise<ExportEvalResult> {
  const split = opts.split ?? "test";
  const className = opts.className ?? (detector.classes.length === 2 ? detector.classes[1] : "person");
  if (detector.classes.indexOf(className) <= 0) {
    throw new DetectorModelError(
      `class "${className}" is not a class of the model (${inlineList(detector.classes)})`,
    );
  }
  const dataset = await readDataset(opts.datasetPath);
  const source = await openDatasetSource(dataset, opts.datasetPath);
  let images = dataset.images.filter((im) => im.split === split);
  if (opts.limit !== undefined) images = images.slice(0, opts.limit);
  const progress = new Progress(`evaluate ${split}`, images.length, { unit: "img" });
  const detections: CocoResult[] = [];
  const t0 = performance.now();
  for (const [i, im] of images.entries()) {
    const found = await detector.detect(source.readImage(im), {
      minScore: EVAL_DETECT_DEFAULTS.minScore,
      maxOverlap: EVAL_DETECT_DEFAULTS.maxOverlap,
      maxBoxes: EVAL_DETECT_DEFAULTS.topK,
    });
    for (const d of found) {
      if (d.class === className) {
        detections.push({ image_id: im.id, category_id: CATEGORY_ID, bbox: d.bbox, score: d.score });
      }
    }
    progress.update(i + 1);
  }
  progress.finish();
  const kept = new Set(images.map((im) => im.id));
  const full = toCocoGroundTruth(dataset, split);
  const groundTruth = {
    ...full,
    images: full.images.filter((im) => kept.has(im.id)),
    annotations: full.annotations.filter((a) => kept.has(a.image_id)),
  };
  const ap = evaluateCocoFiles(groundTruth, detections, { id: CATEGORY_ID, name: dataset.classes[1] }, {
    mode: "detector",
    detector: opts.format ?? "graph-model",
    dataset: opts.datasetPath,
    split,
    class: className,
    class_index: detector.classes.indexOf(className),
    n_classes: detector.classes.length,
    prior_set: detector.metadata.prior_set,
    quantization: detector.metadata.quantization,
    min_score: EVAL_DETECT_DEFAULTS.minScore,
    max_overlap: EVAL_DETECT_DEFAULTS.maxOverlap,
    top_k: EVAL_DETECT_DEFAULTS.topK,
    detect_seconds: (performance.now() - t0) / 1000,
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    ...opts.settings,
  });
  return { groundTruth, detections, ap };
}
