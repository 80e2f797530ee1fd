/**
 * Writing an SSD300 as a TF.js graph model folder: `model.json` (lib/export/model_json.ts) and its weight
 * shards (lib/export/shards.ts), built from the model's parameters by lib/export/ssd_graph.ts. The folder is
 * locked while it is written (lib/core/run_folder.ts), its files are staged and committed as one set at the end,
 * so a failed export leaves nothing (and a folder it created is removed again).
 * @module
 */
import {
  ArtifactError,
  inlineList,
  InputError,
  RUN_META_DIR,
  type RunFolder,
  validateArtifact,
  withoutTrailingSlash,
  withRunFolder,
  writeFileAtomic,
} from "../core/mod.ts";
import { loadCheckpointFile, loadWeights, StateDictError } from "../interop/mod.ts";
import { TorchFormatError } from "../torch/mod.ts";
import {
  classNames,
  type DetectOptions,
  IMAGENET_MEAN,
  IMAGENET_STD,
  priorsCxcyFor,
  SSD_INPUT_SIDE,
  type SsdModel,
} from "../ssd/mod.ts";
import { MODEL_JSON, type ModelJson, ModelJsonSchema, type SsdMetadata } from "./model_json.ts";
import { packWeights, type Quantization } from "./shards.ts";
import { buildSsdGraph, GRAPH_OUTPUTS } from "./ssd_graph.ts";

/** A known problem with an export's inputs (class names, the output folder). */
export class ExportError extends InputError {
  override name = "ExportError";
}

/** The weights or checkpoint to export could not be loaded (missing, corrupt, not an SSD300). */
export class WeightsLoadError extends InputError {
  override name = "WeightsLoadError";
}

/**
 * Loads the model to export: our weights manifest (`weights`) or a reference `.pth` (`checkpoint`).
 * @throws WeightsLoadError naming the flag and the file, with the loader's reason
 */
export async function loadExportSource(source: { weights?: string; checkpoint?: string }): Promise<SsdModel> {
  const [flag, path] = source.weights !== undefined
    ? ["--weights", source.weights]
    : ["--checkpoint", source.checkpoint!];
  try {
    return source.weights !== undefined ? await loadWeights(path) : await loadCheckpointFile(path);
  } catch (e) {
    const known = [
      ArtifactError,
      StateDictError,
      TorchFormatError,
      Deno.errors.NotFound,
      Deno.errors.IsADirectory,
    ];
    if (!known.some((cls) => e instanceof cls)) throw e;
    const reason = (e as Error).message.startsWith(path)
      ? (e as Error).message.slice(path.length).replace(/^: /, "")
      : (e as Error).message;
    throw new WeightsLoadError(`${flag} ${path}: cannot load: ${reason}`);
  }
}

/** `deno task detect`'s thresholds: the defaults of the graph's optional detection inputs. */
export const EXPORT_DETECT_DEFAULTS: Readonly<DetectOptions> = Object.freeze({
  minScore: 0.2,
  maxOverlap: 0.45,
  topK: 200,
});

/**
 * Class names of a model with `nClasses` classes: `given` when passed (one per class, background first: from
 * --class-names, or a weights.json's class_names), else the VOC names for 21 and `background`, `person` for
 * 2.
 * @throws ExportError for another class count without names, or a count mismatch
 */
export function exportClassNames(nClasses: number, source: string, given?: readonly string[]): string[] {
  if (given) {
    if (given.length !== nClasses || given.some((n) => n.trim() === "")) {
      throw new ExportError(
        `--class-names: ${source} has ${nClasses} classes (incl. background), got ${given.length} names ` +
          `(${inlineList(given, ",")})`,
      );
    }
    return [...given];
  }
  if (nClasses !== 2 && nClasses !== 21) {
    throw new ExportError(
      `${source}: unknown class count ${nClasses} (known: 21 = VOC, 2 = background,person); ` +
        `name the classes with --class-names background,a,b,...`,
    );
  }
  return [...classNames(nClasses)];
}

/**
 * Fails unless `dir` is absent or an empty directory (the bookkeeping of a writer's lock, `.ssd300/`, aside).
 * @throws ExportError naming the folder
 */
export async function checkOutputDir(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isDirectory) throw new ExportError(`--out ${dir}: exists and is not a directory`);
  for await (const e of Deno.readDir(dir)) {
    if (e.name === RUN_META_DIR) continue;
    throw new ExportError(`--out ${dir}: exists and is not empty (remove it or choose another folder)`);
  }
}

/** Options of {@link exportGraphModel}. */
export interface ExportOptions {
  quantize: Quantization;
  /** one per class, background first (see {@link exportClassNames}) */
  classNames: readonly string[];
  /** the weights file's name, recorded in the metadata */
  source: string;
  /** runs on the finished folder before it is committed (e.g. an evaluation writing more files into it) */
  beforeCommit?: (stagedDir: string) => Promise<void>;
  /** the folder, locked by the caller (lib/core/run_folder.ts); else it is locked while it is written */
  folder?: RunFolder;
}

/** What {@link exportGraphModel} wrote. */
export interface ExportSummary {
  dir: string;
  files: { name: string; bytes: number }[];
  totalBytes: number;
  nodes: number;
  weights: number;
}

/**
 * The metadata of an exported model (model.json's `userDefinedMetadata.ssd300`, model.onnx's `ssd300`
 * metadata_props entry): classes, prior set, input preparation, `deno task detect`'s thresholds, the outputs.
 */
