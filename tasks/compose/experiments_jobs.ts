/**
 * Running the jobs of an experiment plan (tasks/compose/experiments_plan.ts): writing and reading the plan
 * folder, one job (`deno task experiments --plan DIR --job NAME`: its `deno task` steps as child processes, with
 * a record of its outcome), and the whole plan on this machine level by level with N jobs at a time (`deno task
 * experiments --config … --out … --jobs N`).
 *
 * A job's record, `<plan>/jobs/<name>/job.json` ({@link JobRecordSchema}), says `running` (host, pid, start) from
 * its start, then `done` (with each step's wall time) or `failed` (with the exit status of the step that failed).
 * The job holds its record folder's lock for its whole life (lib/core/run_folder.ts `lockRunFolder`: a second
 * process running the same job exits 1 naming the first) and commits each version of the record through it. A
 * job killed on the way (kill -9, a node lost, a Slurm time limit) leaves `running` behind and its lock free:
 * --collect reports it missing (killed; "still running" while the lock is held) and the next run of it starts it
 * again (finetune resumes from its last finished epoch). A finished job is never run again; delete its record
 * folder and run folder to redo it. The plan's own files (plan.json, commands-*.txt) are committed as one set
 * under the plan folder's lock.
 * @module
 */
import { hostname } from "node:os";
import { z } from "zod";
import { UsageError } from "../../lib/cli/mod.ts";
import {
  exists,
  inlineList,
  InputError,
  lockRunFolder,
  readJsonArtifact,
  RunFolderBusyError,
  writeFileAtomic,
  writeJsonArtifact,
} from "../../lib/core/mod.ts";
import { readDataset } from "../../lib/data/mod.ts";
import { runDenoTask } from "./deno_task.ts";
import type { ExperimentsConfig } from "./experiments_grid.ts";
import {
  commandsFileName,
  commandsFileText,
  JOBS_DIR,
  type Plan,
  PLAN_FILE,
  type PlanJob,
  PlanSchema,
} from "./experiments_plan.ts";

/** `jobs/<name>.json`: what became of one job. */
export const JobRecordSchema = z.strictObject({
  job: z.string(),
  status: z.enum(["running", "done", "failed"]),
  host: z.string(),
  pid: z.number().int(),
  /** ISO 8601 times */
  started: z.string(),
  finished: z.string().optional(),
  /** wall seconds of the whole job */
  seconds: z.number().optional(),
  /** the finished steps and their wall seconds (child process start to exit) */
  steps: z.array(z.strictObject({ task: z.string(), seconds: z.number() })),
  /** failed: the exit status of the step that failed (absent when no step ran, e.g. a dependency missing) */
  exit_code: z.number().int().optional(),
  error: z.string().optional(),
});
export type JobRecord = z.infer<typeof JobRecordSchema>;

/** Where a job stands: done, failed, or missing (never started, or started and never ended). */
export interface JobState {
  job: PlanJob;
  state: "done" | "failed" | "missing";
  /** its record; null when it has none */
  record: JobRecord | null;
  /** one line: how it ended or why it counts as missing */
  detail: string;
}

/** A job that cannot start because a job it depends on has not finished. */
export class JobDependencyError extends InputError {
  override name = "JobDependencyError";
}

/** The record file in a job's record folder. */
const JOB_RECORD_FILE = "job.json";
/** The log file in a job's record folder. */
const JOB_LOG_FILE = "output.log";

/** `<plan>/jobs/<name>`: the job's record folder, whose lock the job holds while it runs. */
export const jobRecordDir = (plan: Plan, name: string): string => `${plan.out}/${JOBS_DIR}/${name}`;
/** `<plan>/jobs/<name>/job.json`. */
export const jobRecordPath = (plan: Plan, name: string): string =>
  `${jobRecordDir(plan, name)}/${JOB_RECORD_FILE}`;
/**
 * `<plan>/jobs/<name>/output.log`: the output of a job run by {@link runPlan} with more than one job at a time
 * (appended as it comes, by the holder of the folder's lock; not part of a committed set).
 */
