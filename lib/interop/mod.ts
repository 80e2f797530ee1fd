/**
 * Moving models in and out: PyTorch state_dicts of the reference (names, layouts), head surgery for the
 * single-class model, the ImageNet VGG16 import, and our own weights format.
 * @module
 */
export {
  assignStateDict,
  BACKGROUND_CLASS,
  classNames,
  cloneModel,
  createSsd300FromVgg16,
  headsWithPrefix,
  importTorchvisionVgg16,
  loadCheckpointFile,
  loadWeights,
  mergeHeads,
  modelFromStateDict,
  modelToStateDict,
  saveWeights,
  type ShapeMismatch,
  stateDictClasses,
  StateDictError,
  torchParamShapes,
  toSingleClass,
  VGG16_FEATURE_CONVS,
  VOC_LABELS,
  VOC_PERSON_CLASS,
  WEIGHTS_FORMAT,
  type WeightsManifest,
} from "./weights.ts";
export {
  checkModelIdentity,
  type CheckpointOptions,
  dataParallelPrefix,
  type ExpectedModel,
  guessModel,
  NonFloatTensorsError,
  readStateDict,
  readStateDictFile,
  WrongModelError,
} from "./identify.ts";
