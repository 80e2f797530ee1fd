/**
 * The dataset stage: reading a dataset's files (zip or folder), downloading the official release, deriving boxes
 * from instance masks, the seeded split, the `dataset.json` artifact, and the training augmentations.
 * @module
 */
export {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  type AugmentOptions,
  type AugmentResult,
  augmentSample,
  boxesWithCentreInside,
  CROP_ASPECT,
  CROP_MIN_OVERLAPS,
  CROP_SCALE,
  CROP_TRIALS,
  cropTo,
  expand,
  EXPAND_FILL,
  EXPAND_MAX_SCALE,
  flipHorizontal,
  PHOTOMETRIC,
  photometricDistort,
  randomCrop,
} from "./augment.ts";
export {
  type Annotation,
  ANNOTATION_TOLERANCE_PX,
  AnnotationError,
  crossCheckAnnotation,
  parseAnnotation,
} from "./annotation.ts";
export { buildDataset, type BuildOptions } from "./build.ts";
export {
  CocoBboxSchema,
  type CocoGroundTruth,
  CocoGroundTruthSchema,
  PERSON_CATEGORY_ID,
  toCocoGroundTruth,
} from "./coco.ts";
export {
  CLASSES,
  type Dataset,
  DATASET_VERSION,
  type DatasetImage,
  DatasetImageSchema,
  DatasetSchema,
  type DatasetWarning,
  fractionalBoxes,
  openDatasetSource,
  type OpenedDataset,
  type PixelBox,
  PixelBoxSchema,
  readDataset,
  WarningSchema,
  writeDataset,
} from "./dataset.ts";
export { discoverLayout, type LayoutItem, type LayoutScan } from "./layout.ts";
export { boxesFromMask, type MaskInstance } from "./masks.ts";
export { type DataProblem, DatasetError } from "./problems.ts";
export {
  CONNECT_TIMEOUT_MS,
  defaultCacheDir,
  DownloadError,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
  downloadToCache,
  formatProgress,
  PENN_FUDAN_URL,
  STALL_TIMEOUT_MS,
} from "./download.ts";
export {
  type DataSource,
  openDirectorySource,
  openSource,
  openZipBytes,
  openZipSource,
  SourceError,
} from "./source.ts";
export {
  DEFAULT_SPLIT_SEED,
  DEFAULT_TEST_SIZE,
  defaultTestSize,
  mulberry32,
  PENN_FUDAN_IMAGES,
  seededSplit,
  SPLIT_ALGORITHM,
} from "./split.ts";
