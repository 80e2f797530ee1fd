/**
 * Evaluation: pycocotools-exact AP, the COCO file formats, and running a detector over a dataset split.
 * @module
 */
export {
  bboxIou,
  COCO_AREA_ALL,
  COCO_IOU_THRESHOLDS,
  COCO_MAX_DETS,
  COCO_RECALL_THRESHOLDS,
  type CocoDet,
  type CocoEvalOptions,
  type CocoEvalResult,
  type CocoGt,
  evaluateCoco,
  evaluateVoc,
  numpyLinspace,
  numpyMean,
  numpyPairwiseSum,
  prCurveAt,
  vocAllPointAp,
  type VocEvalResult,
  type XywhBox,
} from "./ap.ts";
export {
  type ApJson,
  ApJsonSchema,
  CocoBboxSchema,
  type CocoGtFile,
  CocoGtFileSchema,
  type CocoResult,
  CocoResultSchema,
  CocoResultsSchema,
  cocoToEvalInputs,
  evaluateCocoFiles,
  type FractionalXyxy,
  fractionalXyxyToPixelXywh,
  parseCocoGtFile,
  parseCocoResults,
  type PixelXyxy,
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
  type SplitEvalOptions,
  type SplitEvalResult,
} from "./evaluate.ts";