export const jobLogPath = (plan: Plan, name: string): string => `${jobRecordDir(plan, name)}/${JOB_LOG_FILE}`;

/** Reads `<dir>/plan.json`. @throws InputError naming the folder when there is no plan in it */
export async function readPlan(dir: string): Promise<Plan> {
  const file = `${dir.replace(/\/+$/, "") || "/"}/${PLAN_FILE}`;
  if (!(await exists(file))) {
    throw new InputError(
      `${dir}: no ${PLAN_FILE} here; make one with deno task experiments --config FILE --plan DIR`,
    );
  }
  return await readJsonArtifact(file, PlanSchema);
}

/**
 * Writes plan.json and commands-<level>.txt into the plan folder as one set, under the folder's lock (the command
 * files of levels it no longer has are removed in the same commit). @returns the files written
 */
export async function writePlan(plan: Plan): Promise<string[]> {
  await using folder = await lockRunFolder(plan.out, "experiments");
  await writeJsonArtifact(folder.staged(PLAN_FILE), PlanSchema, plan);
  for (const { level, file } of plan.levels) {
    await writeFileAtomic(folder.staged(file), commandsFileText(plan, level));
  }
  const stale: string[] = [];
  for (let level = plan.levels.length + 1; await exists(folder.path(commandsFileName(level))); level++) {
    stale.push(commandsFileName(level));
  }
  await folder.commit({ remove: stale });
  return [PLAN_FILE, ...plan.levels.map((l) => l.file)].map((f) => folder.path(f));
}

/** The config's input paths exist, and its dataset.json is valid (else an InputError naming the config field). */
export async function checkConfigInputs(
  config: ExperimentsConfig,
  resolve: (path: string) => string,
  configName: string,
): Promise<void> {
  const fields: [string, string | undefined][] = [["dataset", config.dataset], ["data", config.data]];
  for (const [k, v] of Object.entries(config.start)) {
    if (typeof v === "string") fields.push([`start.${k}`, v]);
  }
  for (const [field, path] of fields) {
    if (path !== undefined && !(await exists(resolve(path)))) {
      throw new InputError(`${configName}: ${field} ${resolve(path)}: no such file or directory`);
    }
  }
  if (config.dataset) await readDataset(resolve(config.dataset)); // an invalid one fails before any job
}

/**
 * Whether the job of record folder `dir` is running now: its lock is held by another process (taking it also
 * cleans what a killed job left there, as every new holder does).
 */
async function jobHoldsLock(dir: string): Promise<boolean> {
  try {
    await (await lockRunFolder(dir, "experiments --collect")).release();
    return false;
  } catch (e) {
    if (e instanceof RunFolderBusyError) return true;
    throw e;
  }
}

/**
 * Where `job` stands, from its record (or, without one, from its output file: a folder of an older version).
 * @param o.held this process holds the job's record folder (its own job): its lock is not probed
 */
export async function jobState(plan: Plan, job: PlanJob, o: { held?: boolean } = {}): Promise<JobState> {
  const file = jobRecordPath(plan, job.name);
  if (!(await exists(file))) {
    return (await exists(job.output))
      ? { job, state: "done", record: null, detail: `${job.output} exists (no job record)` }
      : { job, state: "missing", record: null, detail: "not run" };
  }
  const record = await readJsonArtifact(file, JobRecordSchema);
  const where = `on ${record.host} (pid ${record.pid}) at ${record.started}`;
  if (record.status === "running") {
    const running = !o.held && await jobHoldsLock(jobRecordDir(plan, job.name));
    return {
      job,
      state: "missing",
      record,
      detail: running
        ? `started ${where}, still running (it holds its lock)`
        : `started ${where}, no end recorded: killed (its lock is free)`,
    };
  }
  if (record.status === "failed") {
    return { job, state: "failed", record, detail: record.error ?? `failed ${where}` };
  }
  if (!(await exists(job.output))) {
    return { job, state: "missing", record, detail: `recorded done ${where}, but ${job.output} is gone` };
  }
  return { job, state: "done", record, detail: `done ${where} in ${(record.seconds ?? 0).toFixed(0)} s` };
}

