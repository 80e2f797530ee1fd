/**
 * `deno task bench` — SSD300 speed on this CPU: inference (forward + detection) and training steps (forward,
 * MultiBox loss, backward, SGD) in ms per image, on data-parallel workers (1 and N), peak RSS, a per-layer
 * profile, and the same workload in PyTorch (lib/bench/bench_torch.py) from the same run with the ratios.
 *
 * --native-conv: convolutions through oneDNN via FFI (lib/engine/onednn.ts) when libdnnl.so.2 is present;
 * --native-threads N: OpenMP threads per oneDNN call (default 1: the workers give the parallelism; try
 * `--workers 1 --no-compare --native-conv --native-threads 2` for oneDNN's own threading instead).
 * @module
 */
import { type CliSpec, parseFlags, runTask } from "../lib/cli/mod.ts";
import { writeJsonArtifact } from "../lib/core/mod.ts";
import { initBackend } from "../lib/engine/mod.ts";
import { BenchReportSchema, formatBench, runBench } from "../lib/bench/mod.ts";

const CLI = {
  task: "bench",
  usage: ["[--out bench.json] [--batch-size 4] [--workers 2] [--native-conv] [--quick] [flags]"],
  summary: `Times SSD300 inference and training steps in ms per image (1 and N workers, peak RSS, per-layer
profile) and, where /usr/bin/python3 has torch, the same workload in PyTorch in the same run.`,
  flags: {
    out: { kind: "string", value: "FILE", default: "bench.json", description: "report to write" },
    "batch-size": { kind: "integer", min: 1, default: 4, description: "images per batch" },
    workers: { kind: "integer", min: 1, default: 2, description: "data-parallel workers compared with 1" },
    backend: {
      kind: "choice",
      choices: ["wasm", "cpu"],
      default: "wasm",
      description: "tf.js backend (the workers run one tf.js instance each)",
    },
    quick: { kind: "boolean", description: "one repetition, no warm-up (a smoke run)" },
    reps: { kind: "integer", min: 1, description: "timed repetitions (default 5; 1 with --quick)" },
    warmup: { kind: "integer", min: 0, description: "untimed repetitions first (default 1; 0 with --quick)" },
    // 2 images per pass in a worker bounds the activation memory (batch 8 on 2 workers: 6.3 GiB without it)
    "micro-batch": { kind: "integer", min: 1, default: 2, description: "images per pass inside a worker" },
    "profile-batch": { kind: "integer", min: 1, default: 1, description: "batch of the per-layer profile" },
    "skip-profile": { kind: "boolean", description: "no per-layer profile" },
    "no-compare": { kind: "boolean", description: "only N workers, not 1 as well" },
    "skip-torch": { kind: "boolean", description: "no PyTorch comparison" },
    python: {
      kind: "string",
      value: "PATH",
      description: "python with torch (default /usr/bin/python3, python3)",
    },
    "native-conv": { kind: "boolean", description: "convolutions through oneDNN where libdnnl.so.2 loads" },
    "native-threads": { kind: "integer", min: 1, default: 1, description: "OpenMP threads per oneDNN call" },
  },
} as const satisfies CliSpec;

async function main(args: string[]): Promise<void> {
  const f = parseFlags(CLI, args);
  const opts = {
    batchSize: f.batchSize,
    workers: f.workers,
    compare: !f.noCompare,
    backend: f.backend,
    nativeConv: f.nativeConv,
    nativeConvThreads: f.nativeThreads,
    reps: f.reps ?? (f.quick ? 1 : 5),
    warmup: f.warmup ?? (f.quick ? 0 : 1),
    microBatch: f.microBatch,
    profileBatch: f.skipProfile ? 0 : f.profileBatch,
    quick: f.quick,
    pythons: f.skipTorch ? [] : f.python ? [f.python] : ["/usr/bin/python3", "python3"],
    torchScript: new URL("../lib/bench/bench_torch.py", import.meta.url).pathname,
    progress: (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`),
  };
  await initBackend(opts.backend);
  const report = await runBench(opts);
  await writeJsonArtifact(f.out, BenchReportSchema, report);
  console.log(formatBench(report));
  console.log(`wrote ${f.out}`);
}

if (import.meta.main) await runTask("bench", main);
