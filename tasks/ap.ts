/**
 * `deno task ap` — COCO AP (pycocotools semantics) of one category.
 *
 * Mode A, any COCO files:
 *   deno task ap --annotations gt.coco.json --detections dets.coco.json [--category person|<id>] --out dir/
 *   → dir/ap.json
 * Mode B, run a detector over a dataset split:
 *   deno task ap --dataset run/dataset.json (--weights <ours> | --checkpoint X.pth [--class person])
 *     [--split test] [--min-score 0.01] [--max-overlap 0.45] [--top-k 200] [--batch-size 8] [--backend auto]
 *     [--limit N (first N images of the split only)] --out dir/
 *   → dir/gt.coco.json, dir/detections.coco.json (pixels of the original images), dir/ap.json
 * Both modes: [--bootstrap 1000] [--bootstrap-seed 0] — 95% intervals (ap50_ci, ap75_ci, ap_ci) from B resamples
 * of the test images (lib/eval/bootstrap.ts); --bootstrap 0 skips them.
 */
import { parseArgs } from "node:util";
import { writeJsonArtifact } from "../lib/core/artifacts.ts";
import { BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, withBootstrapIntervals } from "../lib/eval/bootstrap.ts";
import {
  type ApJson,
  ApJsonSchema,
  CocoResultsSchema,
  evaluateCocoFiles,
  readCocoGtFile,
  readCocoResults,
  selectCategory,
} from "../lib/eval/coco.ts";
import { CocoGroundTruthSchema } from "../lib/data/mod.ts";

const USAGE = `usage:
  deno task ap --annotations gt.coco.json --detections dets.coco.json [--category NAME|ID] --out DIR
  deno task ap --dataset DATASET.json (--weights OURS | --checkpoint X.pth [--class person]) [--split test]
               [--min-score 0.01] [--max-overlap 0.45] [--top-k 200] [--batch-size 8] [--backend auto] [--limit N] --out DIR
  both: [--bootstrap 1000 (resamples for the 95% intervals; 0: none)] [--bootstrap-seed 0]`;

/** Wrong command-line arguments. */
class UsageError extends Error {
  override name = "UsageError";
}

function numberArg(name: string, value: string | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name}: expected ${integer ? "an integer" : "a number"} (got ${value})`);
  }
  return n;
}

/** Runs `parse` (a `parseArgs` call), reporting its errors (unknown option, missing value) as usage errors. */
function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function main(args: string[]): Promise<void> {
  const { values } = asUsage(() =>
    parseArgs({
      args,
      options: {
        annotations: { type: "string" },
        detections: { type: "string" },
        category: { type: "string" },
        dataset: { type: "string" },
        weights: { type: "string" },
        checkpoint: { type: "string" },
        class: { type: "string" },
        split: { type: "string" },
        "min-score": { type: "string" },
        "max-overlap": { type: "string" },
        "top-k": { type: "string" },
        "batch-size": { type: "string" },
        backend: { type: "string" },
        limit: { type: "string" },
        bootstrap: { type: "string" },
        "bootstrap-seed": { type: "string" },
        out: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    })
  );
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.out) throw new UsageError("--out DIR is required");
  const out = values.out.replace(/\/+$/, "") || "/";
  const resamples = numberArg("bootstrap", values.bootstrap, BOOTSTRAP_RESAMPLES, true);
  if (resamples < 0) throw new UsageError(`--bootstrap: expected an integer ≥ 0 (got ${resamples})`);
  const bootstrap = {
    resamples,
    seed: numberArg("bootstrap-seed", values["bootstrap-seed"], BOOTSTRAP_SEED, true),
  };

  if (values.annotations !== undefined || values.detections !== undefined) {
    if (!values.annotations || !values.detections) {
      throw new UsageError("mode A needs both --annotations and --detections");
    }
    if (values.dataset) throw new UsageError("--dataset (mode B) cannot be combined with --annotations");
    const gt = await readCocoGtFile(values.annotations);
    const results = await readCocoResults(values.detections, new Set(gt.images.map((im) => im.id)));
    const cat = values.category;
    const category = selectCategory(
      gt,
      cat === undefined ? {} : /^\d+$/.test(cat) ? { id: Number(cat) } : { name: cat },
    );
    const ap = withBootstrapIntervals(
      evaluateCocoFiles(gt, results, category, {
        mode: "coco-files",
        annotations: values.annotations,
        detections: values.detections,
      }),
      gt,
      results,
      bootstrap,
    );
    await writeJsonArtifact(`${out}/ap.json`, ApJsonSchema, ap);
    printSummary(ap, `${out}/ap.json`);
    return;
  }

  if (!values.dataset) throw new UsageError("give --annotations/--detections (mode A) or --dataset (mode B)");
  if (!values.weights === !values.checkpoint) {
    throw new UsageError("mode B needs exactly one of --weights, --checkpoint");
  }
  // Loaded only in mode B: it pulls in TF.js and the model.
  const { evaluateDetectorOnSplit } = await import("../lib/eval/evaluate.ts");
  const result = await evaluateDetectorOnSplit({
    datasetPath: values.dataset,
    weights: values.weights,
    checkpoint: values.checkpoint,
    className: values.class ?? "person",
    split: values.split ?? "test",
    minScore: numberArg("min-score", values["min-score"], 0.01),
    maxOverlap: numberArg("max-overlap", values["max-overlap"], 0.45),
    topK: numberArg("top-k", values["top-k"], 200, true),
    batchSize: numberArg("batch-size", values["batch-size"], 8, true),
    backend: values.backend ?? "auto",
    limit: values.limit === undefined ? undefined : numberArg("limit", values.limit, 0, true),
  });
  await writeJsonArtifact(`${out}/gt.coco.json`, CocoGroundTruthSchema, result.groundTruth);
  await writeJsonArtifact(`${out}/detections.coco.json`, CocoResultsSchema, result.detections);
  const ap = withBootstrapIntervals(result.ap, result.groundTruth, result.detections, bootstrap);
  await writeJsonArtifact(`${out}/ap.json`, ApJsonSchema, ap);
  printSummary(ap, `${out}/ap.json`);
}

function printSummary(ap: ApJson, file: string): void {
  const f = (v: number, ci?: [number, number]) =>
    v.toFixed(4) + (ci ? ` [${ci[0].toFixed(4)}, ${ci[1].toFixed(4)}]` : "");
  const values = [
    `AP@0.5 ${f(ap.ap50, ap.ap50_ci)}`,
    `AP@0.75 ${f(ap.ap75, ap.ap75_ci)}`,
    `AP@[.5:.95] ${f(ap.ap, ap.ap_ci)}`,
    `AR@100 ${f(ap.ar100)}`,
  ];
  console.log(`${values.join("  ")}  → ${file}`);
  const b = ap.bootstrap;
  if (b) {
    const secs = b.seconds === undefined ? "" : ` in ${b.seconds.toFixed(2)} s`;
    console.log(`[lo, hi]: 95% bootstrap intervals from ${b.resamples} resamples of the test images${secs}`);
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`ap: ${(e as Error).message}`);
    if (e instanceof UsageError) console.error(USAGE);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
