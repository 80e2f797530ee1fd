/**
 * The whole homework chain as child processes (`deno task demo`): prepare → (score the original detector) →
 * finetune → ap → report. On the embedded fixtures from a seeded random initialisation it is a smoke run of every
 * stage; with the Penn-Fudan zip and the VOC checkpoint it is the real experiment (the notebook's settings plus
 * augmentation, heads initialised from the VOC person channels).
 *
 * Each combination of data and checkpoint gets its own run directory under the output folder
 * ({@link demoRunDir}: `<data name>+<checkpoint name | scratch>-<8 hex of both absolute paths>`), so the smoke
 * demo and the real one never share a dataset.json or a finetune run and work in either order; re-running the
 * same combination resumes (or, with a larger --epochs, continues) its finetune run. The chain holds the run
 * directory's composition lock (lib/core/run_folder.ts `lockComposedRun`): a second demo of the same combination
 * exits 1 at once, while each stage locks the folder it writes as usual.
 * @module
 */
import { basename, extname } from "node:path";
import { lockComposedRun, sha256Hex } from "../../lib/core/mod.ts";
import { runDenoTask } from "./deno_task.ts";

/** What `deno task demo` runs on. */
export interface DemoOptions {
  /** Penn-Fudan zip or directory, absolute */
  data: string;
  /** the 21-class VOC SSD300 .pth, absolute; undefined: a seeded random initialisation */
  checkpoint?: string;
  /** output folder, absolute; the run directory is a subfolder of it ({@link demoRunDir}) */
  out: string;
  epochs: number;
  batchSize: number;
  /** engine flags for every stage that runs the network (`--backend`, `--conv`, `--workers`; lib/cli
   * `engineArgs`); empty: each stage's default engine (oneDNN when it loads, all cores) */
  engine: string[];
  /** read the checkpoint even if its pickle would call code (`--trust-checkpoint`, its tensors only) */
  trustCheckpoint?: boolean;
  /** discard this combination's finetune run and train again (`finetune --restart`) */
  restart?: boolean;
  /** `--max-pixels` of every stage (default: theirs) */
  maxPixels?: number;
}

/** The run directory of a combination of data and checkpoint (absolute paths) inside `out`. */
export async function demoRunDir(out: string, data: string, checkpoint?: string): Promise<string> {
  const name = (p: string) => basename(p, extname(p)).replace(/[^\w.-]+/g, "_") || "data";
  const tag = (await sha256Hex(new TextEncoder().encode(`${data}\n${checkpoint ?? ""}`))).slice(0, 8);
  return `${out}/${name(data)}+${checkpoint ? name(checkpoint) : "scratch"}-${tag}`;
}

/** Runs the chain in the combination's run directory; returns the report's path. */
export async function runDemo(o: DemoOptions): Promise<string> {
  const out = await demoRunDir(o.out, o.data, o.checkpoint);
  await using _chain = await lockComposedRun(out, "demo");
  const backend = o.engine;
  const dataset = `${out}/dataset.json`;
  const trust = o.trustCheckpoint ? ["--trust-checkpoint"] : [];
  const limit = o.maxPixels === undefined ? [] : ["--max-pixels", String(o.maxPixels)];
  const runs: string[] = [];
  await runDenoTask("prepare", ["--data", o.data, "--out", out, "--preview", "4", ...limit]);
  if (o.checkpoint) {
    await runDenoTask("ap", [
      ...[
        "--dataset",
        dataset,
        "--checkpoint",
        o.checkpoint,
        "--class",
        "person",
        "--out",
        `${out}/original`,
      ],
      ...backend,
      ...trust,
      ...limit,
    ]);
    runs.push(`${out}/original`);
  }
  const start = o.checkpoint
    ? [
      "--checkpoint",
      o.checkpoint,
      ...trust,
      "--head-init",
      "voc-person",
      "--schedule",
      "cosine",
      "--augment",
    ]
    : ["--from-scratch", "--seed", "0", "--schedule", "constant", "--no-augment"];
  await runDenoTask("finetune", [
    ...["--dataset", dataset, ...start, "--out", `${out}/finetuned`],
    ...["--epochs", String(o.epochs), "--batch-size", String(o.batchSize), "--lr", "1e-3"],
    ...[
      "--val-fraction",
      o.checkpoint ? "0.1" : "0",
      ...backend,
      ...(o.restart ? ["--restart"] : []),
      ...limit,
    ],
  ]);
  // ap scores the run's best/ (best validation epoch) when there is one, and says so
  await runDenoTask("ap", [
    ...["--dataset", dataset, "--weights", `${out}/finetuned/weights.json`, "--out", `${out}/finetuned`],
    ...backend,
    ...limit,
  ]);
  runs.push(`${out}/finetuned`);
  const reportRuns = ["--runs", ...runs, "--dataset", dataset];
  await runDenoTask("report", [...reportRuns, "--out", `${out}/report.html`, ...limit]);
  return `${out}/report.html`;
}
