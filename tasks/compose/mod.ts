/**
 * Stage composition, above the stages: the tasks that run other tasks (`demo`, `experiments`) as child
 * processes (`deno task <name> …`, each stage with its own permissions, artifacts and progress), the experiment
 * grid (config → named runs → finetune flags, results table), and the finetune flag table they derive settings
 * from (tasks/finetune.ts). `lib/` never runs a task; this folder does.
 * @module
 */
export { type DemoOptions, demoRunDir, runDemo } from "./demo_chain.ts";
export { PROJECT_ROOT, runDenoTask, TaskFailedError } from "./deno_task.ts";
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
export { type ExperimentsRunOptions, ResultsJsonSchema, runExperiments } from "./experiments_run.ts";
export {
  FINETUNE_CLI,
  finetuneOptions,
  type FinetuneSettings,
  parseFinetuneArgs,
  SETTING_FLAGS,
  type SettingFlag,
} from "../finetune.ts";
