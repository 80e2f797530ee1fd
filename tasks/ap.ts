/**
 * `deno task ap` — COCO AP (pycocotools semantics) of one category, with 95% bootstrap intervals: of any COCO
 * ground truth and results (mode A: --annotations, --detections → ap.json), or of a detector run over a dataset
 * split (mode B, lib/evaluation/evaluate_split.ts: --dataset and --weights or --checkpoint → gt.coco.json,
 * detections.coco.json in pixels of the original images, ap.json), committed as one set into --out, whose lock
 * it holds for the whole run (lib/core/run_folder.ts). `--help` lists the flags.
 * @module
 */
import {
  BACKEND_FLAG,
  checkInputFiles,
  type CliSpec,
  detectorFlags,
  NETWORK_FLAGS,
  OUT_DIR_FLAG,
  parseFlags,
  runTask,
  UsageError,
} from "../lib/cli/mod.ts";
import { lockRunFolder, withoutTrailingSlash, writeJsonArtifact } from "../lib/core/mod.ts";
import { CocoGroundTruthSchema } from "../lib/data/mod.ts";
import {
  ApJsonSchema,
  apOfCocoFiles,
  BOOTSTRAP_RESAMPLES,
  BOOTSTRAP_SEED,
  CocoResultsSchema,
  evaluateDetectorOnSplit,
  formatApSummary,
  withBootstrapIntervals,
} from "../lib/evaluation/mod.ts";
import { chooseRunWeights } from "../lib/train/mod.ts";

const CLI = {
  task: "ap",
  usage: [
    "--annotations GT.json --detections DETS.json [--category NAME|ID] --out DIR",
    "--dataset FILE (--weights FILE | --checkpoint X.pth [--class NAME]) [flags] --out DIR",
  ],
  summary: `COCO AP (pycocotools semantics) of one category: of any COCO ground truth and results (mode A), or
of a detector run over a dataset split (mode B, which also writes gt.coco.json and detections.coco.json).`,
  exactlyOne: [["annotations", "dataset"]],
  flags: {
    annotations: { kind: "string", value: "FILE", description: "mode A: COCO ground truth" },
    detections: { kind: "string", value: "FILE", description: "mode A: COCO results" },
    category: { kind: "string", value: "NAME|ID", description: "mode A: category (default: the only one)" },
    dataset: { kind: "string", value: "FILE", description: "mode B: dataset.json of deno task prepare" },
    weights: {
      kind: "string",
      value: "FILE",
      description: "mode B: our weights (a finetune run's weights.json: its best/ when there is one)",
    },
    last: {
      kind: "boolean",
      description: "mode B: a finetune run's last-epoch weights.json itself, not its best/",
    },
    checkpoint: { kind: "string", value: "X.pth", description: "mode B: a reference .pth" },
    class: {
      kind: "string",
      value: "NAME",
      description:
        "mode B: class of the model scored (default: a 2-class model's; else the dataset's category)",
    },
    split: { kind: "choice", choices: ["train", "test"], default: "test", description: "mode B: the split" },
    ...detectorFlags(0.01),
    "batch-size": { kind: "integer", min: 1, default: 8, description: "mode B: images per forward pass" },
    backend: BACKEND_FLAG,
    ...NETWORK_FLAGS,
    limit: { kind: "integer", min: 1, description: "mode B: only the first N images of the split" },
    bootstrap: { kind: "integer", min: 0, default: BOOTSTRAP_RESAMPLES, description: "resamples (0: none)" },
    "bootstrap-seed": { kind: "integer", min: 0, default: BOOTSTRAP_SEED, description: "their seed" },
    out: OUT_DIR_FLAG,
  },
} as const satisfies CliSpec;

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  const out = withoutTrailingSlash(f.out);
  const modeA = f.annotations !== undefined;
  if (modeA !== (f.detections !== undefined)) {
    throw new UsageError("--annotations and --detections go together");
  }
  if (!modeA && !f.weights === !f.checkpoint) {
    throw new UsageError("give exactly one of --weights, --checkpoint");
  }
  await checkInputFiles(f, ["annotations", "detections", "dataset", "weights", "checkpoint"]);
  await using folder = await lockRunFolder(out, "ap");
  const bootstrap = { resamples: f.bootstrap, seed: f.bootstrapSeed };
  if (modeA) {
    const ap = await apOfCocoFiles(f.annotations!, f.detections!, f.category, bootstrap);
    await writeJsonArtifact(folder.staged("ap.json"), ApJsonSchema, ap);
    await folder.commit();
    return console.log(formatApSummary(ap, `${out}/ap.json`));
  }
  const checkpointOptions = { trustCheckpoint: f.trustCheckpoint, onNote: (n: string) => console.error(n) };
  const chosen = f.weights === undefined ? undefined : await chooseRunWeights(f.weights, f.last);
  if (chosen) console.error(`ap: ${chosen.note}`);
  const result = await evaluateDetectorOnSplit({
    ...f,
    weights: chosen?.file,
    datasetPath: f.dataset!,
    className: f.class,
    checkpointOptions,
  });
  await writeJsonArtifact(folder.staged("gt.coco.json"), CocoGroundTruthSchema, result.groundTruth);
  await writeJsonArtifact(folder.staged("detections.coco.json"), CocoResultsSchema, result.detections);
  const ap = withBootstrapIntervals(result.ap, result.groundTruth, result.detections, bootstrap);
  if (chosen) {
    ap.settings.weights_choice = chosen.which;
    if (chosen.bestEpoch !== undefined) ap.settings.best_epoch = chosen.bestEpoch;
  }
  await writeJsonArtifact(folder.staged("ap.json"), ApJsonSchema, ap);
  await folder.commit(); // the three files together, or (on any failure) the previous three
  console.log(formatApSummary(ap, `${out}/ap.json`));
}

if (import.meta.main) await runTask("ap", main);
