/**
 * The `deno task bench` workload (mirrors lib/bench/bench_torch.py): SSD300 with random weights and person logits
 * shifted down, random images, three random boxes per image; inference = forward + detectObjects, training step =
 * forward + MultiBox loss + backward + SGD(momentum) step, on a {@link SsdWorkerPool}; plus a per-layer profile
 * of forward and backward time, and the bench.json schema.
 */
import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { convWithGrad } from "../engine/conv_grad.ts";
import type { DetectOptions } from "../ssd/mod.ts";
import { mulberry32 } from "../core/mod.ts";
import { type ConvFn, createSsd300, ssdForward, type SsdModel } from "../ssd/model.ts";
import { buildTargets, type ImageTargets, multiboxLossPart } from "../ssd/loss.ts";
import { enableNativeConv, nativeConvWithGrad } from "../engine/onednn.ts";
import { Optimizer } from "../train/optim.ts";
import { IMAGE_FLOATS, modelParamData, type ParamData, SsdWorkerPool } from "../engine/pool.ts";
import { createPriorsCxcy } from "../ssd/priors.ts";

/** Subtracted from every person (class 1) logit bias, as lib/bench/bench_torch.py's PERSON_LOGIT_SHIFT: a trained
 * detector calls most priors background, so detection then sees a realistic number of candidates. */
export const PERSON_LOGIT_SHIFT = 3;
/** Detection candidates per image (priors above min_score before NMS) that both benches calibrate to, as a trained
 * detector at min_score 0.01 has a few hundred; lib/bench/bench_torch.py uses the same number. */
export const BENCH_CANDIDATES_PER_IMAGE = 200;
/** Classes of the benchmarked model (background, person). */
export const BENCH_CLASSES = 2;
/** detect_objects parameters of the benchmark (the reference's evaluation settings, as bench_torch.py). */
export const BENCH_DETECT: DetectOptions = { minScore: 0.01, maxOverlap: 0.45, topK: 200 };
/** SGD of the benchmark (bench_torch.py: lr 1e-4, momentum 0.9). */
export const BENCH_SGD = { lr: 1e-4, momentum: 0.9 };

/** Lowers the person logit bias of every classification head by `shift` (in place). */
export function shiftPersonLogits(model: SsdModel, shift = PERSON_LOGIT_SHIFT): void {
  for (const [name, v] of model.params) {
    if (!/^pred_convs\.cl_.*\.bias$/.test(name)) continue;
    tf.tidy(() => {
      const c = model.nClasses;
      const mask = tf.tensor1d(Array.from({ length: v.size }, (_, i) => (i % c === 1 ? shift : 0))); // [boxes·C]
      v.assign(tf.sub(v, mask));
    });
  }
}

/** Deterministic standard-normal-ish images (Box–Muller), each NHWC [300 * 300 * 3], like torch.randn inputs. */
export function benchImages(n: number, seed = 0): Float32Array[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const a = new Float32Array(IMAGE_FLOATS);
    for (let i = 0; i < a.length; i++) {
      a[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    }
    return a;
  });
}

/** Three random fractional xyxy boxes per image, as bench_torch.py: corner in [0, .5), side in [.1, .5). */
export function benchBoxes(n: number, seed = 1): Float32Array[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const b = new Float32Array(12);
    for (let k = 0; k < 3; k++) {
      const x0 = rand() * 0.5, y0 = rand() * 0.5;
      b.set([x0, y0, x0 + 0.1 + rand() * 0.4, y0 + 0.1 + rand() * 0.4], k * 4);
    }
    return b;
  });
}

/** Targets of the benchmark batch (lib/loss.ts matching, person class) and its total positive count. */
export function benchTargets(
  boxes: readonly Float32Array[],
): { targets: ImageTargets[]; nPositivesTotal: number } {
  return buildTargets(
    boxes.map((b) => ({ boxes: b, labels: new Array(b.length / 4).fill(1) })),
    createPriorsCxcy(),
  );
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("median of an empty list");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Samples this process's resident set size (workers are threads: included) while the main thread awaits them;
 * Deno refuses /proc/self/status (VmHWM) without --allow-all, so this is the portable peak measure.
 */
export class RssSampler {
  private peak = 0;
  private readonly timer: ReturnType<typeof setInterval>;
  constructor(intervalMs = 50) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }
  private sample(): void {
    this.peak = Math.max(this.peak, Deno.memoryUsage().rss);
  }
  /** Stops sampling; the largest RSS seen, MiB. */
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return this.peak / 2 ** 20;
  }
}

