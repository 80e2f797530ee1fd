/**
 * Fine-tuning: the loss and gradients of a batch with micro-batch accumulation (step), the epoch loop (loop) with
 * validation (validate) and the resume state (resume), the optimisers and schedules (optim), which parameters
 * train (freeze), the training examples (samples), a whole `deno task finetune` run
 * (finetune, finetune_flags) with its artifacts train-log.json/.csv and run.json, its resume key (resume_key) and
 * best epoch (best: `best/`, `--select`), and experiment grids (experiments, experiments_run) and the demo chain
 * (demo).
 * @module
 */
export {
  BEST_DIR,
  type BestEpoch,
  chooseRunWeights,
  improves,
  type RunWeightsChoice,
  SELECT_METRICS,
  type SelectMetric,
  writeBestWeights,
} from "./best.ts";
export { type DemoOptions, demoRunDir, runDemo } from "./demo.ts";
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
} from "./experiments.ts";
export { type ExperimentsRunOptions, ResultsJsonSchema, runExperiments } from "./experiments_run.ts";
export { finetune, type FinetuneSummary, resolveHeadInit } from "./finetune.ts";
export {
  FINETUNE_CLI,
  type FinetuneOptions,
  finetuneOptions,
  type FinetuneSettings,
  parseFinetuneArgs,
  SETTING_FLAGS,
  type SettingFlag,
} from "./finetune_flags.ts";
export { FREEZE_MODES, type FreezeMode, trainableNames } from "./freeze.ts";
export {
  NonFiniteLossError,
  ownParamBuffers,
  scheduleOf,
  type StepReport,
  type StopReason,
  train,
  type TrainConfig,
  type TrainHooks,
  type TrainResult,
} from "./loop.ts";
export {
  learningRateAt,
  Optimizer,
  type OptimizerConfig,
  type OptimizerKind,
  OPTIMIZERS,
  type OptimizerState,
  type ScheduleConfig,
  type ScheduleKind,
  SCHEDULES,
} from "./optim.ts";
export {
  checkResumeSettings,
  decodeResumeState,
  encodeResumeState,
  loadResumeState,
  OLD_RESUME_FILE,
  RESUME_FILE,
  type ResumeState,
  ResumeStateError,
} from "./resume.ts";
export {
  type Engine,
  EngineSchema,
  readRunJson,
  RUN_JSON_FILE,
  type RunJson,
  RunJsonSchema,
  type RunNote,
  RunNoteSchema,
  type StartModel,
  StartModelSchema,
  type Stopped,
  StoppedSchema,
  writeRunJson,
} from "./run_json.ts";
export { prepareSample, splitTrainVal, type TrainItem, trainItemsOf } from "./samples.ts";
export {
  accumulateGradients,
  accumulateGradientsAsync,
  type AccumulateOptions,
  type GradientOptions,
  type LossAndGradients,
  lossAndGradients,
  lossAndGradientsAsync,
  stackImages,
  type TrainSample,
} from "./step.ts";
export {
  readTrainingLog,
  TRAIN_LOG_CSV_COLUMNS,
  TRAIN_LOG_CSV_FILE,
  TRAIN_LOG_FILE,
  type TrainingLog,
  trainingLogCsv,
  TrainingLogSchema,
  writeTrainingLog,
  writeTrainingLogs,
} from "./train_log.ts";
export { datasetFingerprint, resumeKey, startFingerprint } from "./resume_key.ts";
export { validateModel, validationAp } from "./validate.ts";
