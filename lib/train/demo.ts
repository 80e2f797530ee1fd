/**
 * The whole homework chain as child processes (`deno task demo`): prepare → (score the original detector) →
 * finetune → ap → report. On the embedded fixtures from a seeded random initialisation it is a smoke run of every
 * stage; with the Penn-Fudan zip and the VOC checkpoint it is the real experiment (the notebook's settings plus
 * augmentation, heads initialised from the VOC person channels).
 * @module
 */
import { runDenoTask } from "../cli/mod.ts";

/** What `deno task demo` runs on. */
export interface DemoOptions {
  /** Penn-Fudan zip or directory, absolute */
  data: string;
  /** the 21-class VOC SSD300 .pth, absolute; undefined: a seeded random initialisation */
  checkpoint?: string;
  /** output folder, absolute */
  out: string;
  epochs: number;
  batchSize: number;
  /** engine flags for every stage that runs the network (`--backend`, `--conv`, `--workers`; lib/cli
   * `engineArgs`); empty: each stage's default engine (oneDNN when it loads, all cores) */
  engine: string[];
  /** read the checkpoint even if its pickle would call code (`--trust-checkpoint`, its tensors only) */
  trustCheckpoint?: boolean;
}

/** Runs the chain; returns the report's path. */
export async function runDemo(o: DemoOptions): Promise<string> {
  const { out } = o;
  const backend = o.engine;
  const dataset = `${out}/dataset.json`;
  const trust = o.trustCheckpoint ? ["--trust-checkpoint"] : [];
  const runs: string[] = [];
  await runDenoTask("prepare", ["--data", o.data, "--out", out, "--preview", "4"]);
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
    ...["--val-fraction", o.checkpoint ? "0.1" : "0", ...backend],
  ]);
  await runDenoTask("ap", [
    ...["--dataset", dataset, "--weights", `${out}/finetuned/weights.json`, "--out", `${out}/finetuned`],
    ...backend,
  ]);
  runs.push(`${out}/finetuned`);
  await runDenoTask("report", ["--runs", ...runs, "--out", `${out}/report.html`, "--dataset", dataset]);
  return `${out}/report.html`;
}
