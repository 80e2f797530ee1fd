/**
 * `deno task export` — write an SSD300 as a TensorFlow.js graph model folder (model.json + 4 MiB weight
 * shards)
 * that `tf.loadGraphModel` loads in the browser, Deno and Node, or (`--format onnx`) as model.onnx for ONNX
 * Runtime and other ONNX runtimes; optionally score it on a dataset split.
 */
import {
  type CliSpec,
  ENGINE_FLAGS,
  MAX_PIXELS_FLAG,
  parseFlags,
  runTask,
  UsageError,
} from "../lib/cli/mod.ts";
import { lockRunFolder, withoutTrailingSlash, writeJsonArtifact } from "../lib/core/mod.ts";
import { BACKEND_CHOICES, initEngine, machineCores } from "../lib/engine/mod.ts";
import { ApJsonSchema, CocoResultsSchema } from "../lib/evaluation/mod.ts";
import { CocoGroundTruthSchema } from "../lib/data/mod.ts";
import {
  checkOutputDir,
  type EvaluatedDetector,
  evaluateDetector,
  exportClassNames,
  exportGraphModel,
  exportOnnxModel,
  loadDetector,
  loadExportSource,
  loadOnnxDetector,
  MODEL_JSON,
  MODEL_ONNX,
  QUANTIZATIONS,
} from "../lib/export/mod.ts";
import { disposeModel } from "../lib/ssd/mod.ts";

export const EXPORT_CLI = {
  task: "export",
  usage: [
    "(--weights W.json | --checkpoint X.pth) --out DIR [--format graph-model|onnx] [--quantize none|float16|uint8]",
  ],
  summary: `Writes DIR/model.json (format graph-model: a GraphDef of SSD300 with outputs locs/scores and the
NMS-decoded detection_boxes/detection_scores/detection_classes) and DIR/group1-shard*of*.bin (≤ 4 MiB each),
or with --format onnx DIR/model.onnx (opset 13, input image NCHW, the same outputs for a whole batch plus
detection_image_index, ONNX's NonMaxSuppression). DIR must be absent or empty; nothing is left behind on
failure. With --evaluate, the exported model runs on the dataset split (model.onnx in ONNX Runtime) and
DIR/ap.json, DIR/detections.coco.json and DIR/gt.coco.json are written too.`,
  flags: {
    weights: {
      kind: "string",
      value: "FILE",
      description: "our weights manifest (deno task finetune's weights.json)",
    },
    checkpoint: {
      kind: "string",
      value: "FILE",
      description: "a reference PyTorch checkpoint (.pth, .pth.tar)",
    },
    out: { kind: "string", value: "DIR", required: true, description: "the model folder to create" },
    format: {
      kind: "choice",
      choices: ["graph-model", "onnx"],
      default: "graph-model",
      description: "TF.js graph model or model.onnx",
    },
    quantize: { kind: "choice", choices: QUANTIZATIONS, default: "none", description: "weight storage" },
    "class-names": {
      kind: "string",
      value: "A,B,..",
      description: "class names, background first (needed unless 21 VOC or 2 person classes)",
    },
    evaluate: {
      kind: "string",
      value: "DATASET",
      description: "score the exported model on this dataset.json",
    },
    split: {
      kind: "choice",
      choices: ["train", "test"],
      default: "test",
      description: "split for --evaluate",
    },
    limit: { kind: "integer", min: 1, description: "--evaluate on the first N images of the split only" },
    backend: { kind: "choice", choices: BACKEND_CHOICES, default: "auto", description: "TF.js backend" },
    conv: ENGINE_FLAGS.conv,
    "max-pixels": MAX_PIXELS_FLAG,
  },
} as const satisfies CliSpec;

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(EXPORT_CLI, args);
  if ((flags.weights === undefined) === (flags.checkpoint === undefined)) {
    throw new UsageError("give exactly one of --weights, --checkpoint");
  }
  if (flags.limit !== undefined && flags.evaluate === undefined) {
    throw new UsageError("--limit needs --evaluate");
  }
  await checkOutputDir(flags.out); // before loading ~100 MB of weights
  await using folder = await lockRunFolder(withoutTrailingSlash(flags.out), "export"); // for the whole run
  // the exported graph runs on this thread: its convolutions through oneDNN on all cores when it loads
  await initEngine({ backend: flags.backend, conv: flags.conv, workers: 1, use: "infer" });
  const source = (flags.weights ?? flags.checkpoint)!;
  const model = await loadExportSource(flags);
  let summary;
  try {
    const classNames = exportClassNames(
      model.nClasses,
      source,
      flags.classNames?.split(",") ?? model.classNames,
    );
    const write = flags.format === "onnx" ? exportOnnxModel : exportGraphModel;
    summary = await write(model, flags.out, {
      quantize: flags.quantize,
      classNames,
      source: source.slice(source.lastIndexOf("/") + 1),
      folder,
      beforeCommit: flags.evaluate === undefined ? undefined : async (dir) => {
        disposeModel(model); // the exported model holds its own copy of the weights
        let detector: EvaluatedDetector & { dispose(): unknown };
        if (flags.format === "onnx") {
          detector = await loadOnnxDetector(`${dir}/${MODEL_ONNX}`, machineCores());
          console.error(`evaluate: ${MODEL_ONNX} in ONNX Runtime, ${machineCores()} threads`);
        } else {
          detector = await loadDetector(new URL(`file://${Deno.realPathSync(dir)}/`).href);
        }
        try {
          const r = await evaluateDetector(detector, {
            datasetPath: flags.evaluate!,
            split: flags.split,
            limit: flags.limit,
            settings: { model: flags.out, source },
            format: flags.format,
          });
          await writeJsonArtifact(`${dir}/gt.coco.json`, CocoGroundTruthSchema, r.groundTruth);
          await writeJsonArtifact(`${dir}/detections.coco.json`, CocoResultsSchema, r.detections);
          await writeJsonArtifact(`${dir}/ap.json`, ApJsonSchema, r.ap);
          const f = (v: number) => v.toFixed(4);
          console.log(
            `AP@0.5 ${f(r.ap.ap50)}  AP@0.75 ${f(r.ap.ap75)}  AP@[.5:.95] ${f(r.ap.ap)} (${flags.split})`,
          );
        } finally {
          await detector.dispose();
        }
      },
    });
  } finally {
    disposeModel(model);
  }
  const shards = summary.files.filter((f) => f.name.endsWith(".bin")).length;
  const mib = (summary.totalBytes / 2 ** 20).toFixed(2);
  console.log(
    flags.format === "onnx"
      ? `${summary.dir}/${MODEL_ONNX}: ${summary.nodes} nodes, ${summary.weights} initializers, ${mib} MiB ` +
        `(${flags.quantize})`
      : `${summary.dir}/${MODEL_JSON}: ${summary.nodes} nodes, ${summary.weights} weights in ${shards} shards, ` +
        `${mib} MiB (${flags.quantize})`,
  );
}

if (import.meta.main) await runTask("export", main);
