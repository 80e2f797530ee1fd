/**
 * Running a detector over a dataset split and scoring it: batched forward passes, the reference's
 * `detect_objects` per image, detections of one class turned into COCO results in original-image pixels, and
 * COCO AP against the split's ground truth (lib/eval/ap.ts semantics).
 * @module
 */
import { Progress } from "../cli/mod.ts";
import { InputError } from "../core/mod.ts";
import { type BackendChoice, initBackend, isBackendChoice } from "../engine/mod.ts";
import { type ApJson, type CocoResult, evaluateCocoFiles, fractionalXyxyToPixelXywh } from "./coco.ts";
import {
  checkImagesDecode,
  type CocoGroundTruth,
  type Dataset,
  type DatasetImage,
  openDatasetSource,
  PERSON_CATEGORY_ID,
  readDataset,
  toCocoGroundTruth,
} from "../data/mod.ts";
import type { RgbImage } from "../image/mod.ts";
import {
  classNames,
  type Detection,
  type DetectOptions,
  disposeModel,
  forwardAndDetect,
  preprocessForSsd,
  SSD_INPUT_SIDE,
  type SsdModel,
} from "../ssd/mod.ts";
import { type CheckpointOptions, loadCheckpointFile, loadWeights } from "../interop/mod.ts";

/** Defaults of `deno task ap` mode B: the reference's evaluation setting of `detect_objects` (low min score so
 * that the PR curve reaches high recall, NMS 0.45, top 200 per image). */
export const EVAL_DETECT_DEFAULTS: Readonly<DetectOptions> = Object.freeze({
  minScore: 0.01,
  maxOverlap: 0.45,
  topK: 200,
});

/**
 * Runs the SSD on `count` images in batches of `batchSize`: `preprocessForSsd` of each, then `forwardAndDetect`
 * (lib/ssd/detect.ts: forward pass, `detect_objects` per image against the model's anchor set).
 * @param loadImage returns the RGB image of item i (called once per item, in order)
 * @returns per item the detections of every class (fractional xyxy boxes of that item's image)
 */
export function detectBatched(
  model: SsdModel,
  count: number,
  loadImage: (i: number) => RgbImage,
  opts: DetectOptions & { batchSize: number; progress?: Pick<Progress, "update"> },
): Detection[][] {
  const { batchSize } = opts;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new RangeError(`batchSize must be ≥ 1, got ${batchSize}`);
  }
  const out: Detection[][] = [];
  const imageValues = SSD_INPUT_SIDE * SSD_INPUT_SIDE * 3;
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const input = new Float32Array(n * imageValues); // [n, 300, 300, 3] NHWC
    for (let k = 0; k < n; k++) input.set(preprocessForSsd(loadImage(start + k)), k * imageValues);
    out.push(...forwardAndDetect(model, input, opts));
    opts.progress?.update(start + n);
  }
  return out;
}

/**
 * COCO results (category {@link PERSON_CATEGORY_ID}) of the detections of class `classIndex` in one image:
 * fractional box × [W, H, W, H] → pixel (x, y, w, h). Boxes are not clipped (as the reference).
 */
export function detectionsToCocoResults(
  detections: readonly Detection[],
  classIndex: number,
  image: { id: number; width: number; height: number },
): CocoResult[] {
  return detections.filter((d) => d.classId === classIndex).map((d) => ({
    image_id: image.id,
    category_id: PERSON_CATEGORY_ID,
    bbox: fractionalXyxyToPixelXywh(d.box, image.width, image.height),
    score: d.score,
  }));
}

/** Options of {@link evaluateDetectorOnSplit}. */
export interface SplitEvalOptions extends DetectOptions {
  datasetPath: string;
  /** Our weights manifest (lib/interop/weights.ts `saveWeights`); exactly one of `weights`, `checkpoint`. */
  weights?: string;
  /** A reference `.pth` / `.pth.tar` checkpoint (or our manifest). */
  checkpoint?: string;
  /** How `checkpoint` is read (`--trust-checkpoint`, where notes go). */
  checkpointOptions?: CheckpointOptions;
  /** Class scored as `person` (default "person": index 15 of a 21-class VOC model, 1 of a 2-class one). */
  className?: string;
  split?: "train" | "test" | string;
  batchSize?: number;
  backend?: BackendChoice | string;
  /** Evaluate only the first n images of the split (smoke runs). */
  limit?: number;
}

