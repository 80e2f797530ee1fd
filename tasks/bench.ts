/**
 * `deno task bench` — SSD300 speed on this CPU with the user's default engine (lib/engine/setup.ts; `--conv`,
 * `--workers` override as in every task): network forward, inference (forward + detection) and training steps
 * (forward, MultiBox loss, backward, SGD) in ms per image, effective GFLOP/s against the practical peak measured
 * in the same run, CPU model and ISA, peak RSS, a per-layer profile, and the same workload in PyTorch
 * (lib/bench/bench_torch.py, as many threads as our engine uses cores) with the ratios, ONNX Runtime's forward
 * and inference on the same model as model.onnx (same threads, batch), and the time of COCO AP over a test
 * split's worth of detections (lib/bench/ap_timing.ts) → bench.json.
 * `--epoch --data PennFudanPed.zip`: one whole `finetune` epoch (defaults; augmentation off, then on) against the
 * notebook's own PyTorch loop (lib/bench/epoch_torch.py) on the same images → bench-epoch.json (lib/bench/epoch.ts).
 * @module
 */
import {
  BACKEND_FLAG,
  checkInputFiles,
  type CliSpec,
  ENGINE_FLAGS,
  engineArgs,
  parseFlags,
  runTask,
  TRUST_CHECKPOINT_FLAG,
  UsageError,
} from "../lib/cli/mod.ts";
import { lockOutputFiles, writeJsonArtifact } from "../lib/core/mod.ts";
import { initBackend, initEngine, machineCores } from "../lib/engine/mod.ts";
import { exportClassNames } from "../lib/export/mod.ts";
import { loadCheckpointFile } from "../lib/interop/mod.ts";
import {
  BenchReportSchema,
  EpochReportSchema,
  formatBench,
  formatEpochBench,
  type InterleavedModel,
  interleaveWithOnnxRuntime,
  runBench,
  runEpochBench,
  timeApEvaluation,
} from "../lib/bench/mod.ts";
import { parseFinetuneArgs } from "./finetune.ts";

const CLI = {
  task: "bench",
  usage: [
    "[--out bench.json] [--batch-size 4] [--conv C] [--workers N] [--compare] [--quick] [flags]",
    "--epoch --data PennFudanPed.zip [--checkpoint X.pth] [--epochs 2] [--out bench-epoch.json] [flags]",
  ],
  summary: `Times SSD300 forward, inference and training steps in ms per image on the default engine (GFLOP/s,
% of the measured peak, CPU and ISA, peak RSS, per-layer profile) and, where /usr/bin/python3 has torch, the
same workload in PyTorch and the same model in ONNX Runtime (inference only) in the same run. --epoch: one whole
finetune epoch (defaults, augmentation off and on) against the notebook's own PyTorch training loop on the same
images, batch and threads.`,
  flags: {
    out: {
      kind: "string",
      value: "FILE",
      description: "report to write (default bench.json; bench-epoch.json)",
    },
    "batch-size": { kind: "integer", min: 1, default: 4, description: "images per batch" },
    backend: BACKEND_FLAG,
    ...ENGINE_FLAGS,
    compare: { kind: "boolean", description: "also time one core (1 worker, 1 thread) for the speed-up" },
    quick: { kind: "boolean", description: "one repetition, no warm-up (a smoke run)" },
    reps: { kind: "integer", min: 1, description: "timed repetitions (default 5; 1 with --quick)" },
    warmup: { kind: "integer", min: 0, description: "untimed repetitions first (default 1; 0 with --quick)" },
    // 2 images per pass in a worker bounds the activation memory (batch 8 on 2 workers: 6.3 GiB without it)
    "micro-batch": { kind: "integer", min: 1, default: 1, description: "images per pass inside a worker" },
    "profile-batch": { kind: "integer", min: 1, default: 1, description: "batch of the per-layer profile" },
    "skip-profile": { kind: "boolean", description: "no per-layer profile" },
    "peak-reps": {
      kind: "integer",
      min: 0,
      default: 3,
      description: "runs of the peak convolution (0: none)",
    },
    "skip-torch": { kind: "boolean", description: "no PyTorch comparison" },
    "skip-onnxruntime": { kind: "boolean", description: "no ONNX Runtime comparison" },
    "onnx-rounds": {
      kind: "integer",
      min: 0,
      default: 0,
      description: "also N rounds of ours and ONNX Runtime alternating, forward and inference (0: none)",
    },
    "trust-checkpoint": TRUST_CHECKPOINT_FLAG,
    python: {
      kind: "string",
      value: "PATH",
      description: "python with torch (default /usr/bin/python3, python3)",
    },
    epoch: {
      kind: "boolean",
      description: "one finetune epoch vs the notebook's PyTorch loop (needs --data)",
    },
    data: {
      kind: "string",
      value: "ZIP|DIR",
      description: "--epoch: the Penn-Fudan release to prepare and train on",
    },
    checkpoint: {
      kind: "string",
      value: "X.pth",
      description: "--epoch: both sides start from it (heads made 2-class; default random, seed 0); " +
        "--onnx-rounds: timed too (e.g. the 21-class VOC model)",
    },
    epochs: {
      kind: "integer",
      min: 1,
      default: 2,
      description: "--epoch: epochs per run (the last is reported)",
    },
    "loader-workers": {
      kind: "integer",
      min: 0,
      default: 8,
      description: "--epoch: the PyTorch DataLoader's num_workers (the notebook's 8)",
    },
    keep: { kind: "string", value: "DIR", description: "--epoch: keep the prepared data and both runs here" },
  },
} as const satisfies CliSpec;

