/**
 * Writing an SSD300 as a TF.js graph model folder: `model.json` (lib/export/model_json.ts) and its weight
 * shards
 * (lib/export/shards.ts), built from the model's parameters by lib/export/ssd_graph.ts. The folder is written
 * next to its final place under a temporary name and renamed at the end, so a failed export leaves nothing.
 * @module
 */
import { ArtifactError, InputError, removeStaleTemps, validateArtifact } from "../core/mod.ts";
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
 * --class-names, or a weights.json's class_names), else the VOC names for 21 and `background`, `person` for 2.
 * @throws ExportError for another class count without names, or a count mismatch
 */
export function exportClassNames(nClasses: number, source: string, given?: readonly string[]): string[] {
  if (given) {
    if (given.length !== nClasses || given.some((n) => n.trim() === "")) {
      throw new ExportError(
        `--class-names: ${source} has ${nClasses} classes (incl. background), got ${given.length} names ` +
          `(${given.join(",")})`,
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
 * Fails unless `dir` is absent or an empty directory.
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
  for await (const _ of Deno.readDir(dir)) {
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
  /** runs on the finished folder before it is renamed into place (e.g. an evaluation writing more files) */
  beforeCommit?: (tmpDir: string) => Promise<void>;
}

/** What {@link exportGraphModel} wrote. */
export interface ExportSummary {
  dir: string;
  files: { name: string; bytes: number }[];
  totalBytes: number;
  nodes: number;
  weights: number;
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
  const metadata: SsdMetadata = {
    version: 1,
    classes: [...opts.classNames],
    prior_set: priorSet,
    input: {
      name: "image",
      size: SSD_INPUT_SIDE,
      layout: "NHWC",
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
    outputs: {
      [GRAPH_OUTPUTS.locs]:
        "[N, 8732, 4] box offsets (g_cx, g_cy, g_w, g_h) against the priors, reference order",
      [GRAPH_OUTPUTS.scores]: "[N, 8732, n_classes] class logits (before softmax)",
      [GRAPH_OUTPUTS.boxes]:
        "[K, 4] fractional (x_min, y_min, x_max, y_max) of image 0, best first (executeAsync)",
      [GRAPH_OUTPUTS.detectionScores]: "[K] softmax scores of those boxes",
      [GRAPH_OUTPUTS.classes]: "[K] int32 class ids (index into classes)",
    },
    quantization: opts.quantize,
    source: opts.source,
  };
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
 * Exports `model` as a graph model folder `dir` (absent or empty): `model.json` plus `group1-shard*of*.bin`.
 * Written to a sibling temporary folder and renamed into place; on any failure the temporary folder is
 * removed.
 * @throws ExportError when `dir` exists and is not an empty folder
 */
export async function exportGraphModel(
  model: SsdModel,
  dir: string,
  opts: ExportOptions,
): Promise<ExportSummary> {
  const target = dir.replace(/\/+$/, "") || "/";
  await checkOutputDir(target);
  const { json, shards } = await composeModelJson(model, opts);
  const slash = target.lastIndexOf("/");
  const parent = slash > 0 ? target.slice(0, slash) : slash === 0 ? "/" : ".";
  await Deno.mkdir(parent, { recursive: true });
  const partial = `.${target.slice(slash + 1)}.partial-`; // then <pid>-<random>: stale ones of killed runs go
  await removeStaleTemps(parent, partial);
  const tmp = await Deno.makeTempDir({ dir: parent, prefix: `${partial}${Deno.pid}-` });
  try {
    await Deno.chmod(tmp, 0o755); // makeTempDir's 0700 would keep a served folder private
    const files: ExportSummary["files"] = [];
    for (const s of shards) {
      await Deno.writeFile(`${tmp}/${s.name}`, s.bytes);
      files.push({ name: s.name, bytes: s.bytes.byteLength });
    }
    const text = JSON.stringify(json);
    await Deno.writeTextFile(`${tmp}/${MODEL_JSON}`, text);
    files.push({ name: MODEL_JSON, bytes: new TextEncoder().encode(text).byteLength });
    await opts.beforeCommit?.(tmp);
    await checkOutputDir(target); // still absent or empty: rename(2) replaces an empty directory
    await Deno.rename(tmp, target);
    return {
      dir: target,
      files,
      totalBytes: files.reduce((s, f) => s + f.bytes, 0),
      nodes: json.modelTopology.node.length,
      weights: json.weightsManifest[0].weights.length,
    };
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}
