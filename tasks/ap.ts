/**
 * `deno task ap` — COCO AP (pycocotools semantics) of one category.
 *
 * Mode A, any COCO files:
 *   deno task ap --annotations gt.coco.json --detections dets.coco.json [--category person|<id>] --out dir/
 *   → dir/ap.json
 * Mode B, run a detector over a dataset split (lib/eval/evaluate.ts):
 *   deno task ap --dataset run/dataset.json (--weights <ours> | --checkpoint X.pth [--class person])
 *     [--split test] [--min-score 0.01] [--max-overlap 0.45] [--top-k 200] [--batch-size 8] [--backend auto]
 *     [--limit N (first N images of the split only)] --out dir/
 *   → dir/gt.coco.json, dir/detections.coco.json (pixels of the original images), dir/ap.json
 * @module
 */
import {
  BACKEND_FLAG,
  checkInputFiles,
  type CliSpec,
  detectorFlags,
  OUT_DIR_FLAG,
  parseFlags,
  runTask,
  TRUST_CHECKPOINT_FLAG,
  UsageError,
} from "../lib/cli/mod.ts";
import { writeJsonArtifact } from "../lib/core/mod.ts";
import {
  type ApJson,
  ApJsonSchema,
  CocoGtFileSchema,
  CocoResultsSchema,
  evaluateCocoFiles,
  evaluateDetectorOnSplit,
  readCocoGtFile,
  readCocoResults,
  selectCategory,
} from "../lib/eval/mod.ts";

const CLI = {
  task: "ap",
  usage: [
    "--annotations GT.json --detections DETS.json [--category NAME|ID] --out DIR",
    "--dataset FILE (--weights FILE | --checkpoint X.pth [--class person]) [flags] --out DIR",
  ],
  summary: `COCO AP (pycocotools semantics) of one category: of any COCO ground truth and results (mode A), or
of a detector run over a dataset split (mode B, which also writes gt.coco.json and detections.coco.json).`,
  flags: {
    annotations: { kind: "string", value: "FILE", description: "mode A: COCO ground truth" },
    detections: { kind: "string", value: "FILE", description: "mode A: COCO results" },
    category: { kind: "string", value: "NAME|ID", description: "mode A: category (default: the only one)" },
    dataset: { kind: "string", value: "FILE", description: "mode B: dataset.json of deno task prepare" },
    weights: { kind: "string", value: "FILE", description: "mode B: our weights (weights.json)" },
    checkpoint: { kind: "string", value: "X.pth", description: "mode B: a reference .pth" },
    "trust-checkpoint": TRUST_CHECKPOINT_FLAG,
    class: {
      kind: "string",
      value: "NAME",
      default: "person",
      description: "mode B: class scored as person",
    },
    split: { kind: "choice", choices: ["train", "test"], default: "test", description: "mode B: the split" },
    ...detectorFlags(0.01),
    "batch-size": { kind: "integer", min: 1, default: 8, description: "mode B: images per forward pass" },
    backend: BACKEND_FLAG,
    limit: { kind: "integer", min: 1, description: "mode B: only the first N images of the split" },
    out: OUT_DIR_FLAG,
  },
} as const satisfies CliSpec;

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  const out = f.out.replace(/\/+$/, "") || "/";
  const modeA = f.annotations !== undefined || f.detections !== undefined;
  if (modeA && (!f.annotations || !f.detections)) {
    throw new UsageError("mode A needs both --annotations and --detections");
  }
  if (modeA && f.dataset) throw new UsageError("--dataset (mode B) cannot be combined with --annotations");
  if (!modeA && !f.dataset) {
    throw new UsageError("give --annotations/--detections (mode A) or --dataset (mode B)");
  }
  if (!modeA && !f.weights === !f.checkpoint) {
    throw new UsageError("mode B needs exactly one of --weights, --checkpoint");
  }
  await checkInputFiles(f, ["annotations", "detections", "dataset", "weights", "checkpoint"]);
  if (modeA) {
    const gt = await readCocoGtFile(f.annotations!);
    const results = await readCocoResults(f.detections!, new Set(gt.images.map((im) => im.id)));
    const cat = f.category === undefined ? {} : /^\d+$/.test(f.category) ? { id: Number(f.category) } : {
      name: f.category,
    };
    const settings = { mode: "coco-files" as const, annotations: f.annotations, detections: f.detections };
    const ap = evaluateCocoFiles(gt, results, selectCategory(gt, cat), settings);
    await writeJsonArtifact(`${out}/ap.json`, ApJsonSchema, ap);
    return printSummary(ap, `${out}/ap.json`);
  }
  const checkpointOptions = {
    trustCheckpoint: f.trustCheckpoint,
    onNote: (note: string) => console.error(note),
  };
  const result = await evaluateDetectorOnSplit({
    ...f,
    datasetPath: f.dataset!,
    className: f.class,
    checkpointOptions,
  });
  await writeJsonArtifact(`${out}/gt.coco.json`, CocoGtFileSchema, result.groundTruth);
  await writeJsonArtifact(`${out}/detections.coco.json`, CocoResultsSchema, result.detections);
  await writeJsonArtifact(`${out}/ap.json`, ApJsonSchema, result.ap);
  printSummary(result.ap, `${out}/ap.json`);
}

function printSummary(ap: ApJson, file: string): void {
  const f = (v: number) => v.toFixed(4);
  console.log(
    `AP@0.5 ${f(ap.ap50)}  AP@0.75 ${f(ap.ap75)}  AP@[.5:.95] ${f(ap.ap)}  AR@100 ${f(ap.ar100)}  → ${file}`,
  );
}

if (import.meta.main) await runTask("ap", main);
