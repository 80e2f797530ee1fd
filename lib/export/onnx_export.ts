/**
 * Writing an SSD300 as `model.onnx` (the graph of lib/export/onnx_graph.ts, encoded by lib/export/onnx_proto.ts)
 * into a model folder, as lib/export/export.ts writes the graph model: under a temporary name, renamed at the
 * end. The model's `metadata_props` hold one entry, `ssd300`: the JSON of lib/export/model_json.ts
 * `SsdMetadata` (classes, prior set, input preparation with layout NCHW, `deno task detect`'s thresholds, what
 * each output holds, the weight storage, the source file).
 * @module
 */
import { validateArtifact } from "../core/mod.ts";
import { priorsCxcyFor, type SsdModel } from "../ssd/mod.ts";
import {
  checkOutputDir,
  EXPORT_DETECT_DEFAULTS,
  type ExportOptions,
  type ExportSummary,
  ssdMetadata,
  writeModelFolder,
} from "./export.ts";
import { DetectorModelError } from "./detector.ts";
import { type SsdMetadata, SsdMetadataSchema } from "./model_json.ts";
import { buildSsdOnnx, ONNX_OUTPUT_DOCS } from "./onnx_graph.ts";
import { decodeOnnxModel, encodeOnnxModel } from "./onnx_proto.ts";

/** Name of the model file inside an ONNX export folder. */
export const MODEL_ONNX = "model.onnx";
/** The `metadata_props` key holding {@link SsdMetadata} as JSON. */
export const ONNX_METADATA_KEY = "ssd300";

/** What {@link composeOnnxModel} made. */
export interface OnnxModelBytes {
  bytes: Uint8Array;
  metadata: SsdMetadata;
  nodes: number;
  initializers: number;
}

/** `model.onnx` of `model` (pure: the bytes, not written). */
export function composeOnnxModel(
  model: SsdModel,
  opts: Pick<ExportOptions, "quantize" | "classNames" | "source">,
): OnnxModelBytes {
  if (opts.classNames.length !== model.nClasses) {
    throw new RangeError(`${opts.classNames.length} class names for ${model.nClasses} classes`);
  }
  const params = new Map<string, Float32Array>();
  for (const [name, v] of model.params) params.set(name, v.dataSync() as Float32Array);
  const g = buildSsdOnnx({
    nClasses: model.nClasses,
    params,
    priorsCxcy: priorsCxcyFor(model.priorSet),
    detectDefaults: EXPORT_DETECT_DEFAULTS,
    quantize: opts.quantize,
  });
  const metadata = validateArtifact(
    MODEL_ONNX,
    SsdMetadataSchema,
    ssdMetadata(model, opts, "NCHW", { ...ONNX_OUTPUT_DOCS }),
  );
  const proto = g.model({
    graphName: "ssd300",
    producerName: "ssd300-pennfudan",
    producerVersion: "deno task export",
    doc: `SSD300 (VGG16) detector, ${model.nClasses} classes (${opts.classNames.join(", ")}), prior set ` +
      `${metadata.prior_set}, weights ${opts.quantize === "none" ? "float32" : opts.quantize}. Input and ` +
      `outputs: see their doc strings; metadata_props["${ONNX_METADATA_KEY}"] holds the classes and the input ` +
      `preparation as JSON.`,
    metadata: { [ONNX_METADATA_KEY]: JSON.stringify(metadata) },
  });
  return {
    bytes: encodeOnnxModel(proto),
    metadata,
    nodes: g.nodes.length,
    initializers: g.initializers.length,
  };
}

/**
 * The {@link SsdMetadata} of a `model.onnx` (its `ssd300` metadata entry).
 * @throws DetectorModelError when the bytes are not an ONNX model with a valid entry (not an export of this tool)
 */
export function readOnnxMetadata(bytes: Uint8Array): SsdMetadata {
  let value: string | null | undefined;
  try {
    value = decodeOnnxModel(bytes).metadataProps.find((p) => p.key === ONNX_METADATA_KEY)?.value;
  } catch (e) {
    throw new DetectorModelError(`not an ONNX model (${(e as Error).message})`);
  }
  if (!value) throw new DetectorModelError(`not an SSD300 export: no "${ONNX_METADATA_KEY}" metadata entry`);
  let parsed;
  try {
    parsed = SsdMetadataSchema.safeParse(JSON.parse(value));
  } catch (e) {
    throw new DetectorModelError(`metadata ${ONNX_METADATA_KEY}: ${(e as Error).message}`);
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DetectorModelError(`metadata ${ONNX_METADATA_KEY}.${issue.path.join(".")}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Exports `model` as `dir/model.onnx` (`dir` absent or empty), written to a sibling temporary folder and
 * renamed into place; `opts.beforeCommit` runs on that folder first (an evaluation writing more files).
 * @throws ExportError when `dir` exists and is not an empty folder
 */
export async function exportOnnxModel(
  model: SsdModel,
  dir: string,
  opts: ExportOptions,
): Promise<ExportSummary> {
  await checkOutputDir(dir);
  const onnx = composeOnnxModel(model, opts);
  const { target, files } = await writeModelFolder(dir, [{ name: MODEL_ONNX, bytes: onnx.bytes }], opts);
  return {
    dir: target,
    files,
    totalBytes: files.reduce((s, f) => s + f.bytes, 0),
    nodes: onnx.nodes,
    weights: onnx.initializers,
  };
}
