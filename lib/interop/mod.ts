/**
 * Moving models in and out: PyTorch state_dicts of the reference (names, layouts), head surgery for the
 * single-class model, the ImageNet VGG16 import, and our own weights format.
 * @module
 */
export {
  assignStateDict,
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
  WEIGHTS_FORMAT,
  type WeightsManifest,
} from "./weights.ts";
