/**
 * Stage composition, above the stages: the tasks that run other tasks (`demo`, `experiments`) as child
 * processes (`deno task <name> …`, each stage with its own permissions, artifacts and progress), the experiment
 * grid (config → named runs → finetune flags, results table), its plan (one job per run plus the shared ones, in
 * command files a scheduler runs), running and collecting the plan's jobs, and the finetune flag table they
 * derive settings from (tasks/finetune.ts). `lib/` never runs a task; this folder does.
 * @module
 */
export { type DemoOptions, demoRunDir, runDemo } from "./demo_chain.ts";
export { type DenoTaskOptions, PROJECT_ROOT, runDenoTask, TaskFailedError } from "./deno_task.ts";
export {
  type ExperimentsConfig,
  ExperimentsConfigError,
  ExperimentsConfigSchema,
  finetuneFlags,
  FinetuneSettingsSchema,
  type PlannedRun,
  planRuns,
  resultsMarkdown,
  type RunResult,
  type Start,
  startFlags,
  StartSchema,
} from "./experiments_grid.ts";
export {
  buildPlan,
  commandsFileName,
  commandsFileText,
  JOBS_DIR,
  type Plan,
  PLAN_FILE,
  type PlanInput,
  type PlanJob,
  PlanJobSchema,
  PlanSchema,
  type PlanStep,
  SHARED_JOB_NAMES,
  shellLine,
  shellQuote,
} from "./experiments_plan.ts";
export {
  checkConfigInputs,
  JobDependencyError,
  jobLogPath,
  type JobRecord,
  jobRecordPath,
  JobRecordSchema,
  type JobState,
  jobState,
  readPlan,
  runPlan,
  runPlanJob,
  writePlan,
} from "./experiments_jobs.ts";
export { type Collected, collectPlan, ResultsJsonSchema } from "./experiments_collect.ts";
export {
  FINETUNE_CLI,
  finetuneOptions,
  type FinetuneSettings,
  parseFinetuneArgs,
  SETTING_FLAGS,
  type SettingFlag,
} from "../finetune.ts";
