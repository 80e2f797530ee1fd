/**
 * `deno task demo [--data <zip|dir>] [--checkpoint X.pth] [--out runs/demo] [--epochs N] [--backend …]`
 *
 * The whole homework chain in one command: prepare → (score the original detector) → finetune → ap → report.
 * - With no arguments it runs on the embedded synthetic dataset (`fixtures/PennFudanPed`) from a seeded random
 *   initialisation: a short smoke run of every stage that finishes in minutes (its AP is not meaningful).
 * - With `--data PennFudanPed.zip --checkpoint ssd300_voc.pth` it runs the real experiment: the original 21-class
 *   VOC detector scored on `person`, then fine-tuned as a single-class detector (heads initialised from the VOC
 *   person channels), both evaluated on the test split, and compared in the report.
 * Writes into --out: dataset.json, annotations.coco.json, preview/, original/ (with --checkpoint), finetuned/,
 * report.html.
 * @module
 */
import { parseArgs } from "node:util";
import { PROJECT_ROOT, runDenoTask, TaskFailedError } from "../lib/cli/subprocess.ts";

const USAGE = `usage: deno task demo [--data <zip|dir>] [--checkpoint X.pth] [--out runs/demo] [--epochs N]
                      [--batch-size N] [--backend auto|wasm|cpu|tensorflow]
  --data        Penn-Fudan zip or directory (default: the embedded fixtures/PennFudanPed)
  --checkpoint  the 21-class VOC SSD300 .pth; without it training starts from a seeded random initialisation
  --out         output directory (default runs/demo)
  --epochs      fine-tuning epochs (default 2 on the fixtures, 20 with --checkpoint, as in the notebook)
  --batch-size  images per step (default 4 on the fixtures, 10 with --checkpoint, as in the notebook)
  --backend     passed to every stage; without it training uses WASM on 2 workers with oneDNN convolutions`;

class UsageError extends Error {
  override name = "UsageError";
}

function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^[1-9]\d*$/.test(value)) throw new UsageError(`${flag} must be a positive integer (got ${value})`);
  return Number(value);
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: "string" },
      checkpoint: { type: "string" },
      out: { type: "string" },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      backend: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const real = values.checkpoint !== undefined;
  const data = values.data ? absolute(values.data) : `${PROJECT_ROOT}fixtures/PennFudanPed`;
  const out = absolute(values.out ?? "runs/demo");
  const epochs = positiveInt("--epochs", values.epochs, real ? 20 : 2);
  const batch = positiveInt("--batch-size", values["batch-size"], real ? 10 : 4);
  const backend = values.backend ? ["--backend", values.backend] : [];
  // Without an explicit backend, train on WASM with both cores (data-parallel workers) and oneDNN convolutions
  // where libdnnl loads (finetune falls back to the WASM kernels otherwise).
  const trainBackend = values.backend ? backend : ["--backend", "wasm", "--workers", "2", "--native-conv"];
  const dataset = `${out}/dataset.json`;
  const t0 = performance.now();
  const runs: string[] = [];

  await runDenoTask("prepare", ["--data", data, "--out", out, "--preview", "4"]);
  if (real) {
    const checkpoint = absolute(values.checkpoint!);
    await runDenoTask("ap", [
      "--dataset",
      dataset,
      "--checkpoint",
      checkpoint,
      "--class",
      "person",
      "--out",
      `${out}/original`,
      ...backend,
    ]);
    runs.push(`${out}/original`);
  }
  const start = real
    ? ["--checkpoint", absolute(values.checkpoint!), "--head-init", "voc-person"]
    : ["--from-scratch", "--seed", "0"];
  const schedule = real ? ["--schedule", "cosine", "--augment"] : ["--schedule", "constant", "--no-augment"];
  await runDenoTask("finetune", [
    "--dataset",
    dataset,
    ...start,
    "--out",
    `${out}/finetuned`,
    "--epochs",
    String(epochs),
    "--batch-size",
    String(batch),
    "--lr",
    "1e-3",
    ...schedule,
    "--val-fraction",
    real ? "0.1" : "0",
    ...trainBackend,
  ]);
  await runDenoTask("ap", [
    "--dataset",
    dataset,
    "--weights",
    `${out}/finetuned/weights.json`,
    "--out",
    `${out}/finetuned`,
    ...backend,
  ]);
  runs.push(`${out}/finetuned`);
  await runDenoTask("report", ["--runs", ...runs, "--out", `${out}/report.html`, "--dataset", dataset]);
  const minutes = (performance.now() - t0) / 60000;
  console.log(`\ndemo finished in ${minutes.toFixed(1)} min; report: ${out}/report.html`);
  if (!real) {
    console.log(
      "(embedded synthetic data, random initialisation: a smoke run of every stage; for the real experiment " +
        "pass --data PennFudanPed.zip --checkpoint <VOC SSD300 .pth>)",
    );
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${e.message}\n${USAGE}`);
      Deno.exit(2);
    }
    if (e instanceof TaskFailedError) {
      console.error(`demo: ${e.message}`);
      Deno.exit(1);
    }
    throw e;
  }
}
