/**
 * The `deno task bench` workload (mirrored in PyTorch by bench_torch.py), the per-layer profile and bench.json.
 * @module
 */
export {
  BENCH_CANDIDATES_PER_IMAGE,
  BENCH_CLASSES,
  BENCH_DETECT,
  BENCH_SGD,
  benchBoxes,
  benchImages,
  type BenchOptions,
  type BenchReport,
  BenchReportSchema,
  benchTargets,
  calibrateCandidates,
  createSsd300Bench,
  formatBench,
  type LayerProfile,
  type LayerTime,
  median,
  peakRssMb,
  PERSON_LOGIT_SHIFT,
  type PhaseTiming,
  poolTrainStep,
  profileLayers,
  resetPeakRss,
  RssSampler,
  runBench,
  runTorchBench,
  shiftPersonLogits,
  timeBatches,
} from "./bench.ts";
