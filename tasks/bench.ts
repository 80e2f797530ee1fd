/**
 * `deno task bench` — SSD300 speed on this CPU: inference (forward + detection) and training steps (forward,
 * MultiBox loss, backward, SGD) in ms per image, on data-parallel workers (1 and N), peak RSS, a per-layer
 * profile, and the same workload in PyTorch (lib/bench/bench_torch.py) from the same run with the ratios.
 *
 *   deno task bench [--out bench.json] [--batch-size 4] [--workers 2] [--backend wasm|cpu] [--quick]
 *     [--reps 5] [--warmup 1] [--micro-batch 2] [--profile-batch 1] [--skip-profile] [--no-compare]
 *     [--skip-torch] [--python /usr/bin/python3] [--native-conv]
 *
 * --native-conv: convolutions through oneDNN via FFI (lib/native_conv.ts) when libdnnl.so.2 is present;
 * --native-threads N: OpenMP threads per oneDNN call (default 1: the workers give the parallelism; try
 * `--workers 1 --no-compare --native-conv --native-threads 2` for oneDNN's own threading instead).
 */
import { parseArgs } from "node:util";
import { writeJsonArtifact } from "../lib/core/artifacts.ts";
import { initBackend } from "../lib/engine/backend.ts";
import { BenchReportSchema, formatBench, runBench } from "../lib/bench/bench.ts";

const USAGE =
  `usage: deno task bench [--out bench.json] [--batch-size 4] [--workers 2] [--backend wasm|cpu] [--quick]
  [--reps 5] [--warmup 1] [--micro-batch 2] [--profile-batch 1] [--skip-profile] [--no-compare]
  [--skip-torch] [--python PATH] [--native-conv [--native-threads 1]]`;

/** Images per forward/backward pass inside a worker unless --micro-batch says otherwise. */
const DEFAULT_MICRO_BATCH = 2;

/** Wrong command-line arguments. */
class UsageError extends Error {
  override name = "UsageError";
}

function intArg(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name}: expected an integer ≥ ${min}, got ${value}`);
  }
  return n;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: "string", default: "bench.json" },
      "batch-size": { type: "string" },
      workers: { type: "string" },
      backend: { type: "string", default: "wasm" },
      quick: { type: "boolean", default: false },
      reps: { type: "string" },
      warmup: { type: "string" },
      "micro-batch": { type: "string" },
      "profile-batch": { type: "string" },
      "skip-profile": { type: "boolean", default: false },
      "no-compare": { type: "boolean", default: false },
      "skip-torch": { type: "boolean", default: false },
      "native-conv": { type: "boolean", default: false },
      "native-threads": { type: "string" },
      python: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const backend = values.backend;
  if (backend !== "wasm" && backend !== "cpu") {
    throw new UsageError(
      `--backend: expected wasm or cpu (the workers run one tf.js instance each), got ${backend}`,
    );
  }
  const quick = values.quick;
  const opts = {
    batchSize: intArg("batch-size", values["batch-size"], 4, 1),
    workers: intArg("workers", values.workers, 2, 1),
    compare: !values["no-compare"],
    backend: backend as "wasm" | "cpu",
    nativeConv: values["native-conv"],
    nativeConvThreads: intArg("native-threads", values["native-threads"], 1, 1),
    reps: intArg("reps", values.reps, quick ? 1 : 5, 1),
    warmup: intArg("warmup", values.warmup, quick ? 0 : 1, 0),
    // 2 images per pass in a worker bounds the activation memory (batch 8 on 2 workers: 6.3 GiB without it)
    microBatch: intArg("micro-batch", values["micro-batch"], DEFAULT_MICRO_BATCH, 1),
    profileBatch: values["skip-profile"] ? 0 : intArg("profile-batch", values["profile-batch"], 1, 1),
    quick,
    pythons: values["skip-torch"] ? [] : values.python ? [values.python] : ["/usr/bin/python3", "python3"],
    torchScript: new URL("../lib/bench/bench_torch.py", import.meta.url).pathname,
    progress: (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`),
  };
  await initBackend(opts.backend);
  const report = await runBench(opts);
  await writeJsonArtifact(values.out!, BenchReportSchema, report);
  console.log(formatBench(report));
  console.log(`wrote ${values.out}`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n${USAGE}`);
      Deno.exit(2);
    }
    throw e;
  }
}
