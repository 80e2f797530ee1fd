/**
 * Gathering an experiment plan's finished jobs (`deno task experiments --collect DIR`, and the end of every local
 * run): each run's ap.json into `results.json` ({@link ResultsJsonSchema}) and the table `results.md`, the
 * original and the finished runs into `report.html` (`deno task report`), and the jobs that are missing (never
 * started, or started and never ended) or failed, by name. results.md and results.json are committed as one set
 * under the plan folder's lock (lib/core/run_folder.ts); `report` locks it in turn for report.html.
 * @module
 */
import { z } from "zod";
import {
  exists,
  lockOutputFiles,
  readJsonArtifact,
  writeFileAtomic,
  writeJsonArtifact,
} from "../../lib/core/mod.ts";
import { type ApJson, ApJsonSchema } from "../../lib/evaluation/mod.ts";
import { readRunJson, RUN_JSON_FILE } from "../../lib/train/mod.ts";
import { runDenoTask } from "./deno_task.ts";
import { resultsMarkdown, type RunResult } from "./experiments_grid.ts";
import { type JobState, jobState } from "./experiments_jobs.ts";
import type { Plan } from "./experiments_plan.ts";

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
  /** the run's job: done, failed, or missing (not run, or started and never ended); absent in older files */
  status: z.enum(["done", "failed", "missing"]).optional(),
  error: z.string().optional(),
}));

/** `best epoch N` / `last epoch` from the weights choice `deno task ap` records in ap.json; undefined: none. */
function evaluatedOf(ap: ApJson | null): string | undefined {
  const which = ap?.settings.weights_choice;
  if (which === "last") return "last epoch";
  if (which !== "best") return undefined;
  return typeof ap!.settings.best_epoch === "number" ? `best epoch ${ap!.settings.best_epoch}` : "best epoch";
}

/** A run's training time: the wall seconds of its finetune step (its job record), else its run.json's. */
async function trainingSeconds(s: JobState): Promise<number | null> {
  const step = s.record?.steps.find((st) => st.task === "finetune");
  if (step) return step.seconds;
  const file = `${s.job.dir}/${RUN_JSON_FILE}`;
  if (!(await exists(file))) return null;
  const runJson = await readRunJson(file);
  return "seconds" in runJson ? runJson.seconds : null;
}

/** What {@link collectPlan} found and wrote. */
export interface Collected {
  results: RunResult[];
  table: string;
  files: string[];
  /** the jobs that are not done (failed or missing), in plan order */
  unfinished: JobState[];
}

/**
 * Reads every job's state, writes results.json and results.md (every run of the plan: its numbers when done,
 * else its state) and, when the original or a run is done, report.html over those.
 */
export async function collectPlan(plan: Plan): Promise<Collected> {
  const states = new Map<string, JobState>();
  for (const job of plan.jobs) states.set(job.name, await jobState(plan, job));
  const results: RunResult[] = [];
  for (const run of plan.runs) {
    const s = states.get(run.name)!;
    const apJson = s.state === "done" ? await readJsonArtifact(`${s.job.dir}/ap.json`, ApJsonSchema) : null;
    results.push({
      name: run.name,
      settings: run.settings,
      ap50: apJson?.ap50 ?? null,
      ap75: apJson?.ap75 ?? null,
      ap: apJson?.ap ?? null,
      ar100: apJson?.ar100 ?? null,
      seconds: s.state === "done" ? await trainingSeconds(s) : null,
      ...(evaluatedOf(apJson) ? { evaluated: evaluatedOf(apJson) } : {}),
      status: s.state,
      ...(s.state === "done" ? {} : { error: s.detail }),
    });
  }
  const unfinished = [...states.values()].filter((s) => s.state !== "done");
  const table = resultsMarkdown(results, plan.base);
  const notes = unfinished.map((s) => `- ${s.job.name}: ${s.state}: ${s.detail}\n`).join("");
  const files = [`${plan.out}/results.md`, `${plan.out}/results.json`];
  {
    // the table's two files as one set, under the plan folder's lock (released before report takes it)
    await using outputs = await lockOutputFiles("experiments", files);
    await writeFileAtomic(
      outputs.staged(files[0]),
      `# Experiments (${plan.config})\n\n${table}${notes ? `\nNot finished:\n\n${notes}` : ""}`,
    );
    await writeJsonArtifact(outputs.staged(files[1]), ResultsJsonSchema, results);
    await outputs.commit();
  }
  const reportRuns = plan.jobs.filter((j) => j.kind !== "prepare" && states.get(j.name)!.state === "done")
    .map((j) => j.dir);
  if (reportRuns.length > 0) {
    const report = `${plan.out}/report.html`;
    await runDenoTask("report", ["--runs", ...reportRuns, "--out", report, "--dataset", plan.dataset]);
    files.push(report);
  }
  return { results, table, files, unfinished };
}
