/**
 * `deno task demo [--data <zip|dir>] [--checkpoint X.pth] [--out runs/demo] [--epochs N] [--backend …]`
 *
 * The whole homework chain in one command (tasks/compose/demo_chain.ts): prepare → (score the original detector) →
 * finetune → ap → report.
 * - With no arguments it runs on the embedded synthetic dataset (`fixtures/PennFudanPed`) from a seeded random
 *   initialisation: a short smoke run of every stage that finishes in minutes (its AP is not meaningful).
 * - With `--data PennFudanPed.zip --checkpoint ssd300_voc.pth` it runs the real experiment: the original 21-class
 *   VOC detector scored on `person`, then fine-tuned as a single-class detector (heads initialised from the VOC
 *   person channels), both evaluated on the test split, and compared in the report.
 * Writes into --out/<data>+<checkpoint|scratch>-<hash>/ (one run directory per combination of data and
 * checkpoint, so the two demos work in either order): dataset.json, annotations.coco.json, preview/, original/
 * (with --checkpoint), finetuned/ (best/ inside with --checkpoint, which ap scores), report.html.
 * @module
 */
import {
  checkInputFiles,
  type CliSpec,
  engineArgs,
  NETWORK_FLAGS,
  parseFlags,
  runTask,
} from "../lib/cli/mod.ts";
import { BACKEND_CHOICES } from "../lib/engine/mod.ts";
import { PROJECT_ROOT, runDemo } from "./compose/mod.ts";

const CLI = {
  task: "demo",
  usage: [
    "[--data ZIP|DIR] [--checkpoint X.pth] [--out DIR] [--epochs N] [--batch-size N] [--restart] [--conv C] [--workers N]",
  ],
  summary: `The whole chain: prepare → (ap of the original VOC detector) → finetune → ap → report. Without
--checkpoint a smoke run from a seeded random initialisation; with it the real experiment.`,
  flags: {
    data: {
      kind: "string",
      value: "ZIP|DIR",
      description: "Penn-Fudan zip or directory (default: fixtures/)",
    },
    checkpoint: {
      kind: "string",
      value: "X.pth",
      description: "the 21-class VOC SSD300 .pth (default: none)",
    },
    out: {
      kind: "string",
      value: "DIR",
      default: "runs/demo",
      description: "output folder (one subfolder per combination of data and checkpoint)",
    },
    epochs: { kind: "integer", min: 1, description: "fine-tuning epochs (default 2; 20 with --checkpoint)" },
    "batch-size": {
      kind: "integer",
      min: 1,
      description: "images per step (default 4; 10 with --checkpoint)",
    },
    restart: {
      kind: "boolean",
      description: "train this combination of data and checkpoint again instead of resuming its run",
    },
    backend: { kind: "choice", choices: BACKEND_CHOICES, description: "tf.js backend of every stage" },
    ...NETWORK_FLAGS,
  },
} as const satisfies CliSpec;

const absolute = (path: string) => (path.startsWith("/") ? path : `${Deno.cwd()}/${path}`);

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  await checkInputFiles(f, ["data", "checkpoint"]);
  const real = f.checkpoint !== undefined;
  const t0 = performance.now();
  const report = await runDemo({
    data: f.data ? absolute(f.data) : `${PROJECT_ROOT}fixtures/PennFudanPed`,
    checkpoint: f.checkpoint && absolute(f.checkpoint),
    out: absolute(f.out),
    epochs: f.epochs ?? (real ? 20 : 2),
    batchSize: f.batchSize ?? (real ? 10 : 4),
    engine: engineArgs(f),
    trustCheckpoint: f.trustCheckpoint,
    restart: f.restart,
    maxPixels: f.maxPixels,
  });
  console.log(`\ndemo finished in ${((performance.now() - t0) / 60000).toFixed(1)} min; report: ${report}`);
  if (!real) {
    console.log(
      "(embedded synthetic data, random initialisation: a smoke run of every stage; for the real experiment " +
        "pass --data PennFudanPed.zip --checkpoint <VOC SSD300 .pth>)",
    );
  }
}

if (import.meta.main) await runTask("demo", main);
