/**
 * The dataset stage: the file tree a dataset is read from (zip read in place, or a folder), downloading the
 * official release, boxes from instance masks, the Penn-Fudan annotation files, building the `dataset.json`
 * artifact with its seeded split, the COCO ground truth of a split, and the training augmentations.
 * No TF.js here (`deno task prepare` does not load it).
 * @module
 */
export { type AugmentOptions, type AugmentResult, augmentSample } from "./augment.ts";
export { type Annotation, AnnotationError, parseAnnotation } from "./annotation.ts";
export { buildDataset, type BuildOptions } from "./build.ts";
export { checkImagesDecode } from "./check_split_images.ts";
export {
  CATEGORY_ID,
  CocoBboxSchema,
  type CocoGroundTruth,
  CocoGroundTruthSchema,
  PERSON_CATEGORY_ID,
  toCocoGroundTruth,
} from "./coco_ground_truth.ts";
export {
  buildCocoDataset,
  chooseCocoCategory,
  COCO_BOX_TOLERANCE_PX,
  type CocoBuildOptions,
  parseCocoInstances,
} from "./coco_instances.ts";
export {
  categoryName,
  checkImageSizes,
  type Dataset,
  DATASET_VERSION,
  type DatasetImage,
  type DatasetOrigin,
  DatasetSchema,
  degenerateBoxReason,
  fractionalBoxes,
  MIN_BOX_SIDE_PX,
  MIN_INSTANCE_PIXELS,
  openDatasetSource,
  type OpenedDataset,
  type PixelBox,
  readDataset,
  writeDataset,
} from "./dataset.ts";
export {
  defaultCacheDir,
  DownloadError,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
  downloadToCache,
  PENN_FUDAN_URL,
} from "./download.ts";
export { boxesFromMask, type MaskInstance } from "./masks.ts";
export {
  DATASET_URL_ENV,
  formatPrepareSummary,
  openCocoInput,
  openPrepareInput,
  type PrepareInput,
  type PrepareOptions,
  prepareRunDir,
  type PrepareSummary,
} from "./prepare.ts";
export { type DataProblem, DatasetError } from "./problems.ts";
export { type DataSource, openDirectorySource, openSource, openZipBytes, SourceError } from "./source.ts";
export { DEFAULT_TEST_SIZE, seededSplit } from "./split.ts";
