/**
 * An experiment grid as a plan (`deno task experiments --plan DIR`): every configuration is one self-contained
 * job (`deno task finetune` then `deno task ap` into its own run folder), beside the shared `prepare` (when the
 * config gives `data`) and the scoring of the original checkpoint (`baseline`), which the others depend on. The
 * plan is data — `plan.json` ({@link PlanSchema}) and one plain command file per dependency level,
 * `commands-1.txt`, `commands-2.txt`, … ({@link commandsFileText}), each line one independent job — so that GNU
 * parallel, a Slurm job array or a Kubernetes Indexed Job runs it unmodified, level after level. A line is
 *
 *     cd <project root> && deno task experiments --plan <DIR> --job <NAME>
 *
 * (absolute paths, shell-quoted): it works from any folder of a machine that has the project at the same path,
 * `deno` on its PATH and DIR on storage every machine shares. Running one job through that entry point rather
 * than as `deno task finetune … && deno task ap …` lets the job skip itself when finished, check its
 * dependencies, hold its lock and leave a record of its outcome (`jobs/<name>/job.json`: running, done or
 * failed with the exit status) that `--collect` reads; the exact `deno task` steps are in plan.json (`steps`,
 * `shell`) for anyone who wants to run them by hand. Pure: nothing here reads, writes or spawns (tasks/compose/experiments_jobs.ts does).
 * @module
 */
import { z } from "zod";
import {
  type ExperimentsConfig,
  ExperimentsConfigError,
  finetuneFlags,
  FinetuneSettingsSchema,
  type PlannedRun,
  startFlags,
} from "./experiments_grid.ts";
import { shellLine, shellQuote } from "./deno_task.ts";

export { shellLine, shellQuote };

/** The plan's file inside the plan folder (which is also the grid's output folder). */
export const PLAN_FILE = "plan.json";
/**
 * The folder of the jobs' record folders (`<name>/job.json`, and with `--jobs N` > 1 the job's `<name>/output.log`).
 */
export const JOBS_DIR = "jobs";
/** Names of the shared jobs; no run of a config may take them. */
export const SHARED_JOB_NAMES = ["prepare", "original"] as const;

/** `commands-<level>.txt`. */
export const commandsFileName = (level: number): string => `commands-${level}.txt`;

/** One `deno task <task> <args…>` of a job, run in the project root. */
export const PlanStepSchema = z.strictObject({
  task: z.string().min(1),
  args: z.array(z.string()),
});
export type PlanStep = z.infer<typeof PlanStepSchema>;

/** One job of the plan. */
export const PlanJobSchema = z.strictObject({
  /** `prepare`, `original` or the run's name (its folder's name) */
  name: z.string().min(1).refine((n) => !n.includes("/") && !n.startsWith("."), "not a plain folder name"),
  kind: z.enum(["prepare", "original", "run"]),
  /** 1-based; the job is a line of commands-<level>.txt, and depends only on jobs of lower levels */
  level: z.number().int().positive(),
  depends_on: z.array(z.string()),
  /** the folder the job writes (absolute) */
  dir: z.string().min(1),
  /** the file whose presence means the job finished, for folders written before job records existed */
  output: z.string().min(1),
  steps: z.array(PlanStepSchema).min(1),
  /** the steps as shell lines (`deno task …`, words quoted), to read or to run by hand in the project root */
  shell: z.array(z.string()),
  /** the line of commands-<level>.txt: `cd <root> && deno task experiments --plan <dir> --job <name>` */
  command: z.string().min(1),
});
export type PlanJob = z.infer<typeof PlanJobSchema>;

/** `plan.json`. Every path is absolute. */
export const PlanSchema = z.strictObject({
  version: z.literal(1),
  /** the project folder (with deno.json) every command line runs in */
  project_root: z.string().min(1),
  /** the experiments config file the plan was made from */
  config: z.string().min(1),
  /** the plan folder: plan.json, commands-*.txt, jobs/, the run folders, results.* and report.html */
  out: z.string().min(1),
  /** the dataset.json every job reads (written by the `prepare` job when the config gives `data`) */
  dataset: z.string().min(1),
  /** the config's base settings (results.md lists what differs from them) */
  base: FinetuneSettingsSchema,
  runs: z.array(z.strictObject({ name: z.string(), settings: FinetuneSettingsSchema })),
  jobs: z.array(PlanJobSchema).min(1),
  /** per level, its command file and its jobs, in the order the files list them */
  levels: z.array(z.strictObject({
    level: z.number().int().positive(),
    file: z.string().min(1),
    jobs: z.array(z.string()),
  })),
  /** the command that gathers the finished jobs into results.json, results.md and report.html */
  collect: z.string().min(1),
});
export type Plan = z.infer<typeof PlanSchema>;

