/**
 * Moving models in and out: the reference's PyTorch state_dicts (names, layouts), head surgery for the
 * single-class model, the ImageNet VGG16 import, our own weights format (`weights.json` + `.bin`), and loading
 * whichever of these a user has.
 * @module
 */
export { loadCheckpointFile } from "./checkpoint.ts";
export { mergeHeads, toSingleClass } from "./heads.ts";
export {
  assignStateDict,
  headsWithPrefix,
  modelFromStateDict,
  modelToStateDict,
  type ShapeMismatch,
  stateDictClasses,
  StateDictError,
  torchParamShapes,
} from "./state_dict.ts";
export { createSsd300FromVgg16, importTorchvisionVgg16, VGG16_FEATURE_CONVS } from "./vgg16.ts";
export {
  loadWeights,
  saveWeights,
  WEIGHTS_FORMAT,
  type WeightsManifest,
  WeightsManifestSchema,
} from "./weights.ts";
