/**
 * Running a detector over a dataset split and scoring it: batched forward passes, the reference's
 * `detect_objects` per image, detections of one class turned into COCO results in original-image pixels, and
 * COCO AP against the split's ground truth (lib/evaluation/ap.ts semantics).
 * @module
 */
import { Progress } from "../progress/mod.ts";
import { inlineList, InputError } from "../core/mod.ts";
import {
  type BackendChoice,
  type ConvChoice,
  describeEngine,
  initEngine,
  isBackendChoice,
  type SsdRunner,
  startRunner,
} from "../engine/mod.ts";
import { type ApJson, type CocoResult, evaluateCocoFiles, fractionalXyxyToPixelXywh } from "./coco_files.ts";
import { type Shard, shardRange } from "./shards.ts";
import {
  CATEGORY_ID,
  categoryName,
  checkImagesDecode,
  type CocoGroundTruth,
  type Dataset,
  type DatasetImage,
  openDatasetSource,
  readDataset,
  toCocoGroundTruth,
} from "../data/mod.ts";
import type { RgbImage } from "../image/mod.ts";
import {
  detectImages,
  type Detection,
  type DetectOptions,
  disposeModel,
  modelClassNames,
  preprocessForSsd,
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
 * Runs the SSD on `count` images in batches of `batchSize`: `detectImages` of each batch (lib/ssd/detect.ts:
 * `preprocessForSsd` of each, one forward pass, `detect_objects` per image against the model's prior set) on
 * this thread, or a runner's `detect` (lib/engine/setup.ts: the same on the engine's workers; a batch is split
 * among them).
 * @param loadImage returns the RGB image of item i (called once per item, in order)
 * @returns per item the detections of every class (fractional xyxy boxes of that item's image)
 */
export async function detectBatched(
  model: SsdModel | Pick<SsdRunner, "detect">,
  count: number,
  loadImage: (i: number) => RgbImage,
  opts: DetectOptions & { batchSize: number; progress?: Pick<Progress, "update"> },
): Promise<Detection[][]> {
  const { batchSize } = opts;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new RangeError(`batchSize must be ≥ 1, got ${batchSize}`);
  }
  const detect = "detect" in model
    ? (images: RgbImage[]) => model.detect(images.map(preprocessForSsd), opts)
    : (images: RgbImage[]) => detectImages(model, images, opts);
  const out: Detection[][] = [];
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    out.push(...await detect(Array.from({ length: n }, (_, k) => loadImage(start + k))));
    opts.progress?.update(start + n);
  }
  return out;
}

/**
 * COCO results (category {@link CATEGORY_ID}) of the detections of class `classIndex` in one image:
 * fractional box × [W, H, W, H] → pixel (x, y, w, h). Boxes are not clipped (as the reference).
 */
export function detectionsToCocoResults(
  detections: readonly Detection[],
  classIndex: number,
  image: { id: number; width: number; height: number },
): CocoResult[] {
  return detections.filter((d) => d.classId === classIndex).map((d) => ({
    image_id: image.id,
    category_id: CATEGORY_ID,
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
  /**
   * Class of the model scored as the dataset's category (COCO category 1). Default: class 1 of a 2-class model
   * (whatever its name), else the class named as the dataset's category (`person`: index 15 of a VOC model).
   */
  className?: string;
  split?: "train" | "test" | string;
  batchSize?: number;
  backend?: BackendChoice | string;
  /** convolution kernels and data-parallel workers (lib/engine/setup.ts; default: oneDNN when it loads, all cores) */
  conv?: ConvChoice;
  workers?: number;
  /** Evaluate only the first n images of the split (smoke runs). */
  limit?: number;
  /**
   * Only this slice of the split's images (after `limit`; lib/evaluation/shards.ts): gt.coco.json and the
   * detections cover the slice, and ap.json's settings record the shard, so that `ap --merge` can join the
   * shards and score the whole split.
   */
  shard?: Shard;
}

/** What {@link evaluateDetectorOnSplit} produces: the three files of `deno task ap` mode B. */
export interface SplitEvalResult {
  groundTruth: CocoGroundTruth;
  detections: CocoResult[];
  ap: ApJson;
}

/**
 * Loads a dataset and a detector, runs it over one split (progress on stderr) and scores class `className` as
 * COCO category 1 (the dataset's category) against the split's boxes (crowd regions ignored as pycocotools).
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
  const splitImages = images.length;
  if (opts.shard) {
    const { start, end } = shardRange(images.length, opts.shard);
    images = images.slice(start, end);
  }
  await checkImagesDecode(source, images); // every unreadable one at once, before the model loads
  const engine = await initEngine({
    backend: backendChoice,
    conv: opts.conv,
    workers: opts.workers,
    use: "infer",
  });
  const modelPath = (opts.weights ?? opts.checkpoint)!;
  const model = opts.weights
    ? await loadWeights(opts.weights)
    : await loadCheckpointFile(modelPath, opts.checkpointOptions);
  let runner: SsdRunner | undefined;
  try {
    const names = modelClassNames(model);
    const category = categoryName(dataset);
    const className = opts.className ?? (model.nClasses === 2 ? names[1] : category);
    const classIndex = names.indexOf(className);
    if (classIndex <= 0) {
      throw new InputError(
        `class "${className}" is not a class of ${modelPath} (classes: ${inlineList(names)})`,
      );
    }
    const batchSize = opts.batchSize ?? 8;
    const progress = new Progress(`detect ${split}`, images.length, { unit: "img" });
    runner = await startRunner(model, engine);
    const t0 = performance.now();
    const perImage = await detectBatched(runner, images.length, (i) => source.readImage(images[i]), {
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
    const groundTruth = opts.limit === undefined && opts.shard === undefined ? full : {
      ...full,
      images: full.images.filter((im) => kept.has(im.id)),
      annotations: full.annotations.filter((a) => kept.has(a.image_id)),
    };
    const ap = evaluateCocoFiles(groundTruth, detections, { id: CATEGORY_ID, name: category }, {
      mode: "detector",
      dataset: opts.datasetPath,
      split,
      ...(opts.weights ? { weights: opts.weights } : { checkpoint: opts.checkpoint }),
      class: className,
      class_index: classIndex,
      n_classes: model.nClasses,
      priorSet: model.priorSet ?? "reference",
      min_score: opts.minScore,
      max_overlap: opts.maxOverlap,
      top_k: opts.topK,
      batch_size: batchSize,
      backend: engine.backend,
      engine: describeEngine(engine).replace(/^engine: /, ""),
      detect_seconds: seconds,
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      ...(opts.shard ? { shard: { ...opts.shard, images: splitImages } } : {}),
    });
    return { groundTruth, detections, ap };
  } finally {
    await runner?.close();
    disposeModel(model);
  }
}
