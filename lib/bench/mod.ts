/**
 * `deno task bench`: the workload (mirrored in PyTorch by bench_torch.py, run by pytorch.ts, and in ONNX Runtime
 * by onnxruntime.ts), timing and memory,
 * the machine (CPU, ISA), the per-layer profile, the run (run.ts), bench.json's schema and its summary.
 * @module
 */
export { AP_BENCH_SHAPE, apBenchCase, timeApEvaluation } from "./ap_timing.ts";
export { describeMachine, isaOfFlags, isaOfOneDnnCap } from "./machine.ts";
export { type LayerProfile, type LayerTime, profileLayers } from "./profile.ts";
export {
  compareWithOnnxRuntime,
  formatInterleaved,
  type InterleavedModel,
  type InterleavedRow,
  InterleavedRowSchema,
  interleaveWithOnnxRuntime,
} from "./onnx_interleaved.ts";
export { type OnnxRuntimeFigures, OnnxRuntimeFiguresSchema, runOnnxRuntimeBench } from "./onnxruntime.ts";
export { runTorchBench, type TorchFigures } from "./pytorch.ts";
export { type BenchOptions, runBench } from "./run.ts";
export {
  type BenchReport,
  BenchReportSchema,
  type Machine,
  MachineSchema,
  type Throughput,
} from "./schema.ts";
export { median, peakRssMb, type PhaseTiming, resetPeakRss, RssSampler, timeBatches } from "./timing.ts";
export { formatBench } from "./format.ts";
// the workload's public part: its inputs and its FLOP counts (the calibration and parameter plumbing stay inside)
export {
  benchBoxes,
  benchImages,
  benchTargets,
  createSsd300Bench,
  PERSON_LOGIT_SHIFT,
  SSD300_FORWARD_GFLOP,
  SSD300_TRAIN_GFLOP,
} from "./workload.ts";
