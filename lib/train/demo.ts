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
  /** `--backend` for every stage; undefined: training on WASM with 2 workers and oneDNN convolutions */
  backend?: string;
  /** read the checkpoint even if its pickle would call code (`--trust-checkpoint`, its tensors only) */
  trustCheckpoint?: boolean;
  /** `--max-pixels` of every stage (default: theirs) */
  maxPixels?: number;
}

/** Runs the chain; returns the report's path. */
export async function runDemo(o: DemoOptions): Promise<string> {
  const { out } = o;
  const backend = o.backend ? ["--backend", o.backend] : [];
  // Without an explicit backend, train on WASM with both cores (data-parallel workers) and oneDNN convolutions
  // where libdnnl loads (finetune falls back to the WASM kernels otherwise).
  const trainBackend = o.backend ? backend : ["--backend", "wasm", "--workers", "2", "--native-conv"];
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
    ...["--val-fraction", o.checkpoint ? "0.1" : "0", ...trainBackend, ...limit],
  ]);
  await runDenoTask("ap", [
    ...["--dataset", dataset, "--weights", `${out}/finetuned/weights.json`, "--out", `${out}/finetuned`],
    ...backend,
    ...limit,
  ]);
  runs.push(`${out}/finetuned`);
  await runDenoTask("report", [
    "--runs",
    ...runs,
    "--out",
    `${out}/report.html`,
    "--dataset",
    dataset,
    ...limit,
  ]);
  return `${out}/report.html`;
}
