/**
 * `deno task experiments` — a grid of fine-tuning settings, each fine-tuned (`deno task finetune`) and scored on
 * the test split (`deno task ap`), as a plan of jobs (tasks/compose/experiments_plan.ts) that this machine or a
 * job scheduler runs:
 *
 *   --config experiments.json --out DIR [--jobs N]   plan, run here (N jobs at a time), collect
 *   --config experiments.json --plan DIR             plan only: DIR/plan.json and DIR/commands-<level>.txt
 *   --plan DIR --job NAME                            run one job of the plan (each line of a command file)
 *   --collect DIR                                    gather what finished
 *
 * The grid (tasks/compose/experiments_grid.ts: `variants` one factor at a time, and/or a full factorial `grid`)
 * writes into DIR: each run's folder `<DIR>/<run>/` (weights, train-log.json, run.json, ap.json,
 * detections.coco.json), the jobs' records `<DIR>/jobs/<name>/job.json`, and on collecting `results.md`,
 * `results.json` and `report.html` (over the finished runs and the original when `baseline: true`), naming the
 * jobs that are missing or failed (exit 1 then). A finished job is not run again. Making a plan and running one
 * here hold DIR's composition lock (lib/core/run_folder.ts `lockComposedRun`: a second grid into DIR exits 1 at
 * once); each job holds its record folder's lock, and each stage the lock of the folder it writes.
 * @module
 */
import { resolve } from "node:path";
import {
  checkInputFiles,
  type CliSpec,
  engineArgs,
  NETWORK_FLAGS,
  parseFlags,
  runTask,
  UsageError,
} from "../lib/cli/mod.ts";
import { inlineList, InputError, lockComposedRun, readJsonArtifact } from "../lib/core/mod.ts";
import { BACKEND_CHOICES } from "../lib/engine/mod.ts";
import {
  buildPlan,
  checkConfigInputs,
  type Collected,
  collectPlan,
  ExperimentsConfigSchema,
  type Plan,
  planRuns,
  PROJECT_ROOT,
  readPlan,
  runPlan,
  runPlanJob,
  shellQuote,
  writePlan,
} from "./compose/mod.ts";

const CLI = {
  task: "experiments",
  usage: [
    "--config experiments.json --out DIR [--jobs N] [--only NAME,…] [--backend B] [--conv C] [--workers N]",
    "--config experiments.json --plan DIR [--only NAME,…] [--backend B] [--conv C] [--workers N]",
    "--plan DIR --job NAME",
    "--collect DIR",
  ],
  summary:
    `Runs a grid of fine-tuning settings (deno task finetune, then deno task ap on the test split, for each)
as a plan of jobs: with --out here, --jobs at a time, then writes results.md, results.json and report.html;
with --plan only the plan (plan.json, commands-1.txt, commands-2.txt, …: one job a line, for GNU parallel, a
Slurm array or a Kubernetes Indexed Job, file after file); --job runs one job; --collect gathers what finished.
Finished jobs are not repeated.`,
  flags: {
    config: { kind: "string", value: "FILE", description: "experiments.json (see fixtures/)" },
    out: {
      kind: "string",
      value: "DIR",
      description: "with --config: make the plan in DIR, run it, collect",
    },
    plan: {
      kind: "string",
      value: "DIR",
      description: "with --config: write the plan only; with --job: its plan",
    },
    job: {
      kind: "string",
      value: "NAME",
      description: "run this job of --plan DIR (a line of its command files)",
    },
    collect: { kind: "string", value: "DIR", description: "gather the finished jobs of the plan in DIR" },
    jobs: { kind: "integer", min: 1, default: 1, description: "with --out: jobs run at a time" },
    backend: { kind: "choice", choices: BACKEND_CHOICES, description: "tf.js backend of every stage" },
    ...NETWORK_FLAGS,
    only: { kind: "string", value: "NAME,…", description: "only these runs of the config" },
  },
} as const satisfies CliSpec;

/** The flags that shape the plan: only with --config. */
const PLAN_FLAGS = ["only", "backend", "conv", "workers", "max-pixels", "trust-checkpoint"];

type Flags = ReturnType<typeof parseFlags<typeof CLI.flags>>;

