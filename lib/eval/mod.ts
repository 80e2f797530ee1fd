/**
 * Evaluation: pycocotools-exact COCO AP and PASCAL VOC AP of one category, the COCO file formats at the boundary
 * and the `ap.json` artifact, and running a detector over a dataset split.
 * @module
 */
export {
  type CocoDet,
  type CocoEvalOptions,
  type CocoEvalResult,
  type CocoGt,
  evaluateCoco,
  prCurveAt,
  type XywhBox,
} from "./ap.ts";
export {
  type ApJson,
  ApJsonSchema,
  type CocoResult,
  CocoResultsSchema,
  evaluateCocoFiles,
  fractionalXyxyToPixelXywh,
  pixelXyxyToXywh,
  readCocoGtFile,
  readCocoResults,
  selectCategory,
  xywhToPixelXyxy,
} from "./coco.ts";
export {
  detectBatched,
  detectionsToCocoResults,
  EVAL_DETECT_DEFAULTS,
  evaluateDetectorOnSplit,
  ProgressReporter,
  type SplitEvalOptions,
  type SplitEvalResult,
} from "./evaluate.ts";
export { evaluateVoc, type VocEvalResult } from "./voc.ts";
