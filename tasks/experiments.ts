/**
 * `deno task experiments --config experiments.json --out runs/ [--backend …] [--only NAME,…]`
 *
 * Runs a grid of fine-tuning settings (tasks/compose/experiments_grid.ts: `variants` one factor at a time, and/or a full
 * factorial `grid`), evaluates each with `deno task ap` on the test split (tasks/compose/experiments_run.ts), and
 * writes:
 * - `<out>/<run>/` — each run's weights, train-log.json, run.json, ap.json, detections.coco.json
 * - `<out>/results.md` and `<out>/results.json` — the comparison table
 * - `<out>/report.html` — the report over all runs (and the baseline when `baseline: true`)
 * A run that already has ap.json is not run again (delete its folder to redo it); a failed run is recorded in the
 * table, the others continue, and the task exits 1 at the end.
 * @module
 */
import {
  checkInputFiles,
  type CliSpec,
  engineArgs,
  NETWORK_FLAGS,
  parseFlags,
  runTask,
  UsageError,
} from "../lib/cli/mod.ts";
import { InputError, readJsonArtifact } from "../lib/core/mod.ts";
import { BACKEND_CHOICES } from "../lib/engine/mod.ts";
import { ExperimentsConfigSchema, planRuns, runExperiments } from "./compose/mod.ts";

const CLI = {
  task: "experiments",
  usage: ["--config experiments.json --out DIR [--backend B] [--only NAME,…]"],
  summary:
    `Runs a grid of fine-tuning settings (deno task finetune, then deno task ap on the test split, for each)
and writes results.md, results.json and report.html into --out. Finished runs are not repeated.`,
  flags: {
    config: {
      kind: "string",
      value: "FILE",
      required: true,
      description: "experiments.json (see fixtures/)",
    },
    out: { kind: "string", value: "DIR", required: true, description: "output directory" },
    backend: { kind: "choice", choices: BACKEND_CHOICES, description: "tf.js backend of every stage" },
    ...NETWORK_FLAGS,
    only: { kind: "string", value: "NAME,…", description: "only these runs of the config" },
  },
} as const satisfies CliSpec;

const absolute = (path: string, base: string) => (path.startsWith("/") ? path : `${base}/${path}`);

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  await checkInputFiles(f, ["config"]);
  const configPath = absolute(f.config, Deno.cwd());
  const config = await readJsonArtifact(configPath, ExperimentsConfigSchema);
  let runs = planRuns(config);
  if (f.only !== undefined) {
    const only = new Set(f.only.split(","));
    runs = runs.filter((r) => only.has(r.name));
    if (runs.length === 0) throw new UsageError(`--only ${f.only}: no such run in ${configPath}`);
  }
  const configDir = configPath.slice(0, configPath.lastIndexOf("/"));
  const { results, table, files } = await runExperiments({
    config,
    runs,
    resolve: (p) => absolute(p, configDir),
    out: absolute(f.out, Deno.cwd()),
    stageFlags: [
      ...engineArgs(f),
      ...(f.trustCheckpoint ? ["--trust-checkpoint"] : []),
      "--max-pixels",
      String(f.maxPixels),
    ],
    prepareFlags: ["--max-pixels", String(f.maxPixels)],
    configName: configPath,
  });
  console.log(`\n${table}`);
  console.log(`wrote ${files.join(", ")}`);
  const failed = results.filter((r) => r.error);
  if (failed.length > 0) {
    throw new InputError(
      `${failed.length} of ${results.length} runs failed: ${failed.map((r) => r.name).join(", ")}`,
    );
  }
}

if (import.meta.main) await runTask("experiments", main);