export function ssdMetadata(
  model: SsdModel,
  opts: Pick<ExportOptions, "quantize" | "classNames" | "source">,
  layout: SsdMetadata["input"]["layout"],
  outputs: Record<string, string>,
): SsdMetadata {
  return {
    version: 1,
    classes: [...opts.classNames],
    prior_set: model.priorSet ?? "reference",
    input: {
      name: "image",
      size: SSD_INPUT_SIDE,
      layout,
      channels: "RGB",
      resize: "Pillow BILINEAR (antialiased) to size × size, aspect ratio not kept",
      scale: 1 / 255,
      mean: [...IMAGENET_MEAN],
      std: [...IMAGENET_STD],
    },
    detect_defaults: {
      min_score: EXPORT_DETECT_DEFAULTS.minScore,
      max_overlap: EXPORT_DETECT_DEFAULTS.maxOverlap,
      top_k: EXPORT_DETECT_DEFAULTS.topK,
    },
    outputs,
    quantization: opts.quantize,
    source: opts.source,
  };
}

/** `model.json` contents for a built graph (pure; the writer below adds the shards). */
export async function composeModelJson(
  model: SsdModel,
  opts: Pick<ExportOptions, "quantize" | "classNames" | "source">,
): Promise<{ json: ModelJson; shards: { name: string; bytes: Uint8Array }[] }> {
  if (opts.classNames.length !== model.nClasses) {
    throw new RangeError(`${opts.classNames.length} class names for ${model.nClasses} classes`);
  }
  const params = new Map<string, Float32Array>();
  for (const [name, v] of model.params) params.set(name, await v.data() as Float32Array);
  const priorSet = model.priorSet ?? "reference";
  const built = buildSsdGraph({
    nClasses: model.nClasses,
    params,
    priorsCxcy: priorsCxcyFor(priorSet),
    detectDefaults: EXPORT_DETECT_DEFAULTS,
  });
  const packed = packWeights(built.constants, opts.quantize);
  const metadata = ssdMetadata(model, opts, "NHWC", {
    [GRAPH_OUTPUTS.locs]:
      "[N, 8732, 4] box offsets (g_cx, g_cy, g_w, g_h) against the priors, reference order",
    [GRAPH_OUTPUTS.scores]: "[N, 8732, n_classes] class logits (before softmax)",
    [GRAPH_OUTPUTS.boxes]:
      "[K, 4] fractional (x_min, y_min, x_max, y_max) of image 0, best first (executeAsync)",
    [GRAPH_OUTPUTS.detectionScores]: "[K] softmax scores of those boxes",
    [GRAPH_OUTPUTS.classes]: "[K] int32 class ids (index into classes)",
  });
  const json = validateArtifact(MODEL_JSON, ModelJsonSchema, {
    format: "graph-model",
    generatedBy: "ssd300-pennfudan (TensorFlow.js 4.22 model from lib/ssd)",
    convertedBy:
      "ssd300-pennfudan deno task export (GraphDef written directly, TensorFlow.js converter format)",
    modelTopology: built.graph,
    weightsManifest: packed.manifest,
    signature: built.signature,
    userDefinedMetadata: { ssd300: metadata },
  });
  return { json, shards: packed.shards };
}

/**
 * Exports `model` as a graph model folder `dir` (absent or empty): `model.json` plus `group1-shard*of*.bin`,
 * staged and committed as one set; on any failure nothing is left (a folder the lock created is removed).
 * @throws ExportError when `dir` exists and is not an empty folder
 */
export async function exportGraphModel(
  model: SsdModel,
  dir: string,
  opts: ExportOptions,
): Promise<ExportSummary> {
  await checkOutputDir(dir);
  const { json, shards } = await composeModelJson(model, opts);
  const text = new TextEncoder().encode(JSON.stringify(json));
  const { target, files } = await writeModelFolder(dir, [...shards, { name: MODEL_JSON, bytes: text }], opts);
  return {
    dir: target,
    files,
    totalBytes: files.reduce((s, f) => s + f.bytes, 0),
    nodes: json.modelTopology.node.length,
    weights: json.weightsManifest[0].weights.length,
  };
}

/**
 * Writes `files` into the model folder `dir` (absent or empty), locked as a run folder (lib/core/run_folder.ts):
 * staged, then `opts.beforeCommit` on the staged folder, then committed; a failure leaves nothing.
 * @throws ExportError when `dir` exists and is not an empty folder
 */
export async function writeModelFolder(
  dir: string,
  files: readonly { name: string; bytes: Uint8Array }[],
  opts: Pick<ExportOptions, "beforeCommit" | "folder">,
): Promise<{ target: string; files: ExportSummary["files"] }> {
  const target = withoutTrailingSlash(dir);
  await checkOutputDir(target);
  return await withRunFolder(opts.folder, target, "export", async (folder) => {
    await checkOutputDir(target); // still empty now that it is ours
    const staged = folder.stagingDir();
    const written: ExportSummary["files"] = [];
    for (const f of files) {
      await writeFileAtomic(`${staged}/${f.name}`, f.bytes);
      written.push({ name: f.name, bytes: f.bytes.byteLength });
    }
    await opts.beforeCommit?.(staged);
    await folder.commit();
    return { target, files: written };
  });
}
