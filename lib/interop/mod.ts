/**
 * Moving models in and out: which model a `.pth` holds (DataParallel prefix, other models named), the
 * reference's PyTorch state_dicts (names, layouts), head surgery for the single-class model, the ImageNet VGG16
 * import, our own weights format (`weights.json` + `.bin`), and loading whichever of these a user has.
 * @module
 */
export { loadCheckpointFile } from "./checkpoint.ts";
export { mergeHeads, toSingleClass, vocClassOf } from "./heads.ts";
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
export {
  checkFinite,
  modelFromStateDict,
  modelToStateDict,
  type NonFiniteTensor,
  nonFiniteValues,
  NonFiniteWeightsError,
  type ShapeMismatch,
  StateDictError,
} from "./state_dict.ts";
export { createSsd300FromVgg16, importTorchvisionVgg16 } from "./vgg16.ts";
export { loadWeights, saveWeights, type WeightsManifest, WeightsManifestSchema } from "./weights.ts";