/** What {@link buildPlan} needs. Paths absolute. */
export interface PlanInput {
  config: ExperimentsConfig;
  /** the config file */
  configPath: string;
  /** the runs to plan (planRuns of the config, possibly filtered by --only) */
  runs: readonly PlannedRun[];
  /** resolves a path of the config (relative to the config file's folder) */
  resolve: (path: string) => string;
  /** the plan and output folder */
  out: string;
  /** the project folder with deno.json (no trailing slash) */
  projectRoot: string;
  /** extra flags for every stage that runs the network, e.g. `--backend wasm` */
  stageFlags: readonly string[];
  /** extra flags for prepare, e.g. `--max-pixels N` */
  prepareFlags: readonly string[];
}

/**
 * The plan of a grid: jobs `prepare` (when the config gives `data`), `original` (when `baseline` is set and the
 * start is a checkpoint) and one per run, with the same `deno task` arguments the grid has always used, levels
 * from their dependencies (prepare: 1; the others: 2 after a prepare, else 1), and their command lines.
 * @throws ExperimentsConfigError when a run takes the name of a shared job
 */
export function buildPlan(i: PlanInput): Plan {
  const { config, out } = i;
  const clash = i.runs.find((r) => (SHARED_JOB_NAMES as readonly string[]).includes(r.name));
  if (clash) {
    throw new ExperimentsConfigError(
      `a run may not be named ${JSON.stringify(clash.name)} (a shared job's name)`,
    );
  }
  const ap = config.ap;
  const apFlags = [
    ...["--split", ap.split, "--min-score", String(ap.min_score)],
    ...["--max-overlap", String(ap.max_overlap), "--top-k", String(ap.top_k)],
    ...i.stageFlags,
  ];
  const dataset = config.data ? `${out}/dataset.json` : i.resolve(config.dataset!);
  const drafts: Omit<PlanJob, "level" | "shell" | "command">[] = [];
  const shared: string[] = [];
  if (config.data) {
    drafts.push({
      name: "prepare",
      kind: "prepare",
      depends_on: [],
      dir: out,
      output: dataset,
      steps: [{ task: "prepare", args: ["--data", i.resolve(config.data), "--out", out, ...i.prepareFlags] }],
    });
    shared.push("prepare");
  }
  if (config.baseline && "checkpoint" in config.start) {
    const dir = `${out}/original`;
    const args = [
      "--dataset",
      dataset,
      "--checkpoint",
      i.resolve(config.start.checkpoint),
      "--class",
      "person",
    ];
    drafts.push({
      name: "original",
      kind: "original",
      depends_on: [...shared],
      dir,
      output: `${dir}/ap.json`,
      steps: [{ task: "ap", args: [...args, "--out", dir, ...apFlags] }],
    });
  }
  for (const run of i.runs) {
    const dir = `${out}/${run.name}`;
    const start = startFlags(config.start, i.resolve);
    drafts.push({
      name: run.name,
      kind: "run",
      depends_on: [...shared],
      dir,
      output: `${dir}/ap.json`,
      steps: [
        {
          task: "finetune",
          args: [
            "--dataset",
            dataset,
            ...start,
            "--out",
            dir,
            ...finetuneFlags(run.settings),
            ...i.stageFlags,
          ],
        },
        {
          task: "ap",
          args: ["--dataset", dataset, "--weights", `${dir}/weights.json`, "--out", dir, ...apFlags],
        },
      ],
    });
  }
  const levels = new Map<string, number>();
  const cd = `cd ${shellQuote(i.projectRoot)} &&`;
  const jobs: PlanJob[] = drafts.map((d) => {
    const level = 1 + Math.max(0, ...d.depends_on.map((n) => levels.get(n)!));
    levels.set(d.name, level);
    return {
      ...d,
      level,
      shell: d.steps.map((s) => shellLine(["deno", "task", s.task, ...s.args])),
      command: `${cd} ${shellLine(["deno", "task", "experiments", "--plan", out, "--job", d.name])}`,
    };
  });
  const broken = jobs.find((j) => j.command.includes("\n"));
  if (broken) {
    throw new ExperimentsConfigError(
      `job ${broken.name}: a path holds a line break, which a command file (one job a line) cannot hold`,
    );
  }
  const maxLevel = Math.max(...jobs.map((j) => j.level));
  return {
    version: 1,
    project_root: i.projectRoot,
    config: i.configPath,
    out,
    dataset,
    base: config.base,
    runs: i.runs.map((r) => ({ name: r.name, settings: r.settings })),
    jobs,
    levels: Array.from({ length: maxLevel }, (_, k) => ({
      level: k + 1,
      file: commandsFileName(k + 1),
      jobs: jobs.filter((j) => j.level === k + 1).map((j) => j.name),
    })),
    collect: `${cd} ${shellLine(["deno", "task", "experiments", "--collect", out])}`,
  };
}

/** The text of commands-<level>.txt: the command line of each job of that level, one a line. */
export function commandsFileText(plan: Plan, level: number): string {
  return plan.jobs.filter((j) => j.level === level).map((j) => `${j.command}\n`).join("");
}
