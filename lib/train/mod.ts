/**
 * Fine-tuning: the epoch loop (loop) with validation (validate) and the resume state (resume), the optimisers
 * and schedules (optim), where a step's gradients and update run (stepper: this thread or the engine's
 * workers), which parameters train (freeze), the training examples (samples), and a whole `deno task
 * finetune` run (finetune, finetune_options) with its artifacts train-log.json/.csv and run.json, its resume
 * key (resume_key) and best epoch (best: `best/`, `--select`). The loss and gradients of a batch are the
 * engine's (lib/engine/batch_gradients.ts); demo and experiments compose tasks (tasks/compose/).
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
export { finetune, type FinetuneSummary, resolveHeadInit } from "./finetune.ts";
export type { FinetuneOptions } from "./finetune_options.ts";
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
  CorruptResumeStateError,
  decodeResumeState,
  encodeResumeState,
  loadResumeState,
  OLD_RESUME_FILE,
  RESUME_FILE,
  RESUME_VERSION,
  type ResumeState,
  ResumeStateError,
} from "./resume.ts";
export {
  type Engine,
  EngineSchema,
  EpochTimingSchema,
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
