/**
 * Public API of the SSD300 Penn-Fudan pipeline. Only re-exports; see `lib/` for the implementations.
 * @module
 */
export * from "./lib/backend.ts";
export * from "./lib/image.ts";
export * from "./lib/draw.ts";
export * from "./lib/source.ts";
export * from "./lib/download.ts";
export * from "./lib/split.ts";
export * from "./lib/dataset.ts";
export * from "./lib/ap.ts";
export * from "./lib/coco.ts";
export * from "./lib/evaluate.ts";
export * from "./lib/report.ts";
export * from "./lib/priors.ts";
export * from "./lib/boxes.ts";
export * from "./lib/model.ts";
export * from "./lib/detect.ts";
export * from "./lib/weights.ts";
export * from "./lib/torch/mod.ts";
export * from "./lib/conv_grad.ts";
export * from "./lib/gradients.ts";
export * from "./lib/loss.ts";
export * from "./lib/optim.ts";
export * from "./lib/rng.ts";
export * from "./lib/augment.ts";
export * from "./lib/train.ts";