/** Refuses the flags of `names` that were given, saying what `mode` takes instead. */
function refuse(f: Flags, names: readonly string[], mode: string): void {
  const bad = names.find((n) => f.given.has(n));
  if (bad) throw new UsageError(`--${bad} does not go with ${mode}`);
}

/** The plan of --config with --out or --plan DIR. */
async function makePlan(f: Flags, out: string): Promise<Plan> {
  await checkInputFiles(f, ["config"]);
  const configPath = resolve(f.config!);
  const config = await readJsonArtifact(configPath, ExperimentsConfigSchema);
  let runs = planRuns(config);
  if (f.only !== undefined) {
    const only = new Set(f.only.split(","));
    runs = runs.filter((r) => only.has(r.name));
    if (runs.length === 0) throw new UsageError(`--only ${f.only}: no such run in ${configPath}`);
  }
  const configDir = configPath.slice(0, configPath.lastIndexOf("/"));
  const resolveInConfig = (p: string) => resolve(configDir, p);
  await checkConfigInputs(config, resolveInConfig, configPath);
  return buildPlan({
    config,
    configPath,
    runs,
    resolve: resolveInConfig,
    out: resolve(out),
    projectRoot: PROJECT_ROOT.replace(/\/+$/, "") || "/",
    stageFlags: [
      ...engineArgs(f),
      ...(f.trustCheckpoint ? ["--trust-checkpoint"] : []),
      "--max-pixels",
      String(f.maxPixels),
    ],
    prepareFlags: ["--max-pixels", String(f.maxPixels)],
  });
}

/** Prints the table and the files of a collect; exit 1 naming the jobs not done. */
function finish(plan: Plan, c: Collected): void {
  console.log(`\n${c.table}`);
  console.log(`wrote ${c.files.join(", ")}`);
  if (c.unfinished.length > 0) {
    const which = c.unfinished.map((s) => `${s.job.name} (${s.state}: ${s.detail})`);
    throw new InputError(
      `${c.unfinished.length} of ${plan.jobs.length} jobs not done: ${inlineList(which, "; ")}`,
    );
  }
}

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  if (f.collect !== undefined) {
    refuse(f, ["config", "out", "plan", "job", "jobs", ...PLAN_FLAGS], "--collect DIR");
    const plan = await readPlan(resolve(f.collect));
    return finish(plan, await collectPlan(plan));
  }
  if (f.job !== undefined) {
    if (f.plan === undefined) throw new UsageError("--job NAME needs --plan DIR");
    refuse(f, ["config", "out", "jobs", ...PLAN_FLAGS], "--job (the plan fixed its flags)");
    await runPlanJob(await readPlan(resolve(f.plan)), f.job);
    return;
  }
  if (f.config === undefined) {
    throw new UsageError(
      "give --config FILE with --out DIR (run) or --plan DIR (plan only), --plan DIR --job NAME, or --collect DIR",
    );
  }
  if ((f.out === undefined) === (f.plan === undefined)) {
    throw new UsageError(
      "give --config FILE with exactly one of --out DIR (run here) or --plan DIR (plan only)",
    );
  }
  if (f.plan !== undefined) {
    refuse(f, ["jobs"], "--plan DIR (the jobs run elsewhere)");
    await using _grid = await lockComposedRun(resolve(f.plan), "experiments");
    const plan = await makePlan(f, f.plan);
    const files = await writePlan(plan);
    console.error(
      `experiments: ${plan.jobs.length} job(s) in ${plan.levels.length} level(s): ${
        plan.levels.map((l) => `${l.file}: ${inlineList(l.jobs)}`).join("; ")
      }`,
    );
    console.log(`wrote ${files.join(", ")}`);
    console.log(
      `run the command files in order, each line a job (e.g. ${
        plan.levels.map((l) => `parallel -j 2 < ${shellQuote(`${plan.out}/${l.file}`)}`).join(" && ")
      }), then:\n${plan.collect}`,
    );
    return;
  }
  await using _grid = await lockComposedRun(resolve(f.out!), "experiments");
  const plan = await makePlan(f, f.out!);
  await writePlan(plan);
  console.error(`experiments: ${plan.runs.length} run(s): ${inlineList(plan.runs.map((r) => r.name))}`);
  await runPlan(plan, { jobs: f.jobs });
  finish(plan, await collectPlan(plan));
}

if (import.meta.main) await runTask("experiments", main);
