/**
 * SSD300 itself: the input preprocessing, prior boxes, box encodings, the VGG16 network as data-driven tf.js ops,
 * the MultiBox loss, the reference's post-processing into detections, running the detector, and the classes.
 * @module
 */
export {
  CENTER_VARIANCE_DIVISOR,
  cxcyToXyxy,
  decodeOffsets,
  encodeOffsets,
  iouMatrix,
  SIZE_VARIANCE_FACTOR,
  xyxyToCxcy,
} from "./boxes.ts";
export {
  BACKGROUND_CLASS,
  classColor,
  classNames,
  modelClassNames,
  VOC_LABELS,
  VOC_PERSON_CLASS,
} from "./classes.ts";
export {
  detectImages,
  detectInImage,
  type DetectionsJson,
  DetectionsJsonSchema,
  forwardAndDetect,
  forwardImages,
  type PixelDetection,
  toPixelDetections,
} from "./detect.ts";
export {
  type BatchTargets,
  buildTargets,
  type GroundTruth,
  type ImageTargets,
  type LossOptions,
  type LossPart,
  matchPriors,
  multiboxLoss,
  multiboxLossPart,
} from "./loss.ts";
export {
  AUX_CONVS,
  BASE_CONVS,
  cloneModel,
  type ConvFn,
  type ConvOptions,
  type ConvSpec,
  createSsd300,
  disposeModel,
  type ForwardOptions,
  paramShapes,
  predConvs,
  ssdForward,
  type SsdModel,
  xavierUniformHwio,
} from "./model.ts";
export { type Detection, detectObjects, detectObjectsBatch, type DetectOptions } from "./postprocess.ts";
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  preprocessForSsd,
  SSD_INPUT_FLOATS,
  SSD_INPUT_SIDE,
  stackImages,
} from "./preprocess.ts";
export {
  BOXES_PER_LOCATION,
  createPriorsCxcy,
  N_PRIORS,
  PRIOR_MAPS,
  PRIOR_SET_NAMES,
  priorsCxcyFor,
  type PriorSetName,
} from "./priors.ts";
