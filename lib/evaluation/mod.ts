/**
 * Evaluation: pycocotools-exact COCO AP and PASCAL VOC AP of one category, bootstrap confidence intervals, the
 * COCO file formats at the boundary and the `ap.json` artifact, and running a detector over a dataset split.
 * @module
 */
export {
  COCO_AREA_ALL,
  type CocoDet,
  type CocoEvalOptions,
  type CocoEvalResult,
  type CocoGt,
  evaluateCoco,
  evaluateImage,
  groupByImage,
  type ImageEval,
  prCurveAt,
  type XywhBox,
} from "./ap.ts";
export {
  type ApIntervals,
  type ApTriple,
  BOOTSTRAP_CONFIDENCE,
  BOOTSTRAP_RESAMPLES,
  BOOTSTRAP_SEED,
  bootstrapAp,
  type BootstrapOptions,
  type BootstrapResult,
  drawResamples,
  evaluatePerImage,
  type Interval,
  pairedBootstrap,
  type PairedBootstrapResult,
  percentileInterval,
  type PerImageEval,
  resampleAp,
  withBootstrapIntervals,
} from "./bootstrap.ts";
export {
  type ApJson,
  ApJsonSchema,
  type BootstrapSettings,
  BootstrapSettingsSchema,
  type CocoResult,
  CocoResultsSchema,
  cocoToEvalInputs,
  evaluateCocoFiles,
  fractionalXyxyToPixelXywh,
  pixelXyxyToXywh,
  readCocoGtFile,
  readCocoResults,
  selectCategory,
  xywhToPixelXyxy,
} from "./coco_files.ts";
export {
  detectBatched,
  detectionsToCocoResults,
  EVAL_DETECT_DEFAULTS,
  evaluateDetectorOnSplit,
  type SplitEvalOptions,
  type SplitEvalResult,
} from "./evaluate_split.ts";
export {
  type ImageInput,
  ImageListError,
  type ImagesJson,
  ImagesJsonSchema,
  listImageInputs,
  predictImage,
  predictImages,
  predictImagesOn,
  type PredictOptions,
  type PredictSummary,
} from "./predict.ts";
export { apOfCocoFiles, formatApSummary } from "./ap_files.ts";
export { evaluateVoc, type VocEvalResult } from "./voc.ts";
