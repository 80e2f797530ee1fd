/**
 * bench.json, as `deno task bench` writes it (lib/bench/run.ts): our SSD300 speed on the user's default engine,
 * PyTorch's on the same workload in the same run, effective GFLOP/s against the practical peak measured in the
 * same run, ONNX Runtime's inference on the same model, the CPU and ISA, peak RSS and the per-layer profile. Version 2 (version 1 had no forward-only
 * figure, machine, peak or GFLOP/s; nothing reads it, so only version 2 is read).
 * @module
 */
import { z } from "zod";
import { OnnxRuntimeFiguresSchema } from "./onnxruntime.ts";
import { InterleavedRowSchema } from "./onnx_interleaved.ts";
import { TorchLineSchema } from "./pytorch.ts";

const PhaseSchema = z.object({
  ms_per_image: z.number().positive(),
  runs_ms_per_image: z.array(z.number().positive()).min(1),
});

/** Effective GFLOP/s (SSD300_FORWARD_GFLOP per image forward, SSD300_TRAIN_GFLOP per training image). */
const ThroughputSchema = z.object({
  forward: z.number().positive(),
  inference: z.number().positive(),
  training: z.number().positive(),
});

const EngineRunSchema = z.object({
  workers: z.number().int().positive(),
  /** oneDNN threads per convolution */
  threads: z.number().int().positive(),
  /** network forward only, batch split among the workers */
  forward: PhaseSchema,
  /** forward + detect_objects */
  inference: PhaseSchema,
  /** forward + MultiBox loss + backward + SGD step (+ weight broadcast to the workers) */
  training: PhaseSchema,
  /** peak RSS of the process during this run (sampled every 50 ms; VmHWM after a reset when allowed), MiB */
  peak_rss_mb: z.number().positive().nullable(),
  detections_per_image: z.number().nonnegative(),
  loss_first_step: z.number(),
});

const LayerTimeSchema = z.object({
  layer: z.string(),
  out_shape: z.array(z.number().int()),
  gflop: z.number().nonnegative(),
  forward_ms: z.number().nonnegative(),
  backward_ms: z.number().nonnegative(),
});

/** The machine of the run. */
export const MachineSchema = z.object({
  /** /proc/cpuinfo "model name" (lscpu's Model name); null where unreadable */
  cpu_model: z.string().nullable(),
  /** cores this process may use (navigator.hardwareConcurrency) */
  cores: z.number().int().positive(),
  /** widest vector ISA of the CPU flags, capped by ONEDNN_MAX_CPU_ISA when set: what oneDNN may use */
  isa: z.enum(["avx512", "avx2", "sse41", "other", "unknown"]),
  /** the CPU's own, before the cap */
  cpu_isa: z.enum(["avx512", "avx2", "sse41", "other", "unknown"]),
  /** the ONEDNN_MAX_CPU_ISA environment variable, or null */
  onednn_max_cpu_isa: z.string().nullable(),
});
export type Machine = z.infer<typeof MachineSchema>;

/** bench.json, version 2. */
export const BenchReportSchema = z.object({
  version: z.literal(2),
  created: z.string(),
  model: z.literal("SSD300"),
  input_size: z.literal(300),
  batch_size: z.number().int().positive(),
  /** images per forward/backward pass inside a worker (gradient accumulation); null: the whole shard */
  micro_batch: z.number().int().positive().nullable(),
  quick: z.boolean(),
  machine: MachineSchema,
  backend: z.string(),
  /** convolution kernels: "wasm" or "onednn" (+ the library in `library`) */
  conv: z.string(),
  library: z.string().nullable(),
  /** the GPU adapter of the webgpu backend (lib/engine/webgpu.ts `describeAdapter`); absent on the others */
  adapter: z.string().optional(),
  /** the headline engine: data-parallel workers × oneDNN threads each */
  workers: z.number().int().positive(),
  threads: z.number().int().positive(),
  forward_ms_per_image: z.number().positive(),
  inference_ms_per_image: z.number().positive(),
  training_ms_per_image: z.number().positive(),
  gflops: ThroughputSchema,
  /** the practical peak: lib/engine/peak.ts's large convolution on all the engine's cores at once, GFLOP/s */
  peak_gflops: z.number().positive().nullable(),
  /** gflops / peak_gflops × 100 */
  percent_of_peak: ThroughputSchema.nullable(),
  peak_rss_mb: z.number().positive().nullable(),
  /** the headline engine last; first a one-core run when compared (--compare) */
  runs: z.array(EngineRunSchema).min(1),
  /** one core → the headline engine: ms(1) / ms(N) */
  speedup: z.object({
    from_workers: z.number().int(),
    to_workers: z.number().int(),
    forward: z.number().positive(),
    inference: z.number().positive(),
    training: z.number().positive(),
  }).nullable(),
  /** bench_torch.py's figures (lib/bench/pytorch.ts), the interpreter, their GFLOP/s and % of our measured peak */
  torch: TorchLineSchema.extend({
    python: z.string(),
    gflops: ThroughputSchema,
    percent_of_peak: ThroughputSchema.nullable(),
  }).nullable(),
  torch_skipped_reason: z.string().nullable(),
  /**
   * ONNX Runtime's CPU inference on the same model as model.onnx, same images, batch and threads
   * (lib/bench/onnxruntime.ts); absent in reports written before it was measured
   */
  onnxruntime: OnnxRuntimeFiguresSchema.nullable().optional(),
  onnxruntime_skipped_reason: z.string().nullable().optional(),
  /** `--onnx-rounds`: ours and ONNX Runtime alternating round by round (lib/bench/onnx_interleaved.ts) */
  onnx_interleaved: z.array(InterleavedRowSchema).optional(),
  /** ours / torch in ms per image (lower is better; ≤ 1 means faster than PyTorch) */
  ratios: z.object({
    forward: z.number().positive(),
    inference: z.number().positive(),
    training: z.number().positive(),
  }).nullable(),
  /** COCO AP of the evaluation workload (lib/bench/ap_timing.ts), median ms; absent in older files */
  ap_ms: z.number().positive().nullable().optional(),
  profile: z.object({
    batch_size: z.number().int().positive(),
    layers: z.array(LayerTimeSchema),
    forward_other_ms: z.number(),
    loss_ms: z.number(),
    backward_other_ms: z.number(),
    forward_total_ms: z.number().positive(),
    backward_total_ms: z.number().positive(),
  }).nullable(),
});
export type BenchReport = z.infer<typeof BenchReportSchema>;
export type Throughput = z.infer<typeof ThroughputSchema>;
