/**
 * SSD300 itself: prior boxes, box encodings, the VGG16 network as data-driven tf.js ops, the MultiBox loss,
 * and the reference's post-processing into detections.
 * @module
 */
export {
  CENTER_VARIANCE_DIVISOR,
  cxcyToXyxy,
  cxcyToXyxyTensor,
  decodeOffsets,
  decodeOffsetsTensor,
  encodeOffsets,
  encodeOffsetsTensor,
  iouMatrix,
  iouMatrixTensor,
  SIZE_VARIANCE_FACTOR,
  xyxyToCxcy,
  xyxyToCxcyTensor,
} from "./boxes.ts";
export {
  BACKGROUND_CLASS,
  classColor,
  classNames,
  DISTINCT_COLORS,
  PERSON_LABELS,
  VOC_LABELS,
  VOC_PERSON_CLASS,
} from "./classes.ts";
export {
  detectInImage,
  type DetectionsJson,
  DetectionsJsonSchema,
  forwardAndDetect,
  type PixelDetection,
  toPixelDetections,
} from "./detect.ts";
export {
  type Detection,
  detectObjects,
  detectObjectsBatch,
  type DetectOptions,
  softmaxRows,
} from "./postprocess.ts";
export {
  type BatchTargets,
  buildTargets,
  type GroundTruth,
  hardNegatives,
  type ImageTargets,
  LOC_LOSS_WEIGHT,
  type LossOptions,
  type LossPart,
  MATCH_THRESHOLD,
  matchPriors,
  multiboxLoss,
  multiboxLossPart,
  NEG_POS_RATIO,
} from "./loss.ts";
export {
  allConvs,
  AUX_CONVS,
  BASE_CONVS,
  cloneModel,
  CONV4_3_CHANNELS,
  type ConvFn,
  type ConvOptions,
  type ConvSpec,
  createSsd300,
  disposeModel,
  FEATURE_MAP_CHANNELS,
  type ForwardOptions,
  fusedConv,
  heNormalHwio,
  paramShapes,
  predConvs,
  RESCALE_INIT,
  seededUniform,
  ssdForward,
  type SsdModel,
  xavierUniformHwio,
} from "./model.ts";
export {
  hwcToChw,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalizeImageNet,
  preprocessForSsd,
  SSD_INPUT_SIDE,
} from "./preprocess.ts";
export {
  ANCHOR_SET_NAMES,
  ANCHOR_SETS,
  type AnchorSetName,
  BOXES_PER_LOCATION,
  createPriorsCxcy,
  N_PRIORS,
  PEDESTRIAN_PRIOR_MAPS,
  PRIOR_MAPS,
  type PriorMapSpec,
  priorsCxcyFor,
} from "./priors.ts";