/** Peak resident set size of this process (all threads, incl. workers) in MiB, from /proc/self/status VmHWM. */
export function peakRssMb(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the kernel's peak-RSS counter (VmHWM) so that the next phase measures its own peak; false if refused. */
export function resetPeakRss(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** Timings of one phase: median and every run, ms per image. */
export interface PhaseTiming {
  ms_per_image: number;
  runs_ms_per_image: number[];
}

/** Times `fn` (one batch) after `warmup` untimed runs; returns ms per image. */
export async function timeBatches(
  fn: () => Promise<void>,
  batchSize: number,
  reps: number,
  warmup: number,
  progress?: (line: string) => void,
): Promise<PhaseTiming> {
  for (let i = 0; i < warmup; i++) await fn();
  const runs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    runs.push((performance.now() - t0) / batchSize);
    progress?.(`  run ${i + 1}/${reps}: ${runs[i].toFixed(0)} ms/image`);
  }
  return { ms_per_image: median(runs), runs_ms_per_image: runs };
}

/**
 * One benchmark training step on a pool: gradients of the whole batch (matched targets, global N_pos) from the
 * workers, the optimiser step on this thread's model (lib/optim.ts), new weights broadcast to the workers.
 */
export async function poolTrainStep(
  pool: SsdWorkerPool,
  model: SsdModel,
  opt: Optimizer,
  lr: number,
  images: readonly Float32Array[],
  targets: readonly ImageTargets[],
  nPositivesTotal: number,
  microBatch?: number,
): Promise<number> {
  const { loss, grads } = await pool.gradients(images, targets, { nPositivesTotal, microBatch });
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) tensors.set(name, tf.tensor(g, model.params.get(name)!.shape));
  try {
    opt.step(model.params, tensors, lr);
  } finally {
    tf.dispose([...tensors.values()]);
  }
  await pool.setWeights(await modelParamData(model));
  return loss;
}

/** Time of one convolution layer in the profile. */
export interface LayerTime {
  layer: string;
  /** output shape NHWC */
  out_shape: number[];
  gflop: number;
  forward_ms: number;
  backward_ms: number;
}

/** Per-layer profile of one training forward + backward (and the inference forward, which uses the same kernel). */
export interface LayerProfile {
  batch_size: number;
  layers: LayerTime[];
  /** forward time outside the convolutions (pools, L2 norm, reshapes) */
  forward_other_ms: number;
  /** loss (incl. hard-negative mining) forward */
  loss_ms: number;
  /** backward time outside the convolutions' own gradient (loss, norm, pools, reshapes) */
  backward_other_ms: number;
  forward_total_ms: number;
  backward_total_ms: number;
}

/**
 * Profiles one forward + backward of the training graph on THIS thread's backend, by convolution layer.
 * Forward: wall time of each conv call (the WASM backend computes synchronously). Backward: identity markers
 * around each conv record when the tape reaches the conv's output gradient and when it leaves its input; the
 * conv's dX, dW and db are computed in between.
 */
