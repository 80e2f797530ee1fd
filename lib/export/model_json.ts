/**
 * `model.json` of an exported SSD300 graph model: the TF.js model format (tfjs-core src/io/types.ts
 * `ModelJSON`: `format`, `generatedBy`, `convertedBy`, `modelTopology`, `weightsManifest`, `signature`,
 * `userDefinedMetadata`) and our metadata inside `userDefinedMetadata.ssd300`, which tells a loader how to
 * prepare the input and read the outputs. One schema, used by the writer (lib/export/export.ts) and every
 * reader (the detector API, the tests). No Deno or DOM APIs here: the browser bundle imports it.
 * @module
 */
import { z } from "zod";
import { WeightsManifestGroupSchema } from "./shards.ts";
import { QUANTIZATIONS } from "./shards.ts";

/** Name of the model file inside an exported folder. */
export const MODEL_JSON = "model.json";

const TensorInfoSchema = z.object({
  name: z.string(),
  dtype: z.enum(["DT_FLOAT", "DT_INT32"]),
  tensorShape: z.object({ dim: z.array(z.object({ size: z.string() })).optional() }),
});

/**
 * `userDefinedMetadata.ssd300` (and model.onnx's `ssd300` metadata entry, as JSON): what a detector needs
 * besides the graph.
 */
export const SsdMetadataSchema = z.object({
  version: z.literal(1),
  /** class names, index = class id; 0 is the background */
  classes: z.array(z.string().min(1)).min(2),
  /** prior set the box offsets are relative to (lib/ssd/priors.ts `PRIOR_SETS`) */
  prior_set: z.string().min(1),
  input: z.object({
    name: z.literal("image"),
    /** side of the square network input, pixels */
    size: z.number().int().positive(),
    /** NHWC [N, size, size, 3] in the graph model, NCHW [N, 3, size, size] in model.onnx */
    layout: z.enum(["NHWC", "NCHW"]),
    channels: z.literal("RGB"),
    /**
     * how raw pixels become the input: Pillow BILINEAR (antialiased) resize to size × size, aspect not kept
     */
    resize: z.string(),
    /** x = (pixel · scale − mean[c]) / std[c] */
    scale: z.number(),
    mean: z.tuple([z.number(), z.number(), z.number()]),
    std: z.tuple([z.number(), z.number(), z.number()]),
  }),
  /** the optional scalar inputs of the detection outputs and their defaults */
  detect_defaults: z.object({
    min_score: z.number().min(0).max(1),
    max_overlap: z.number().min(0).max(1),
    top_k: z.number().int().positive(),
  }),
  /** what each output holds (human-readable) */
  outputs: z.record(z.string(), z.string()),
  quantization: z.enum(QUANTIZATIONS),
  /** the weights file the model was exported from (its name only) */
  source: z.string(),
});
export type SsdMetadata = z.infer<typeof SsdMetadataSchema>;

/** `model.json`. `modelTopology` is checked loosely (a GraphDef: nodes with name and op). */
export const ModelJsonSchema = z.object({
  format: z.literal("graph-model"),
  generatedBy: z.string(),
  convertedBy: z.string(),
  modelTopology: z.object({
    node: z.array(z.object({ name: z.string(), op: z.string() }).passthrough()).min(1),
    library: z.object({}).passthrough(),
    versions: z.object({ producer: z.number().int() }).passthrough(),
  }),
  weightsManifest: z.array(WeightsManifestGroupSchema).min(1),
  signature: z.object({
    inputs: z.record(z.string(), TensorInfoSchema),
    outputs: z.record(z.string(), TensorInfoSchema),
  }),
  userDefinedMetadata: z.object({ ssd300: SsdMetadataSchema }),
});
export type ModelJson = z.infer<typeof ModelJsonSchema>;
