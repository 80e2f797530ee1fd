/**
 * Fine-tuning: gradients of a batch with accumulation, the epoch loop with validation and resume, the
 * optimisers and schedules, and experiment grids.
 * @module
 */
export {
  type ExperimentsConfig,
  ExperimentsConfigError,
  ExperimentsConfigSchema,
  finetuneFlags,
  type FinetuneSettings,
  FinetuneSettingsSchema,
  type PlannedRun,
  planRuns,
  resultsMarkdown,
  type RunResult,
  type Start,
  startFlags,
  StartSchema,
} from "./experiments.ts";
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
  decodeCheckpoint,
  encodeCheckpoint,
  FREEZE_MODES,
  type FreezeMode,
  type GradientOptions,
  type LossAndGradients,
  lossAndGradients,
  NonFiniteLossError,
  ownParamBuffers,
  prepareSample,
  splitTrainVal,
  stackImages,
  train,
  trainableNames,
  type TrainConfig,
  type TrainHooks,
  type TrainingLog,
  TrainingLogSchema,
  type TrainItem,
  type TrainSample,
  type TrainState,
  validateModel,
} from "./train.ts";