export function profileLayers(
  model: SsdModel,
  images: readonly Float32Array[],
  targets: readonly ImageTargets[],
  nPositivesTotal: number,
  trainConv: ConvFn = convWithGrad,
): LayerProfile {
  const n = images.length;
  const nameOf = new Map<number, string>();
  for (const [name, v] of model.params) nameOf.set(v.id, name.replace(/\.weight$/, ""));
  const layers = new Map<string, LayerTime>();
  const events: { t: number; layer: string; kind: "out" | "in" }[] = [];
  const marker = (layer: string, kind: "out" | "in") =>
    tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
      value: tf.clone(args[0] as tf.Tensor),
      gradFunc: (dy: tf.Tensor) => {
        events.push({ t: performance.now(), layer, kind });
        return tf.clone(dy);
      },
    }));
  const timedConv: ConvFn = (x, w, b, o) => {
    const layer = nameOf.get(w.id) ?? `conv#${layers.size}`;
    const xin = marker(layer, "in")(x) as tf.Tensor4D;
    const t0 = performance.now();
    const y = trainConv(xin, w, b, o);
    const dt = performance.now() - t0;
    const [kh, kw] = w.shape;
    const gflop = 2 * kh * kw * w.shape[2] * y.size / 1e9;
    layers.set(layer, { layer, out_shape: y.shape.slice(), gflop, forward_ms: dt, backward_ms: 0 });
    return marker(layer, "out")(y) as tf.Tensor4D;
  };
  const x = tf.tensor4d(concat(images, IMAGE_FLOATS), [n, 300, 300, 3]);
  const vars = [...model.params.values()];
  let tFwdStart = 0, tLoss = 0, tLossEnd = 0;
  const { value, grads } = tf.variableGrads(() => {
    tFwdStart = performance.now();
    const { locs, scores } = ssdForward(model, x, { conv: timedConv });
    tLoss = performance.now();
    const l = multiboxLossPart(locs, scores, targets, nPositivesTotal);
    tLossEnd = performance.now();
    return l.loss;
  }, vars);
  const tEnd = performance.now();
  tf.dispose([value, x, ...Object.values(grads)]);
  // backward per layer: from its "out" event to the next event (its "in", or the next layer's "out" for the
  // first conv, whose input needs no gradient)
  events.sort((a, b) => a.t - b.t);
  let convBackward = 0;
  events.forEach((e, i) => {
    if (e.kind !== "out") return;
    const next = i + 1 < events.length ? events[i + 1].t : tEnd;
    const lt = layers.get(e.layer);
    if (lt) {
      lt.backward_ms += next - e.t;
      convBackward += next - e.t;
    }
  });
  const list = [...layers.values()];
  const convForward = list.reduce((s, l) => s + l.forward_ms, 0);
  const forwardTotal = tLoss - tFwdStart;
  const backwardTotal = tEnd - tLossEnd;
  return {
    batch_size: n,
    layers: list,
    forward_other_ms: forwardTotal - convForward,
    loss_ms: tLossEnd - tLoss,
    backward_other_ms: backwardTotal - convBackward,
    forward_total_ms: forwardTotal,
    backward_total_ms: backwardTotal,
  };
}

function concat(parts: readonly Float32Array[], each: number): Float32Array {
  const out = new Float32Array(parts.length * each);
  parts.forEach((p, i) => out.set(p, i * each));
  return out;
}

const PhaseSchema = z.object({
  ms_per_image: z.number().positive(),
  runs_ms_per_image: z.array(z.number().positive()).min(1),
});

