/**
 * `deno task bench` — SSD300 speed on this CPU with the user's default engine (lib/engine/setup.ts; `--conv`,
 * `--workers` override as in every task): network forward, inference (forward + detection) and training steps
 * (forward, MultiBox loss, backward, SGD) in ms per image, effective GFLOP/s against the practical peak measured
 * in the same run, CPU model and ISA, peak RSS, a per-layer profile, and the same workload in PyTorch
 * (lib/bench/bench_torch.py, as many threads as our engine uses cores) with the ratios, ONNX Runtime's forward
 * and inference on the same model as model.onnx (same threads, batch), and the time of COCO AP over a test
 * split's worth of detections (lib/bench/ap_timing.ts) → bench.json.
 * @module
 */
import {
  BACKEND_FLAG,
  checkInputFiles,
  type CliSpec,
  ENGINE_FLAGS,
  parseFlags,
  runTask,
  TRUST_CHECKPOINT_FLAG,
  UsageError,
} from "../lib/cli/mod.ts";
import { lockOutputFiles, writeJsonArtifact } from "../lib/core/mod.ts";
import { initEngine } from "../lib/engine/mod.ts";
import { exportClassNames } from "../lib/export/mod.ts";
import { loadCheckpointFile } from "../lib/interop/mod.ts";
import {
  BenchReportSchema,
  formatBench,
  type InterleavedModel,
  interleaveWithOnnxRuntime,
  runBench,
  timeApEvaluation,
} from "../lib/bench/mod.ts";

const CLI = {
  task: "bench",
  usage: ["[--out bench.json] [--batch-size 4] [--conv C] [--workers N] [--compare] [--quick] [flags]"],
  summary: `Times SSD300 forward, inference and training steps in ms per image on the default engine (GFLOP/s,
% of the measured peak, CPU and ISA, peak RSS, per-layer profile) and, where /usr/bin/python3 has torch, the
same workload in PyTorch and the same model in ONNX Runtime (inference only) in the same run.`,
  flags: {
    out: { kind: "string", value: "FILE", default: "bench.json", description: "report to write" },
    "batch-size": { kind: "integer", min: 1, default: 4, description: "images per batch" },
    backend: BACKEND_FLAG,
    ...ENGINE_FLAGS,
    compare: { kind: "boolean", description: "also time one core (1 worker, 1 thread) for the speed-up" },
    quick: { kind: "boolean", description: "one repetition, no warm-up (a smoke run)" },
    reps: { kind: "integer", min: 1, description: "timed repetitions (default 5; 1 with --quick)" },
    warmup: { kind: "integer", min: 0, description: "untimed repetitions first (default 1; 0 with --quick)" },
    // 2 images per pass in a worker bounds the activation memory (batch 8 on 2 workers: 6.3 GiB without it)
    "micro-batch": { kind: "integer", min: 1, default: 2, description: "images per pass inside a worker" },
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
    checkpoint: {
      kind: "string",
      value: "X.pth",
      description: "with --onnx-rounds: this checkpoint (e.g. 21-class VOC) interleaved too",
    },
    "trust-checkpoint": TRUST_CHECKPOINT_FLAG,
    python: {
      kind: "string",
      value: "PATH",
      description: "python with torch (default /usr/bin/python3, python3)",
    },
  },
} as const satisfies CliSpec;

const progress = (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  if (f.checkpoint !== undefined && f.onnxRounds === 0) {
    throw new UsageError("--checkpoint needs --onnx-rounds N");
  }
  await checkInputFiles(f, ["checkpoint"]);
  const engine = await initEngine({ backend: f.backend, conv: f.conv, workers: f.workers, use: "train" });
  const report = await runBench({
    batchSize: f.batchSize,
    compare: f.compare,
    reps: f.reps ?? (f.quick ? 1 : 5),
    warmup: f.warmup ?? (f.quick ? 0 : 1),
    microBatch: f.microBatch,
    profileBatch: f.skipProfile ? 0 : f.profileBatch,
    peakReps: f.quick ? Math.min(1, f.peakReps) : f.peakReps,
    quick: f.quick,
    pythons: f.skipTorch ? [] : f.python ? [f.python] : ["/usr/bin/python3", "python3"],
    torchScript: new URL("../lib/bench/bench_torch.py", import.meta.url).pathname,
    onnxRuntime: !f.skipOnnxruntime,
    progress,
  }, engine);
  report.ap_ms = timeApEvaluation(f.quick ? 1 : 5);
  if (f.onnxRounds > 0) {
    const others: InterleavedModel[] = [];
    if (f.checkpoint !== undefined) {
      const read = { trustCheckpoint: f.trustCheckpoint, onNote: (note: string) => console.error(note) };
      const model = await loadCheckpointFile(f.checkpoint, read);
      others.push({
        label: f.checkpoint,
        model,
        classNames: exportClassNames(model.nClasses, f.checkpoint, model.classNames),
      });
    }
    report.onnx_interleaved = await interleaveWithOnnxRuntime(engine, {
      rounds: f.onnxRounds,
      batchSize: f.batchSize,
      others,
      progress,
    });
  }
  await using output = await lockOutputFiles("bench", [f.out]); // its folder's lock, for the write only
  await writeJsonArtifact(output.staged(f.out), BenchReportSchema, report);
  await output.commit();
  console.log(formatBench(report));
  console.log(`wrote ${f.out}`);
}

if (import.meta.main) await runTask("bench", main);
