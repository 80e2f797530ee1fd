/**
 * Deployment: the SSD300 as a TensorFlow.js graph model (`model.json` + 4 MiB weight shards, optionally
 * float16/uint8-quantised, a GraphDef with raw and NMS-decoded outputs) or as `model.onnx` (the same network
 * and detection in ONNX ops, run by ONNX Runtime), the coco-ssd-like detector API that runs the graph model in
 * Deno and in the browser and model.onnx in ONNX Runtime, their evaluation on a dataset split, and the local web
 * server of `deno task serve`.
 * @module
 */
export {
  type CanvasImageSourceLike,
  type DetectedObject,
  type Detector,
  type DetectorInput,
  type DetectorOptions,
  fractionalXyxyToBbox,
  inputToRgb,
  loadDetector,
  modelJsonUrl,
  type PixelImage,
  toRgbImage,
} from "./detector.ts";
export {
  type EvaluatedDetector,
  evaluateDetector,
  type ExportEvalOptions,
  type ExportEvalResult,
} from "./evaluate_export.ts";
export {
  checkOutputDir,
  composeModelJson,
  EXPORT_DETECT_DEFAULTS,
  exportClassNames,
  ExportError,
  exportGraphModel,
  type ExportOptions,
  type ExportSummary,
  loadExportSource,
  ssdMetadata,
  WeightsLoadError,
  writeModelFolder,
} from "./export.ts";
export {
  composeOnnxModel,
  exportOnnxModel,
  MODEL_ONNX,
  ONNX_METADATA_KEY,
  type OnnxModelBytes,
  readOnnxMetadata,
} from "./onnx_export.ts";
export {
  buildSsdOnnx,
  hwioToOihw,
  ONNX_INPUTS,
  ONNX_OUTPUT_DOCS,
  ONNX_OUTPUTS,
  type SsdOnnxInput,
} from "./onnx_graph.ts";
export {
  decodeOnnxModel,
  encodeOnnxModel,
  onnx,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  type OnnxAttr,
  type OnnxDim,
  type OnnxDtype,
  onnxElemType,
  OnnxGraphBuilder,
  type OnnxTypes,
} from "./onnx_proto.ts";
export {
  loadOnnxDetector,
  loadOnnxRuntime,
  nhwcToNchw,
  type OnnxDetector,
  OnnxRuntimeUnavailableError,
  onnxRuntimeVersion,
  OnnxSsd,
} from "./onnx_runtime.ts";
export {
  attr,
  type AttrValue,
  type ConstTensor,
  GraphBuilder,
  type GraphDef,
  GRAPHDEF_PRODUCER,
  type NodeDef,
  shapeJson,
  TF_DTYPES,
} from "./graphdef.ts";
export {
  type CheckedModelJson,
  checkModelJson,
  DetectorModelError,
  MAX_MODEL_JSON_BYTES,
  MAX_MODEL_WEIGHT_BYTES,
  MODEL_JSON,
  type ModelJson,
  ModelJsonSchema,
  type ShardFile,
  type SsdMetadata,
  SsdMetadataSchema,
} from "./model_json.ts";
export {
  type PackedWeights,
  packWeights,
  type Quantization,
  QUANTIZATIONS,
  quantizeFloat16,
  quantizeUint8,
  SHARD_BYTES,
  type WeightsManifestEntry,
  WeightsManifestEntrySchema,
  type WeightsManifestGroup,
  WeightsManifestGroupSchema,
} from "./shards.ts";
export {
  buildSsdGraph,
  convPadding,
  GRAPH_INPUTS,
  GRAPH_OUTPUTS,
  poolPadding,
  type SsdGraph,
  type SsdGraphInput,
} from "./ssd_graph.ts";
export {
  type NetworkOps,
  POOLS_AFTER,
  type PoolSpec,
  torchConvSide,
  torchPoolSide,
  walkSsdNetwork,
} from "./ssd_network.ts";
export {
  bundleWebApp,
  checkModelFolder,
  checkServeFolders,
  createHandler,
  LOOPBACK,
  MAX_LISTED_IMAGES,
  type ServeFolders,
  ServeInputError,
  startServer,
} from "./serve.ts";