const WorkersRunSchema = z.object({
  workers: z.number().int().positive(),
  inference: PhaseSchema,
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

/** bench.json, as written by `deno task bench`. */
export const BenchReportSchema = z.object({
  version: z.literal(1),
  created: z.string(),
  model: z.literal("SSD300"),
  input_size: z.literal(300),
  batch_size: z.number().int().positive(),
  /** images per forward/backward pass inside a worker (gradient accumulation); null: the whole shard */
  micro_batch: z.number().int().positive().nullable(),
  quick: z.boolean(),
  backend: z.string(),
  /** convolution kernels: "wasm" (XNNPACK) or "onednn (<library>)" */
  conv: z.string(),
  /** workers of the headline figures (each one single-threaded tf.js instance); = cores used */
  workers: z.number().int().positive(),
  threads: z.number().int().positive(),
  inference_ms_per_image: z.number().positive(),
  training_ms_per_image: z.number().positive(),
  peak_rss_mb: z.number().positive().nullable(),
  runs: z.array(WorkersRunSchema).min(1),
  /** 1 worker → N workers: ms(1) / ms(N) */
  speedup: z.object({
    from_workers: z.number().int(),
    to_workers: z.number().int(),
    inference: z.number().positive(),
    training: z.number().positive(),
  }).nullable(),
  torch: z.object({
    python: z.string(),
    torch_version: z.string(),
    threads: z.number().int().positive(),
    batch_size: z.number().int().positive(),
    inference_ms_per_image: z.number().positive(),
    training_ms_per_image: z.number().positive(),
    detections_per_image: z.number().nonnegative(),
  }).nullable(),
  torch_skipped_reason: z.string().nullable(),
  /** ours / torch (lower is better; ≤ 1 means faster than PyTorch) */
  ratios: z.object({ inference: z.number().positive(), training: z.number().positive() }).nullable(),
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

/** Options of {@link runBench}. */
export interface BenchOptions {
  batchSize: number;
  /** workers of the headline figures */
  workers: number;
  /** also measure 1 worker (when workers > 1) */
  compare: boolean;
  /** tf.js backend in the workers (and on the main thread) */
  backend: "wasm" | "cpu";
  /** convolutions through oneDNN (lib/native_conv.ts) where available, with this many OpenMP threads per call */
  nativeConv: boolean;
  nativeConvThreads?: number;
  /** timed runs (median taken) and untimed warm-up runs per phase */
  reps: number;
  warmup: number;
  /** images per pass inside a worker during training (default: its whole shard) */
  microBatch?: number;
  /** images of the per-layer profile (0: no profile) */
  profileBatch: number;
  quick: boolean;
  /** python interpreters to try for the PyTorch figures, in order; empty: skip */
  pythons: string[];
  torchScript: string;
  progress?: (line: string) => void;
}

function modelFromParams(nClasses: number, params: Map<string, ParamData>): SsdModel {
  const vars = new Map<string, tf.Variable>();
  for (const [name, p] of params) {
    vars.set(name, tf.tidy(() => tf.variable(tf.tensor(p.data, p.shape), true)));
  }
  return { nClasses, params: vars };
}

function disposeParams(model: SsdModel): void {
  for (const v of model.params.values()) v.dispose();
}

type TorchResult = NonNullable<BenchReport["torch"]>;

/**
 * Runs lib/bench/bench_torch.py with the first interpreter that imports torch.
 * @returns its figures, or the reason it was skipped
 */
export async function runTorchBench(
  pythons: readonly string[],
  script: string,
  batchSize: number,
  threads: number,
  quick: boolean,
): Promise<{ torch: TorchResult | null; reason: string | null }> {
  const tried: string[] = [];
  for (const python of pythons) {
    let probe;
    try {
      probe = await new Deno.Command(python, { args: ["-c", "import torch"], stdout: "null", stderr: "null" })
        .output();
    } catch {
      tried.push(`${python}: not found`);
      continue;
    }
    if (!probe.success) {
      tried.push(`${python}: no torch`);
      continue;
    }
    const args = [script, "--batch-size", String(batchSize), "--threads", String(threads)];
    if (quick) args.push("--quick");
    const out = await new Deno.Command(python, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      throw new Error(
        `${python} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
      );
    }
    const line = text.split("\n").at(-1) ?? "";
    const TorchLine = z.object({
      torch_version: z.string(),
      threads: z.number().int().positive(),
      batch_size: z.number().int().positive(),
      inference_ms_per_image: z.number().positive(),
      training_ms_per_image: z.number().positive(),
      detections_per_image: z.number().nonnegative(),
    });
    const parsed = TorchLine.safeParse(JSON.parse(line));
    if (!parsed.success) throw new Error(`${script} printed an unexpected line: ${line.slice(0, 500)}`);
    return { torch: { python, ...parsed.data }, reason: null };
  }
  return { torch: null, reason: tried.length ? tried.join("; ") : "no python interpreter given" };
}

/**
 * The whole benchmark: for each worker count (1 and N when comparing), a fresh pool with the same initial
 * weights measures inference (pool.detect) and training steps (pool gradients + SGD + weight broadcast), with the
 * process's peak RSS per run; then the per-layer profile on this thread, then PyTorch on the same workload.
 * The caller must have started the main thread's backend (`initBackend`).
 */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const log = o.progress ?? (() => {});
  const init = createSsd300Bench();
  const images = benchImages(o.batchSize, 0);
  calibrateCandidates(init, images);
  const params = await modelParamData(init);
  disposeParams(init);
  const { targets, nPositivesTotal } = benchTargets(benchBoxes(o.batchSize, 1));
  const counts = o.compare && o.workers > 1 ? [1, o.workers] : [o.workers];
  const runs: BenchReport["runs"] = [];
  let conv = "wasm";
  for (const w of counts) {
    log(`${w} worker(s), batch ${o.batchSize}: starting`);
    const hwmReset = resetPeakRss(); // needs --allow-all; otherwise only the sampled RSS
    const sampler = new RssSampler();
    const pool = await SsdWorkerPool.create({
      workers: w,
      backend: o.backend,
      nClasses: BENCH_CLASSES,
      params,
      nativeConv: o.nativeConv,
      nativeConvThreads: o.nativeConvThreads,
    });
    conv = pool.conv;
    const model = modelFromParams(BENCH_CLASSES, params);
    const opt = new Optimizer({ kind: "sgd", momentum: BENCH_SGD.momentum });
    try {
      const dets = await pool.detect(images, BENCH_DETECT);
      const detectionsPerImage = dets.reduce((s, d) => s + d.length, 0) / o.batchSize;
      log(`${w} worker(s): inference`);
      const inference = await timeBatches(
        async () => void await pool.detect(images, BENCH_DETECT),
        o.batchSize,
        o.reps,
        o.warmup,
        log,
      );
      log(`${w} worker(s): training`);
      let lossFirst = NaN;
      const training = await timeBatches(
        async () => {
          const l = await poolTrainStep(
            pool,
            model,
            opt,
            BENCH_SGD.lr,
            images,
            targets,
            nPositivesTotal,
            o.microBatch,
          );
          if (Number.isNaN(lossFirst)) lossFirst = l;
        },
        o.batchSize,
        o.reps,
        o.warmup,
        log,
      );
      runs.push({
        workers: w,
        inference,
        training,
        peak_rss_mb: Math.max(sampler.stop(), (hwmReset ? peakRssMb() : undefined) ?? 0),
        detections_per_image: detectionsPerImage,
        loss_first_step: lossFirst,
      });
    } finally {
      sampler.stop();
      opt.dispose();
      disposeParams(model);
      await pool.close();
    }
  }
  let profile: LayerProfile | null = null;
  if (o.profileBatch > 0) {
    log(`profile by layer (batch ${o.profileBatch}, this thread)`);
    const conv = o.nativeConv && enableNativeConv(o.nativeConvThreads ?? 1).ok
      ? nativeConvWithGrad
      : convWithGrad;
    const model = modelFromParams(BENCH_CLASSES, params);
    try {
      const k = o.profileBatch;
      const pos = targets.slice(0, k).reduce((s, t) => s + t.nPositives, 0);
      if (!o.quick) profileLayers(model, images.slice(0, k), targets.slice(0, k), pos, conv); // warm-up
      profile = profileLayers(model, images.slice(0, k), targets.slice(0, k), pos, conv);
    } finally {
      disposeParams(model);
    }
  }
  let torch: TorchResult | null = null, reason: string | null = "skipped (--skip-torch)";
  if (o.pythons.length > 0) {
    log(`PyTorch reference (${o.torchScript}, ${o.workers} threads)`);
    ({ torch, reason } = await runTorchBench(o.pythons, o.torchScript, o.batchSize, o.workers, o.quick));
  }
  const head = runs.at(-1)!;
  const one = runs.find((r) => r.workers === 1);
  return {
    version: 1,
    created: new Date().toISOString(),
    model: "SSD300",
    input_size: 300,
    batch_size: o.batchSize,
    micro_batch: o.microBatch ?? null,
    quick: o.quick,
    backend: o.backend,
    conv,
    workers: head.workers,
    threads: head.workers,
    inference_ms_per_image: head.inference.ms_per_image,
    training_ms_per_image: head.training.ms_per_image,
    peak_rss_mb: runs.every((r) => r.peak_rss_mb !== null)
      ? Math.max(...runs.map((r) => r.peak_rss_mb!))
      : null,
    runs,
    speedup: one && head.workers > 1
      ? {
        from_workers: 1,
        to_workers: head.workers,
        inference: one.inference.ms_per_image / head.inference.ms_per_image,
        training: one.training.ms_per_image / head.training.ms_per_image,
      }
      : null,
    torch,
    torch_skipped_reason: torch ? null : reason,
    ratios: torch
      ? {
        inference: head.inference.ms_per_image / torch.inference_ms_per_image,
        training: head.training.ms_per_image / torch.training_ms_per_image,
      }
      : null,
    profile,
  };
}

/** The benchmark's model: SSD300 for background + person, seed 0, person logits shifted down. */
export function createSsd300Bench(): SsdModel {
  const model = createSsd300(BENCH_CLASSES, 0);
  shiftPersonLogits(model);
  return model;
}

/**
 * Shifts the person logits further so that exactly `perImage` priors per image (on average over `images`) score
 * above `BENCH_DETECT.minScore`: random weights give each side a different score distribution, so both benches
 * calibrate to the same candidate count and their detection steps do the same amount of NMS work.
 * @returns the extra shift applied
 */
export function calibrateCandidates(
  model: SsdModel,
  images: readonly Float32Array[],
  perImage = BENCH_CANDIDATES_PER_IMAGE,
): number {
  const margins = tf.tidy(() => {
    const x = tf.tensor4d(concatImages(images), [images.length, 300, 300, 3]);
    const { scores } = ssdForward(model, x); // [B, 8732, 2]
    const [bg, person] = tf.split(scores, 2, 2);
    return tf.sub(person, bg).dataSync() as Float32Array; // [B·8732] person − background logit
  });
  const sorted = Float32Array.from(margins).sort().reverse();
  const k = Math.min(sorted.length - 1, perImage * images.length);
  const logitMin = Math.log(BENCH_DETECT.minScore / (1 - BENCH_DETECT.minScore));
  // between the k-th and (k+1)-th margins: those k stay above min_score
  const shift = (sorted[k - 1] + sorted[k]) / 2 - logitMin;
  shiftPersonLogits(model, shift);
  return shift;
}

function concatImages(images: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(images.length * IMAGE_FLOATS);
  images.forEach((im, i) => out.set(im, i * IMAGE_FLOATS));
  return out;
}

/** Human-readable summary of a report (stdout of the task). */
export function formatBench(r: BenchReport): string {
  const f = (x: number) => x.toFixed(0).padStart(7);
  const lines = [
    `SSD300 300×300, batch ${r.batch_size}, backend ${r.backend}, conv ${r.conv}${r.quick ? " (quick)" : ""}`,
    `                         inference ms/img   training ms/img   peak RSS MiB`,
  ];
  for (const run of r.runs) {
    lines.push(
      `ours, ${run.workers} worker(s)          ${f(run.inference.ms_per_image)}          ${
        f(run.training.ms_per_image)
      }        ${run.peak_rss_mb === null ? "   n/a" : f(run.peak_rss_mb)}`,
    );
  }
  if (r.torch) {
    lines.push(
      `PyTorch ${r.torch.torch_version}, ${r.torch.threads} threads ${
        f(r.torch.inference_ms_per_image)
      }          ${f(r.torch.training_ms_per_image)}`,
    );
  } else lines.push(`PyTorch: ${r.torch_skipped_reason}`);
  if (r.ratios) {
    lines.push(
      `ours/PyTorch: inference ${r.ratios.inference.toFixed(2)}× (target ≤ 1.25), training ${
        r.ratios.training.toFixed(2)
      }× (target ≤ 1.75)`,
    );
  }
  if (r.speedup) {
    lines.push(
      `speed-up 1 → ${r.speedup.to_workers} workers: inference ${r.speedup.inference.toFixed(2)}×, training ${
        r.speedup.training.toFixed(2)
      }×`,
    );
  }
  if (r.profile) {
    const p = r.profile;
    lines.push(
      `profile (batch ${p.batch_size}, one thread): layer, GFLOP, forward ms, backward ms, GFLOP/s fwd`,
    );
    for (const l of p.layers) {
      lines.push(
        `  ${l.layer.padEnd(28)} ${l.gflop.toFixed(2).padStart(6)} ${l.forward_ms.toFixed(1).padStart(8)} ${
          l.backward_ms.toFixed(1).padStart(9)
        } ${(l.gflop / (l.forward_ms / 1000)).toFixed(1).padStart(6)}`,
      );
    }
    lines.push(
      `  other: forward ${p.forward_other_ms.toFixed(1)} ms, loss ${p.loss_ms.toFixed(1)} ms, backward ${
        p.backward_other_ms.toFixed(1)
      } ms; totals forward ${p.forward_total_ms.toFixed(0)} ms, backward ${
        p.backward_total_ms.toFixed(0)
      } ms`,
    );
  }
  return lines.join("\n");
}
