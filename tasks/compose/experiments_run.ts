/**
 * Running an experiment grid (`deno task experiments`): each planned run is `deno task finetune` then
 * `deno task ap` in a child process (each stage keeps its own permissions, artifacts and progress), the optional
 * baseline is `deno task ap` on the starting checkpoint, and the comparison is written as `results.md`,
 * `results.json` and a `deno task report`. A run whose folder already has ap.json is not run again; a failed run
 * is recorded in the table and the others continue. The grid holds --out's composition lock (lib/core/run_folder.ts
 * `lockComposedRun`: a second grid into it exits 1 at once); each stage locks the folder it writes.
 * @module
 */
import { z } from "zod";
import {
  InputError,
  lockComposedRun,
  lockOutputFiles,
  readJsonArtifact,
  writeFileAtomic,
  writeJsonArtifact,
} from "../../lib/core/mod.ts";
import { readDataset } from "../../lib/data/mod.ts";
import { type ApJson, ApJsonSchema } from "../../lib/evaluation/mod.ts";
import {
  type ExperimentsConfig,
  finetuneFlags,
  type PlannedRun,
  resultsMarkdown,
  type RunResult,
  startFlags,
} from "./experiments_grid.ts";
import { readRunJson, RUN_JSON_FILE } from "../../lib/train/mod.ts";
import { runDenoTask, TaskFailedError } from "./deno_task.ts";

/** `results.json`: one entry per run, as in the table. */
export const ResultsJsonSchema = z.array(z.object({
  name: z.string(),
  settings: z.record(z.string(), z.unknown()).nullable(),
  ap50: z.number().nullable(),
  ap75: z.number().nullable(),
  ap: z.number().nullable(),
  ar100: z.number().nullable(),
  seconds: z.number().nullable(),
  evaluated: z.string().optional(),
  error: z.string().optional(),
}));

/** `best epoch N` / `last epoch` from the weights choice `deno task ap` records in ap.json; undefined: none. */
function evaluatedOf(ap: ApJson | null): string | undefined {
  const which = ap?.settings.weights_choice;
  if (which === "last") return "last epoch";
  if (which !== "best") return undefined;
  return typeof ap!.settings.best_epoch === "number" ? `best epoch ${ap!.settings.best_epoch}` : "best epoch";
}

/** Where and how to run an experiment grid. */
export interface ExperimentsRunOptions {
  config: ExperimentsConfig;
  /** the runs to do (planRuns of the config, possibly filtered) */
  runs: readonly PlannedRun[];
  /** resolves a path of the config (relative to the config file's folder) */
  resolve: (path: string) => string;
  /** output folder, absolute */
  out: string;
  /** extra flags for every stage, e.g. `--backend wasm` */
  stageFlags: readonly string[];
  /** extra flags for prepare (when the config gives `data`), e.g. `--max-pixels N` */
  prepareFlags?: readonly string[];
  /** names the config file in results.md */
  configName: string;
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/** The config's input paths exist (else an InputError naming the config field). */
async function checkConfigPaths(o: ExperimentsRunOptions): Promise<void> {
  const { start } = o.config;
  const fields: [string, string | undefined][] = [
    ["dataset", o.config.dataset],
    ["data", o.config.data],
  ];
  for (const [k, v] of Object.entries(start)) if (typeof v === "string") fields.push([`start.${k}`, v]);
  for (const [field, path] of fields) {
    if (path !== undefined && !(await exists(o.resolve(path)))) {
      throw new InputError(`${o.configName}: ${field} ${o.resolve(path)}: no such file or directory`);
    }
  }
}

/** Runs the grid; returns each run's result, the markdown table and the files written. */
export async function runExperiments(
  o: ExperimentsRunOptions,
): Promise<{ results: RunResult[]; table: string; files: string[] }> {
  const { config, out } = o;
  const ap = config.ap;
  const apFlags = [
    ...["--split", ap.split, "--min-score", String(ap.min_score)],
    ...["--max-overlap", String(ap.max_overlap), "--top-k", String(ap.top_k)],
    ...o.stageFlags,
  ];
  await checkConfigPaths(o);
  await using _grid = await lockComposedRun(out, "experiments");
  if (config.dataset) await readDataset(o.resolve(config.dataset)); // an invalid one fails before any run
  console.error(`experiments: ${o.runs.length} run(s): ${o.runs.map((r) => r.name).join(", ")}`);
  const dataset = config.data ? `${out}/dataset.json` : o.resolve(config.dataset!);
  if (config.data && !(await exists(dataset))) {
    await runDenoTask("prepare", ["--data", o.resolve(config.data), "--out", out, ...(o.prepareFlags ?? [])]);
  }

  const reportRuns: string[] = [];
  if (config.baseline && "checkpoint" in config.start) {
    const dir = `${out}/original`;
    if (!(await exists(`${dir}/ap.json`))) {
      const checkpoint = o.resolve(config.start.checkpoint);
      await runDenoTask("ap", [
        "--dataset",
        dataset,
        "--checkpoint",
        checkpoint,
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
  for (const [i, run] of o.runs.entries()) {
    const dir = `${out}/${run.name}`;
    console.error(`\nexperiments: run ${i + 1}/${o.runs.length}: ${run.name}`);
    let seconds: number | null = null;
    let error: string | undefined;
    try {
      if (!(await exists(`${dir}/ap.json`))) {
        const start = startFlags(config.start, o.resolve);
        const settings = finetuneFlags(run.settings);
        seconds = await runDenoTask("finetune", [
          "--dataset",
          dataset,
          ...start,
          "--out",
          dir,
          ...settings,
          ...o.stageFlags,
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
    const apJson = error ? null : await readJsonArtifact(`${dir}/ap.json`, ApJsonSchema);
    if (seconds === null && !error && await exists(`${dir}/${RUN_JSON_FILE}`)) {
      const runJson = await readRunJson(`${dir}/${RUN_JSON_FILE}`);
      seconds = "seconds" in runJson ? runJson.seconds : null;
    }
    results.push({
      name: run.name,
      settings: run.settings,
      ap50: apJson?.ap50 ?? null,
      ap75: apJson?.ap75 ?? null,
      ap: apJson?.ap ?? null,
      ar100: apJson?.ar100 ?? null,
      seconds,
      ...(evaluatedOf(apJson) ? { evaluated: evaluatedOf(apJson) } : {}),
      ...(error ? { error } : {}),
    });
    if (!error) reportRuns.push(dir);
  }

  const table = resultsMarkdown(results, config.base);
  const files = [`${out}/results.md`, `${out}/results.json`];
  {
    await using outputs = await lockOutputFiles("experiments", files); // the table's two files as one set
    await writeFileAtomic(outputs.staged(files[0]), `# Experiments (${o.configName})\n\n${table}`);
    await writeJsonArtifact(outputs.staged(files[1]), ResultsJsonSchema, results);
    await outputs.commit();
  }
  if (reportRuns.length > 0) {
    await runDenoTask("report", [
      "--runs",
      ...reportRuns,
      "--out",
      `${out}/report.html`,
      "--dataset",
      dataset,
    ]);
    files.push(`${out}/report.html`);
  }
  return { results, table, files };
}
