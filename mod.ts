/**
 * Public API of the SSD300 Penn-Fudan pipeline, one namespace per stage (each folder's `mod.ts` names its API):
 *
 * ```ts
 * import { data, ssd, train, evaluation } from "./mod.ts";
 * const dataset = await data.readDataset("run/dataset.json");
 * ```
 *
 * - `core`: known errors, JSON artifacts, checksums, the zip reader, seeded RNG, path text · `progress`: progress on stderr
 * - `cli`: flags, shared flags, the task runner (the command-line layer of tasks/)
 * - `image`: codecs, Pillow resize, drawing · `data`: file trees (zip/folder), download, masks → boxes,
 *   annotations, `dataset.json`, split, COCO ground truth, augmentation
 * - `ssd`: input preprocessing, priors, boxes, model, loss, post-processing, running the detector, classes
 * - `engine`: backends, the loss and gradients of a batch, kernel gradients, oneDNN, worker pool
 * - `train`: the loop, validation, optimisers, resume state, the finetune run
 * - `evaluation`: AP (pycocotools-exact; VOC), COCO files, `ap.json`, detector evaluation · `report`: the HTML report
 * - `interop`: state_dicts, head surgery, VGG import, our weights format · `torch`: `.pth` read/write
 * - `bench`: the benchmark workload
 * @module
 */
export * as core from "./lib/core/mod.ts";
export * as console from "./lib/progress/mod.ts";
export * as cli from "./lib/cli/mod.ts";
export * as image from "./lib/image/mod.ts";
export * as data from "./lib/data/mod.ts";
export * as ssd from "./lib/ssd/mod.ts";
export * as engine from "./lib/engine/mod.ts";
export * as train from "./lib/train/mod.ts";
export * as evaluation from "./lib/evaluation/mod.ts";
export * as report from "./lib/report/mod.ts";
export * as interop from "./lib/interop/mod.ts";
export * as torch from "./lib/torch/mod.ts";
export * as bench from "./lib/bench/mod.ts";
export { type DetectedObject, type Detector, type DetectorOptions, loadDetector } from "./lib/export/mod.ts";
