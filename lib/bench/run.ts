/**
 * The whole `deno task bench`: on the engine the user's defaults choose (lib/engine/setup.ts), a runner with
 * the benchmark's weights times the network forward, inference (forward + detection) and training steps
 * (gradients and SGD on the engine's workers, as finetune steps; on this thread for a one-worker engine),
 * with the process's peak RSS; then the engine's practical peak (a large convolution on all its cores), the
 * per-layer profile on this thread, ONNX Runtime on the same model exported as model.onnx
 * (lib/bench/onnxruntime.ts, as many threads as our engine uses cores) and PyTorch on the same workload
 * (lib/bench/bench_torch.py) in the same run.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type EngineInfo, modelParamData, oneDnnConvWithGrad, startRunner } from "../engine/mod.ts";
import { Optimizer } from "../train/optim.ts";
import type { TrainSample } from "../engine/batch_gradients.ts";
import { describeMachine } from "./machine.ts";
import { type LayerProfile, profileLayers } from "./profile.ts";
import { type OnnxRuntimeFigures, runOnnxRuntimeBench } from "./onnxruntime.ts";
import { runTorchBench, type TorchFigures } from "./pytorch.ts";
import type { BenchReport, Throughput } from "./schema.ts";
import { peakRssMb, resetPeakRss, RssSampler, timeBatches } from "./timing.ts";
import {
  BENCH_CLASSES,
  BENCH_DETECT,
  BENCH_SGD,
  benchBoxes,
  benchImages,
  benchTargets,
  calibrateCandidates,
  createSsd300Bench,
  disposeParams,
  modelFromParams,
  SSD300_FORWARD_GFLOP,
  SSD300_TRAIN_GFLOP,
} from "./workload.ts";

/** Options of {@link runBench}. */
export interface BenchOptions {
  batchSize: number;
  /** also measure one core (1 worker, 1 thread) before the engine, for the speed-up */
  compare: boolean;
  /** timed runs (median taken) and untimed warm-up runs per phase */
  reps: number;
  warmup: number;
  /** images per pass inside a worker during training (default: its whole shard) */
  microBatch?: number;
  /** images of the per-layer profile (0: no profile) */
  profileBatch: number;
  /** runs of the peak convolution on each core (0: no peak) */
  peakReps: number;
  quick: boolean;
  /** python interpreters to try for the PyTorch figures, in order; empty: skip */
  pythons: string[];
  torchScript: string;
  /** also time ONNX Runtime on the model exported as model.onnx */
  onnxRuntime: boolean;
  progress?: (line: string) => void;
}

const throughput = (forwardMs: number, inferenceMs: number, trainingMs: number): Throughput => ({
  forward: SSD300_FORWARD_GFLOP / (forwardMs / 1000),
  inference: SSD300_FORWARD_GFLOP / (inferenceMs / 1000),
  training: SSD300_TRAIN_GFLOP / (trainingMs / 1000),
});
const percentOf = (t: Throughput, peak: number | null): Throughput | null =>
  peak === null ? null : {
    forward: (100 * t.forward) / peak,
    inference: (100 * t.inference) / peak,
    training: (100 * t.training) / peak,
  };

/**
 * Runs the benchmark on `engine` (as {@link initEngine} chose it; the caller started it). A one-core
 * comparison (`compare`) needs the engine's oneDNN threads to be 1 (the workers' layout).
 */
