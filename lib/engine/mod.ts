/**
 * How the network runs: TF.js backend selection, the training gradients TF.js lacks under Deno, convolution
 * gradients on fast kernels, oneDNN convolutions, the data-parallel worker pool, and the one engine choice of
 * every task (setup.ts: oneDNN when it loads, all cores).
 * @module
 */
export {
  BACKEND_CHOICES,
  type BackendChoice,
  BackendUnavailableError,
  initBackend,
  isBackendChoice,
} from "./backend.ts";
export {
  conv2dFilterGrad,
  conv2dInputGrad,
  convForward,
  convOutSize,
  convWithGrad,
  FILTER_GRAD_CONV_MIN_POSITIONS,
  flippedSwappedFilter,
  type GradMap,
  type KernelFuncEngine,
} from "./conv_grad.ts";
export {
  accumulateGradients,
  accumulateGradientsAsync,
  type AccumulateOptions,
  type GradientOptions,
  type LossAndGradients,
  lossAndGradients,
  lossAndGradientsAsync,
  type TrainSample,
} from "./batch_gradients.ts";
export { registerTrainingGradients, TRAINING_GRADIENT_KERNELS } from "./kernel_gradients.ts";
export {
  DNNL_LIBRARY_CANDIDATES,
  enableOneDnn,
  FILTER_GRAD_KERNEL,
  oneDnnCalls,
  oneDnnConvWithGrad,
  OneDnnError,
  oneDnnLibrary,
} from "./onednn.ts";
export {
  type GradientResult,
  modelParamData,
  type ParamData,
  type PoolGradientOptions,
  poolLossAndGradients,
  type PoolOptions,
  type SgdHyper,
  shardRanges,
  SsdWorkerPool,
  WorkerError,
} from "./pool.ts";
export type { WorkerReply, WorkerRequest, WorkerResults } from "./pool_protocol.ts";
export {
  CONV_CHOICES,
  type ConvChoice,
  describeEngine,
  type EngineInfo,
  type EngineRequest,
  type EngineSgd,
  type EngineUse,
  initEngine,
  INSTALL_ONEDNN_HINT,
  machineCores,
  ONEDNN_PARALLELISM,
  type SsdRunner,
  startRunner,
} from "./setup.ts";
export { PEAK_CONV, PEAK_CONV_GFLOP, timePeakConv } from "./peak.ts";