const progress = (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  const pythons = f.skipTorch ? [] : f.python ? [f.python] : ["/usr/bin/python3", "python3"];
  if (f.epoch) {
    if (f.data === undefined) throw new UsageError("--epoch needs --data (PennFudanPed.zip or its folder)");
    await checkInputFiles(f, ["data", "checkpoint"]);
    const out = f.out ?? "bench-epoch.json";
    await initBackend(f.backend, null); // the start model is built here, before finetune picks its engine
    const report = await runEpochBench({
      data: f.data,
      checkpoint: f.checkpoint,
      epochs: f.epochs,
      augment: [false, true],
      engineArgs: engineArgs(f),
      threads: machineCores(), // our engine uses every core (workers × oneDNN threads)
      loaderWorkers: f.loaderWorkers,
      pythons,
      torchScript: new URL("../lib/bench/epoch_torch.py", import.meta.url).pathname,
      keep: f.keep,
      progress,
      finetuneArgs: parseFinetuneArgs,
    });
    await using output = await lockOutputFiles("bench", [out]);
    await writeJsonArtifact(output.staged(out), EpochReportSchema, report);
    await output.commit();
    console.log(formatEpochBench(report));
    console.log(`wrote ${out}`);
    return;
  }
  if (f.checkpoint !== undefined && f.onnxRounds === 0) {
    throw new UsageError("--checkpoint needs --epoch or --onnx-rounds N");
  }
  await checkInputFiles(f, ["checkpoint"]);
  const engine = await initEngine({ backend: f.backend, conv: f.conv, workers: f.workers, use: "train" });
  // the checkpoint is read before the timings, so that a bad one stops the bench at once
  const others: InterleavedModel[] = [];
  if (f.checkpoint !== undefined) {
    const read = { trustCheckpoint: f.trustCheckpoint, onNote: (note: string) => console.error(note) };
    const model = await loadCheckpointFile(f.checkpoint, read);
    const classNames = exportClassNames(model.nClasses, f.checkpoint, model.classNames);
    others.push({ label: f.checkpoint, model, classNames });
  }
  const report = await runBench({
    batchSize: f.batchSize,
    compare: f.compare,
    reps: f.reps ?? (f.quick ? 1 : 5),
    warmup: f.warmup ?? (f.quick ? 0 : 1),
    microBatch: f.microBatch,
    profileBatch: f.skipProfile ? 0 : f.profileBatch,
    peakReps: f.quick ? Math.min(1, f.peakReps) : f.peakReps,
    quick: f.quick,
    pythons,
    torchScript: new URL("../lib/bench/bench_torch.py", import.meta.url).pathname,
    onnxRuntime: !f.skipOnnxruntime,
    progress,
  }, engine);
  report.ap_ms = timeApEvaluation(f.quick ? 1 : 5);
  if (f.onnxRounds > 0) {
    report.onnx_interleaved = await interleaveWithOnnxRuntime(engine, {
      rounds: f.onnxRounds,
      batchSize: f.batchSize,
      others,
      progress,
    });
  }
  const out = f.out ?? "bench.json";
  await using output = await lockOutputFiles("bench", [out]); // its folder's lock, for the write only
  await writeJsonArtifact(output.staged(out), BenchReportSchema, report);
  await output.commit();
  console.log(formatBench(report));
  console.log(`wrote ${out}`);
}

if (import.meta.main) await runTask("bench", main);