/**
 * Runs one job of the plan: skipped when it has finished; refused (and recorded failed) while a job it depends on
 * has not; else its steps in order, each a `deno task` child process, with the record kept current.
 * @param o.log append the steps' output to this file instead of passing it through
 * @returns whether it ran or was skipped as finished
 * @throws UsageError for a name not in the plan; JobDependencyError; TaskFailedError when a step fails (recorded)
 */
export async function runPlanJob(
  plan: Plan,
  name: string,
  o: { log?: boolean } = {},
): Promise<"ran" | "skipped"> {
  const job = plan.jobs.find((j) => j.name === name);
  if (!job) {
    throw new UsageError(
      `--job ${name}: no such job in ${plan.out}/${PLAN_FILE} (jobs: ${
        inlineList(plan.jobs.map((j) => j.name))
      })`,
    );
  }
  // one process per job: a second one exits 1 here naming the first (RunFolderBusyError)
  await using folder = await lockRunFolder(jobRecordDir(plan, name), `experiments --job ${name}`);
  const now = await jobState(plan, job, { held: true });
  if (now.state === "done") {
    console.error(`experiments: job ${name} has finished (${now.detail}); skipped`);
    return "skipped";
  }
  const save = async (r: JobRecord) => {
    await writeJsonArtifact(folder.staged(JOB_RECORD_FILE), JobRecordSchema, r);
    await folder.commit();
  };
  const t0 = performance.now();
  const record: JobRecord = {
    job: name,
    status: "running",
    host: hostname(),
    pid: Deno.pid,
    started: new Date().toISOString(),
    steps: [],
  };
  const end = async (patch: Partial<JobRecord>) => {
    const seconds = (performance.now() - t0) / 1000;
    await save({ ...record, finished: new Date().toISOString(), seconds, ...patch });
  };
  for (const dep of job.depends_on) {
    const d = await jobState(plan, plan.jobs.find((j) => j.name === dep)!);
    if (d.state !== "done") {
      const error =
        `job ${name} needs job ${dep}, which ${d.state === "failed" ? "failed" : "has not finished"}` +
        ` (${d.detail}); run ${commandsFileName(d.job.level)} before ${commandsFileName(job.level)}`;
      await end({ status: "failed", error });
      throw new JobDependencyError(error);
    }
  }
  await save(record);
  const log = o.log ? folder.path(JOB_LOG_FILE) : undefined; // appended as it comes, not staged
  for (const step of job.steps) {
    try {
      const seconds = await runDenoTask(step.task, step.args, { log });
      record.steps.push({ task: step.task, seconds });
      await save(record);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      await end({
        status: "failed",
        error: (e as Error).message,
        ...(typeof code === "number" ? { exit_code: code } : {}),
      });
      throw e;
    }
  }
  await end({ status: "done" });
  return "ran";
}

/**
 * Runs the plan on this machine: level after level, `jobs` jobs of a level at a time, each as
 * {@link runPlanJob}; a job that fails is reported and the others go on. With more than one job at a time each
 * job's output goes to `jobs/<name>.log` and one line per start and end goes to stderr.
 * @returns the names of the jobs that failed this time
 */
export async function runPlan(plan: Plan, o: { jobs: number }): Promise<string[]> {
  const failed: string[] = [];
  const total = plan.jobs.length;
  let started = 0;
  const run = async (name: string) => {
    const log = o.jobs > 1;
    const n = ++started;
    console.error(
      `\nexperiments: job ${n}/${total}: ${name}${log ? ` (output: ${jobLogPath(plan, name)})` : ""}`,
    );
    const t0 = performance.now();
    try {
      const what = await runPlanJob(plan, name, { log });
      if (log && what === "ran") {
        console.error(`experiments: job ${name} done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      failed.push(name);
      console.error(`experiments: job ${name} failed: ${e.message}; continuing`);
    }
  };
  for (const level of plan.levels) {
    const queue = [...level.jobs];
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) await run(name);
    };
    await Promise.all(Array.from({ length: Math.min(o.jobs, queue.length) }, worker));
  }
  return failed;
}
