/**
 * `model.json` of an exported SSD300 graph model: the TF.js model format (tfjs-core src/io/types.ts
 * `ModelJSON`: `format`, `generatedBy`, `convertedBy`, `modelTopology`, `weightsManifest`, `signature`,
 * `userDefinedMetadata`) and our metadata inside `userDefinedMetadata.ssd300`, which tells a loader how to
 * prepare the input and read the outputs. One schema, used by the writer (lib/export/export.ts) and every
 * reader (the detector API, the server, the tests), and {@link checkModelJson}, the one check of a model.json
 * and its shard sizes before anything is loaded. No Deno or DOM APIs here: the browser bundle imports it.
 * @module
 */
import { z } from "zod";
import { InputError } from "../core/errors.ts";
import {
  QUANTIZATIONS,
  SHARD_BYTES,
  type WeightsManifestEntry,
  WeightsManifestGroupSchema,
} from "./shards.ts";

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

/** The model folder or file is not an SSD300 export of this tool (bad model.json, missing or short shards). */
export class DetectorModelError extends InputError {
  override name = "DetectorModelError";
}

/** The largest `model.json` read, bytes (ours is about 60 KB; the limit is checked before reading). */
export const MAX_MODEL_JSON_BYTES = 16 * 2 ** 20;
/** The largest total of weight bytes a manifest may declare (a 21-class float32 SSD300 has 100.5 MiB). */
export const MAX_MODEL_WEIGHT_BYTES = 2 ** 30;

/** One weight shard of a model: its file name (next to model.json) and its exact size in bytes. */
export interface ShardFile {
  name: string;
  bytes: number;
}

/** A checked model.json: the model, its shards in manifest order and its weight entries, flattened. */
export interface CheckedModelJson {
  model: ModelJson;
  shards: ShardFile[];
}

const SHARD_NAME = /^group(\d+)-shard(\d+)of(\d+)\.bin$/;

/** Bytes per element of a manifest entry as stored: its quantised dtype, else its dtype (all 4 bytes). */
function storedBytesPerValue(entry: WeightsManifestEntry): number {
  if (entry.quantization?.dtype === "float16") return 2;
  if (entry.quantization?.dtype === "uint8") return 1;
  return 4;
}

/** "field a.b.c: message" of a zod error, the first three issues. */
function schemaProblems(error: z.ZodError): string {
  const shown = error.issues.slice(0, 3).map((i) =>
    `${i.path.length ? i.path.map(String).join(".") : "(root)"}: ${i.message}`
  );
  const more = error.issues.length - shown.length;
  return shown.join("; ") + (more > 0 ? `; … and ${more} more` : "");
}

/**
 * Checks a parsed `model.json` as every reader must before it loads anything: the schema
 * ({@link ModelJsonSchema}), then the consistency of the weights manifest — shard names
 * `group{g}-shard{i}of{n}.bin` numbered 1…n in order, no name twice; weight names unique, each a `Const` node of
 * the graph; the signature has the detector's input `image`; the declared total within
 * {@link MAX_MODEL_WEIGHT_BYTES} — and derives each shard's exact size: a group's bytes (element count × 4, or 2
 * for float16, 1 for uint8) cut into {@link SHARD_BYTES} shards, the last one the rest, as the exporter and
 * tfjs-converter write them. Pure (no I/O): Deno and the browser use the same check.
 * @param where the file named in errors (a path or URL)
 * @throws DetectorModelError naming `where` and the first problems
 */
export function checkModelJson(value: unknown, where: string): CheckedModelJson {
  const parsed = ModelJsonSchema.safeParse(value);
  if (!parsed.success) {
    throw new DetectorModelError(`${where}: not an SSD300 export (${schemaProblems(parsed.error)})`);
  }
  const model = parsed.data;
  const fail = (problem: string): never => {
    throw new DetectorModelError(`${where}: ${problem}`);
  };
  if (!("image" in model.signature.inputs)) fail(`signature.inputs: no "image" input`);
  const constNodes = new Set(model.modelTopology.node.filter((n) => n.op === "Const").map((n) => n.name));
  const shards: ShardFile[] = [];
  const seenWeights = new Set<string>(), seenShards = new Set<string>();
  let total = 0;
  model.weightsManifest.forEach((group, g) => {
    let bytes = 0;
    for (const [w, entry] of group.weights.entries()) {
      const field = `weightsManifest.${g}.weights.${w}`;
      if (seenWeights.has(entry.name)) fail(`${field}.name: "${entry.name}" is listed twice`);
      seenWeights.add(entry.name);
      if (!constNodes.has(entry.name)) {
        fail(`${field}.name: "${entry.name}" is not a Const node of the graph`);
      }
      const count = entry.shape.reduce((a, b) => a * b, 1);
      bytes += count * storedBytesPerValue(entry);
      if (!Number.isSafeInteger(bytes) || total + bytes > MAX_MODEL_WEIGHT_BYTES) {
        fail(`${field}.shape: the weights add up to more than ${MAX_MODEL_WEIGHT_BYTES} bytes`);
      }
    }
    total += bytes;
    const n = group.paths.length;
    const expected = Math.max(1, Math.ceil(bytes / SHARD_BYTES));
    if (n !== expected) {
      fail(`weightsManifest.${g}.paths: ${n} shard(s) for ${bytes} bytes of weights (expected ${expected})`);
    }
    let groupId: string | undefined;
    group.paths.forEach((name, i) => {
      const m = SHARD_NAME.exec(name)!; // the schema checked the pattern
      if (Number(m[2]) !== i + 1 || Number(m[3]) !== n || (groupId ?? m[1]) !== m[1]) {
        fail(`weightsManifest.${g}.paths.${i}: "${name}" should be shard ${i + 1} of ${n} of one group`);
      }
      groupId = m[1];
      if (seenShards.has(name)) fail(`weightsManifest.${g}.paths.${i}: "${name}" is listed twice`);
      seenShards.add(name);
      shards.push({ name, bytes: i < n - 1 ? SHARD_BYTES : bytes - (n - 1) * SHARD_BYTES });
    });
  });
  return { model, shards };
}