/** What {@link evaluateDetectorOnSplit} produces: the three files of `deno task ap` mode B. */
export interface SplitEvalResult {
  groundTruth: CocoGroundTruth;
  detections: CocoResult[];
  ap: ApJson;
}

/**
 * Loads a dataset and a detector, runs it over one split (progress on stderr) and scores class `className` as
 * COCO category 1 against the split's boxes.
 * @throws RangeError for an unknown class or split, errors of the loaders (ArtifactError, StateDictError, SourceError)
 */
export async function evaluateDetectorOnSplit(opts: SplitEvalOptions): Promise<SplitEvalResult> {
  const split = opts.split ?? "test";
  if (split !== "train" && split !== "test") {
    throw new RangeError(`--split must be train or test (got ${split})`);
  }
  const backendChoice = opts.backend ?? "auto";
  if (!isBackendChoice(backendChoice)) throw new RangeError(`unknown backend ${backendChoice}`);
  if (!opts.weights === !opts.checkpoint) throw new RangeError("give exactly one of weights, checkpoint");
  const dataset: Dataset = await readDataset(opts.datasetPath);
  const source = await openDatasetSource(dataset, opts.datasetPath);
  let images: DatasetImage[] = dataset.images.filter((im) => im.split === split);
  if (opts.limit !== undefined) images = images.slice(0, opts.limit);
  await checkImagesDecode(source, images); // every unreadable one at once, before the model loads
  const backend = await initBackend(backendChoice);
  const modelPath = (opts.weights ?? opts.checkpoint)!;
  const model = opts.weights
    ? await loadWeights(opts.weights)
    : await loadCheckpointFile(modelPath, opts.checkpointOptions);
  try {
    const names = classNames(model.nClasses);
    const className = opts.className ?? "person";
    const classIndex = names.indexOf(className);
    if (classIndex <= 0) {
      throw new InputError(
        `class "${className}" is not a class of ${modelPath} (classes: ${names.join(", ")})`,
      );
    }
    const batchSize = opts.batchSize ?? 8;
    const progress = new Progress(`detect ${split}`, images.length, { unit: "img" });
    const t0 = performance.now();
    const perImage = detectBatched(model, images.length, (i) => source.readImage(images[i]), {
      minScore: opts.minScore,
      maxOverlap: opts.maxOverlap,
      topK: opts.topK,
      batchSize,
      progress,
    });
    progress.finish();
    const seconds = (performance.now() - t0) / 1000;
    const detections = perImage.flatMap((dets, i) => detectionsToCocoResults(dets, classIndex, images[i]));
    const full = toCocoGroundTruth(dataset, split);
    const kept = new Set(images.map((im) => im.id));
    const groundTruth = opts.limit === undefined ? full : {
      ...full,
      images: full.images.filter((im) => kept.has(im.id)),
      annotations: full.annotations.filter((a) => kept.has(a.image_id)),
    };
    const ap = evaluateCocoFiles(groundTruth, detections, { id: PERSON_CATEGORY_ID, name: "person" }, {
      mode: "detector",
      dataset: opts.datasetPath,
      split,
      ...(opts.weights ? { weights: opts.weights } : { checkpoint: opts.checkpoint }),
      class: className,
      class_index: classIndex,
      n_classes: model.nClasses,
      anchors: model.anchors ?? "reference",
      min_score: opts.minScore,
      max_overlap: opts.maxOverlap,
      top_k: opts.topK,
      batch_size: batchSize,
      backend,
      detect_seconds: seconds,
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    });
    return { groundTruth, detections, ap };
  } finally {
    disposeModel(model);
  }
}
