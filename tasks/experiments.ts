/**
 * `deno task experiments --config experiments.json --out runs/ [--backend …] [--only NAME,…]`
 *
 * Runs a grid of fine-tuning settings (lib/experiments.ts: `variants` one factor at a time, and/or a full
 * factorial `grid`), evaluates each with `deno task ap` on the test split, and writes:
 * - `<out>/<run>/` — each run's weights, train-log.json, run.json, ap.json, detections.coco.json
 * - `<out>/results.md` and `<out>/results.json` — the comparison table
 * - `<out>/report.html` — the report over all runs (and the baseline when `baseline: true`)
 * A run that already has ap.json is not run again (delete its folder to redo it); a failed run is recorded in the
 * table and the others continue.
 * @module
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { exists, readJsonArtifact, writeFileAtomic, writeJsonArtifact } from "../lib/core/artifacts.ts";
import { ApJsonSchema } from "../lib/eval/coco.ts";
import {
  ExperimentsConfigError,
  ExperimentsConfigSchema,
  finetuneFlags,
  planRuns,
  resultsMarkdown,
  type RunResult,
  startFlags,
} from "../lib/train/experiments.ts";
import { runDenoTask, TaskFailedError } from "../lib/cli/subprocess.ts";

const USAGE =
  "usage: deno task experiments --config experiments.json --out runs/ [--backend B] [--only NAME,…]";

class UsageError extends Error {
  override name = "UsageError";
}

const ResultsJsonSchema = z.array(z.object({
  name: z.string(),
  settings: z.record(z.string(), z.unknown()).nullable(),
  ap50: z.number().nullable(),
  ap75: z.number().nullable(),
  ap: z.number().nullable(),
  ar100: z.number().nullable(),
  seconds: z.number().nullable(),
  error: z.string().optional(),
}));

function absolute(path: string, base: string): string {
  return path.startsWith("/") ? path : `${base}/${path}`;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: "string" },
      out: { type: "string" },
      backend: { type: "string" },
      only: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) return console.log(USAGE);
  if (!values.config) throw new UsageError("--config is required");
  if (!values.out) throw new UsageError("--out is required");
  const configPath = absolute(values.config, Deno.cwd());
  const configDir = configPath.slice(0, configPath.lastIndexOf("/"));
  const out = absolute(values.out, Deno.cwd());
  const config = await readJsonArtifact(configPath, ExperimentsConfigSchema);
  const resolve = (p: string) => absolute(p, configDir);
  let runs = planRuns(config);
  if (values.only) {
    const only = new Set(values.only.split(","));
    runs = runs.filter((r) => only.has(r.name));
    if (runs.length === 0) throw new UsageError(`--only ${values.only}: no such run in ${configPath}`);
  }
  const backend = values.backend ? ["--backend", values.backend] : [];
  const apFlags = [
    "--split",
    config.ap.split,
    "--min-score",
    String(config.ap.min_score),
    "--max-overlap",
    String(config.ap.max_overlap),
    "--top-k",
    String(config.ap.top_k),
    ...backend,
  ];
  console.error(`experiments: ${runs.length} run(s): ${runs.map((r) => r.name).join(", ")}`);

  let dataset: string;
  if (config.data) {
    dataset = `${out}/dataset.json`;
    if (!(await exists(dataset))) {
      await runDenoTask("prepare", ["--data", resolve(config.data), "--out", out]);
    }
  } else {
    dataset = resolve(config.dataset!);
  }

  const reportRuns: string[] = [];
  if (config.baseline && "checkpoint" in config.start) {
    const dir = `${out}/original`;
    if (!(await exists(`${dir}/ap.json`))) {
      await runDenoTask("ap", [
        "--dataset",
        dataset,
        "--checkpoint",
        resolve(config.start.checkpoint),
        "--class",
        "person",
        "--out",
        dir,
        ...apFlags,
      ]);
    }
    reportRuns.push(dir);
  }

  const results: RunResult[] = [];
  for (const [i, run] of runs.entries()) {
    const dir = `${out}/${run.name}`;
    console.error(`\nexperiments: run ${i + 1}/${runs.length}: ${run.name}`);
    let seconds: number | null = null;
    let error: string | undefined;
    try {
      if (!(await exists(`${dir}/ap.json`))) {
        seconds = await runDenoTask("finetune", [
          "--dataset",
          dataset,
          ...startFlags(config.start, resolve),
          "--out",
          dir,
          ...finetuneFlags(run.settings),
          ...backend,
        ]);
        await runDenoTask("ap", [
          "--dataset",
          dataset,
          "--weights",
          `${dir}/weights.json`,
          "--out",
          dir,
          ...apFlags,
        ]);
      }
    } catch (e) {
      if (!(e instanceof TaskFailedError)) throw e;
      error = e.message;
      console.error(`experiments: ${run.name} failed: ${e.message}; continuing`);
    }
    const ap = error ? null : await readJsonArtifact(`${dir}/ap.json`, ApJsonSchema);
    if (seconds === null && !error) {
      const runJson = await Deno.readTextFile(`${dir}/run.json`).then(JSON.parse, () => null);
      const s = runJson?.seconds ?? runJson?.timings?.total_seconds;
      seconds = typeof s === "number" ? s : null;
    }
    results.push({
      name: run.name,
      settings: run.settings,
      ap50: ap?.ap50 ?? null,
      ap75: ap?.ap75 ?? null,
      ap: ap?.ap ?? null,
      ar100: ap?.ar100 ?? null,
      seconds,
      ...(error ? { error } : {}),
    });
    if (!error) reportRuns.push(dir);
  }

  const table = resultsMarkdown(results, config.base);
  await writeFileAtomic(`${out}/results.md`, `# Experiments (${configPath})\n\n${table}`);
  await writeJsonArtifact(`${out}/results.json`, ResultsJsonSchema, results);
  console.log(`\n${table}`);
  if (reportRuns.length > 0) {
    await runDenoTask("report", [
      "--runs",
      ...reportRuns,
      "--out",
      `${out}/report.html`,
      "--dataset",
      dataset,
    ]);
  }
  console.log(`wrote ${out}/results.md, ${out}/results.json, ${out}/report.html`);
  if (results.some((r) => r.error)) Deno.exit(1);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ExperimentsConfigError) {
      console.error(`experiments: ${e.message}\n${USAGE}`);
      Deno.exit(2);
    }
    if (e instanceof TaskFailedError) {
      console.error(`experiments: ${e.message}`);
      Deno.exit(1);
    }
    throw e;
  }
}