export async function runBench(o: BenchOptions, engine: EngineInfo): Promise<BenchReport> {
  const log = o.progress ?? (() => {});
  const init = createSsd300Bench();
  const images = benchImages(o.batchSize, 0);
  await calibrateCandidates(init, images);
  const params = await modelParamData(init);
  disposeParams(init);
  const boxes = benchBoxes(o.batchSize, 1);
  const batch: TrainSample[] = images.map((image, i) => ({
    image,
    gt: { boxes: boxes[i], labels: new Array(boxes[i].length / 4).fill(1) },
  }));
  const configs = o.compare && engine.workers * engine.threads > 1 && engine.threads === 1
    ? [{ ...engine, workers: 1 }, engine]
    : [engine];
  const runs: BenchReport["runs"] = [];
  let peak: number | null = null;
  for (const info of configs) {
    const what = `${info.workers} worker(s) × ${info.threads} thread(s), batch ${o.batchSize}`;
    log(`${what}: starting`);
    const hwmReset = resetPeakRss(); // needs --allow-all; otherwise only the sampled RSS
    const sampler = new RssSampler();
    const model = modelFromParams(BENCH_CLASSES, params);
    const runner = await startRunner(model, info, { microBatch: o.microBatch });
    const opt = new Optimizer({ kind: "sgd", momentum: BENCH_SGD.momentum });
    const names = [...model.params.keys()];
    try {
      const dets = await runner.detect(images, BENCH_DETECT);
      const detectionsPerImage = dets.reduce((s, d) => s + d.length, 0) / o.batchSize;
      const time = (phase: string, fn: () => Promise<void>) => (
        log(`${what}: ${phase}`), timeBatches(fn, o.batchSize, o.reps, o.warmup, log)
      );
      const forward = await time("forward", async () => void await runner.forward(images));
      const inference = await time("inference", async () => void await runner.detect(images, BENCH_DETECT));
      let lossFirst = NaN;
      // as finetune steps: SGD on the engine's workers where it has them, else on this thread
      const sgd = runner.sgd;
      const training = await time("training", async () => {
        if (sgd) {
          const r = await sgd.gradients(batch, names);
          if (Number.isNaN(lossFirst)) lossFirst = r.loss;
          await sgd.step({ lr: BENCH_SGD.lr, momentum: BENCH_SGD.momentum, weightDecay: 0 });
          return;
        }
        const r = await runner.gradients(batch, names);
        if (Number.isNaN(lossFirst)) lossFirst = r.loss;
        try {
          opt.step(model.params, r.grads, BENCH_SGD.lr);
        } finally {
          tf.dispose([...r.grads.values()]);
        }
      });
      if (info === engine && o.peakReps > 0) {
        log(`${what}: practical peak (large convolution on every core)`);
        // the better of two rounds: the first one also builds the convolution and warms its memory up
        peak = Math.max(await runner.peakGflops(o.peakReps), await runner.peakGflops(o.peakReps));
      }
      runs.push({
        workers: info.workers,
        threads: info.threads,
        forward,
        inference,
        training,
        peak_rss_mb: Math.max(sampler.stop(), (hwmReset ? peakRssMb() : undefined) ?? 0),
        detections_per_image: detectionsPerImage,
        loss_first_step: lossFirst,
      });
    } finally {
      sampler.stop();
      opt.dispose();
      await runner.close();
      disposeParams(model);
    }
  }
  // the profile times each kernel call as it returns: meaningful where kernels run synchronously (not on a GPU)
  const profile = o.profileBatch > 0 && engine.backend !== "webgpu"
    ? profileOnThisThread(o, engine, params, boxes, images, log)
    : null;
  const cores = engine.workers * engine.threads;
  let ort: OnnxRuntimeFigures | null = null, ortReason: string | null = "skipped (--skip-onnxruntime)";
  if (o.onnxRuntime) {
    log(`ONNX Runtime (model.onnx, ${cores} threads)`);
    ({ onnxruntime: ort, reason: ortReason } = await runOnnxRuntimeBench(params, images, {
      threads: cores,
      reps: o.reps,
      warmup: o.warmup,
      progress: log,
    }));
  }
  let torch: TorchFigures | null = null, reason: string | null = "skipped (--skip-torch)";
  if (o.pythons.length > 0) {
    log(`PyTorch reference (${o.torchScript}, ${cores} threads)`);
    ({ torch, reason } = await runTorchBench(o.pythons, o.torchScript, o.batchSize, cores, o.quick));
  }
  const head = runs.at(-1)!;
  const one = runs.length > 1 ? runs[0] : undefined;
  const ms = (r: typeof head) => [r.forward, r.inference, r.training].map((p) => p.ms_per_image);
  const [f, i, t] = ms(head);
  const ours = throughput(f, i, t);
  const torchT = torch &&
    throughput(torch.forward_ms_per_image, torch.inference_ms_per_image, torch.training_ms_per_image);
  return {
    version: 2,
    created: new Date().toISOString(),
    model: "SSD300",
    input_size: 300,
    batch_size: o.batchSize,
    micro_batch: o.microBatch ?? null,
    quick: o.quick,
    machine: describeMachine(),
    backend: engine.backend,
    conv: engine.conv,
    library: engine.library,
    ...(engine.adapter ? { adapter: engine.adapter } : {}),
    workers: engine.workers,
    threads: engine.threads,
    forward_ms_per_image: f,
    inference_ms_per_image: i,
    training_ms_per_image: t,
    gflops: ours,
    peak_gflops: peak,
    percent_of_peak: percentOf(ours, peak),
    peak_rss_mb: runs.every((r) => r.peak_rss_mb !== null)
      ? Math.max(...runs.map((r) => r.peak_rss_mb!))
      : null,
    runs,
    speedup: one
      ? {
        from_workers: 1,
        to_workers: head.workers,
        forward: one.forward.ms_per_image / f,
        inference: one.inference.ms_per_image / i,
        training: one.training.ms_per_image / t,
      }
      : null,
    torch: torch && torchT ? { ...torch, gflops: torchT, percent_of_peak: percentOf(torchT, peak) } : null,
    torch_skipped_reason: torch ? null : reason,
    onnxruntime: ort,
    onnxruntime_skipped_reason: ort ? null : ortReason,
    ratios: torch
      ? {
        forward: f / torch.forward_ms_per_image,
        inference: i / torch.inference_ms_per_image,
        training: t / torch.training_ms_per_image,
      }
      : null,
    profile,
  };
}

function profileOnThisThread(
  o: BenchOptions,
  engine: EngineInfo,
  params: Awaited<ReturnType<typeof modelParamData>>,
  boxes: Float32Array[],
  images: Float32Array[],
  log: (line: string) => void,
): LayerProfile {
  log(`profile by layer (batch ${o.profileBatch}, this thread)`);
  const conv = engine.conv === "onednn" ? oneDnnConvWithGrad : undefined;
  const model = modelFromParams(BENCH_CLASSES, params);
  try {
    const k = o.profileBatch;
    const { targets } = benchTargets(boxes.slice(0, k));
    const pos = targets.reduce((s, t) => s + t.nPositives, 0);
    if (!o.quick) profileLayers(model, images.slice(0, k), targets, pos, conv); // warm-up
    // new versions of the weights (equal values), as after every optimiser step: each layer's time then
    // includes what a training step pays per weights version (oneDNN's reorders and Winograd transforms)
    for (const v of model.params.values()) tf.tidy(() => v.assign(tf.add(v, 0)));
    return profileLayers(model, images.slice(0, k), targets, pos, conv);
  } finally {
    disposeParams(model);
  }
}
