/**
 * The one engine choice of every task that runs the network: the tf.js backend, the convolution kernels (oneDNN
 * through lib/engine/onednn.ts when `libdnnl.so.2` loads, else WASM with one line on stderr naming the missing
 * library and `apt-get install libdnnl2`) and the parallelism (data-parallel workers, lib/engine/pool.ts, or
 * oneDNN's own threads on this thread), defaulting to as many as the machine has cores. `--conv wasm|onednn` and
 * `--workers N` override (lib/cli/common_flags.ts `ENGINE_FLAGS`).
 *
 * {@link initEngine} decides and starts this thread's backend (before any model is loaded);
 * {@link startRunner} then runs a model on that engine: `forward`, `detect` and training `gradients`, with the
 * same results on every engine (up to float summation order; the golden parity tests hold on each).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { InputError } from "../core/errors.ts";
import { type BackendChoice, initBackend } from "./backend.ts";
import { enableOneDnn, oneDnnConvWithGrad, oneDnnLibrary } from "./onednn.ts";
import { timePeakConv } from "./peak.ts";
import { modelParamData, poolLossAndGradients, type SgdHyper, SsdWorkerPool } from "./pool.ts";
import {
  type Detection,
  type DetectOptions,
  forwardAndDetect,
  forwardImages,
  priorsCxcyFor,
  type SsdModel,
  stackImages,
} from "../ssd/mod.ts";
import {
  batchTargets,
  type LossAndGradients,
  lossAndGradientsAsync,
  type TrainSample,
} from "./batch_gradients.ts";
import { describeAdapter, webGpuAdapter, webGpuImagesPerPass } from "./webgpu.ts";

/** `--conv` values: `auto` = oneDNN when libdnnl.so.2 loads, else WASM. */
export const CONV_CHOICES = ["auto", "wasm", "onednn"] as const;
export type ConvChoice = typeof CONV_CHOICES[number];

/** What the engine runs: training steps or inference (forward, detection, evaluation). */
export type EngineUse = "train" | "infer";

/**
 * The default parallelism with oneDNN, per use: `workers` = one data-parallel worker per core, each with one
 * oneDNN thread; `threads` = this thread only, oneDNN on all cores. Measured with `deno task bench` on an AMD
 * EPYC (2 vCPUs sharing one core's FPUs, AVX-512), README "Speed": workers were faster for both (batch 4,
 * training 1317 vs 1431 ms/img, inference 333 vs 354 ms/img). Without oneDNN it is always workers (WASM runs
 * one thread per tf.js instance).
 */
export const ONEDNN_PARALLELISM: Readonly<Record<EngineUse, "workers" | "threads">> = {
  train: "workers",
  infer: "workers",
};

/** The hint printed once when oneDNN is missing. */
export const INSTALL_ONEDNN_HINT = "apt-get install libdnnl2";

/** What {@link initEngine} chose. */
export interface EngineInfo {
  /** tf.js backend of this thread and the workers (`wasm`, `cpu`, `tensorflow`, `webgpu`) */
  backend: string;
  /** convolution kernels that run */
  conv: "wasm" | "onednn" | "cpu" | "tensorflow" | "webgpu";
  /** data-parallel workers (1: this thread) */
  workers: number;
  /** oneDNN threads per convolution (1 without oneDNN) */
  threads: number;
  /** the oneDNN library loaded, or null */
  library: string | null;
  /** the GPU adapter of the webgpu backend (lib/engine/webgpu.ts `describeAdapter`); absent on the others */
  adapter?: string;
}

/** The request of a task (its flags). `workers` undefined: as many as the machine has cores. */
export interface EngineRequest {
  backend?: BackendChoice;
  conv?: ConvChoice;
  workers?: number;
  use: EngineUse;
}

/** Cores the machine offers this process (`navigator.hardwareConcurrency`, at least 1). */
export function machineCores(): number {
  const n = navigator.hardwareConcurrency;
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/**
 * One line naming an engine, e.g. `engine: oneDNN convolutions on 2 workers × 1 thread (wasm backend)`, or with
 * the adapter: `engine: WebGPU kernels on llvmpipe (LLVM 15.0.6, 256 bits) [vendor 65541, device 0, software
 * adapter] (webgpu backend)`.
 */
export function describeEngine(e: EngineInfo): string {
  if (e.backend === "webgpu") return `engine: WebGPU kernels on ${e.adapter ?? "the GPU"} (webgpu backend)`;
  const conv = e.conv === "onednn" ? "oneDNN" : e.conv === "wasm" ? "WASM" : e.conv;
  const par = e.workers > 1
    ? `${e.workers} workers × ${e.threads} thread${e.threads > 1 ? "s" : ""}`
    : `this thread, ${e.threads} thread${e.threads > 1 ? "s" : ""}`;
  return `engine: ${conv} convolutions on ${par} (${e.backend} backend)`;
}

/**
 * Starts this thread's backend and chooses the engine; prints the choice (one line, and one more when oneDNN is
 * missing). Call once per task, before loading a model. oneDNN, once enabled on a thread, stays (its kernels
 * replace WASM's and its thread count is fixed by its first load in a process), so a later `conv: "wasm"` in
 * the same process is refused.
 * @param log where the lines go (stderr); null: quiet
 * @throws InputError for `--conv onednn` when the library does not load, oneDNN on a non-WASM backend, or
 *   workers on the tensorflow backend
 */
export async function initEngine(
  req: EngineRequest,
  log: ((line: string) => void) | null = (line) => console.error(line),
): Promise<EngineInfo> {
  const backend = await initBackend(req.backend ?? "auto", null);
  const cores = machineCores();
  const conv = req.conv ?? "auto";
  let info: EngineInfo;
  if (backend !== "wasm") {
    if (conv === "onednn") {
      throw new InputError(`--conv onednn needs the wasm backend (the backend is ${backend})`);
    }
    const workers = req.workers ?? (backend === "cpu" ? cores : 1);
    if (workers > 1 && backend !== "cpu") {
      throw new InputError(`--workers ${workers} needs --backend wasm or cpu (the backend is ${backend})`);
    }
    info = { backend, conv: backend as EngineInfo["conv"], workers, threads: 1, library: null };
    const adapter = backend === "webgpu" ? webGpuAdapter() : null;
    if (adapter) info.adapter = describeAdapter(adapter);
  } else if (conv === "wasm") {
    if (oneDnnLibrary()) {
      throw new Error(
        "--conv wasm: oneDNN convolutions are already enabled in this process (see initEngine)",
      );
    }
    info = { backend, conv: "wasm", workers: req.workers ?? cores, threads: 1, library: null };
  } else {
    const mode = ONEDNN_PARALLELISM[req.use];
    const workers = req.workers ?? (mode === "workers" ? cores : 1);
    const threads = Math.max(1, Math.floor(cores / workers));
    const r = enableOneDnn(threads);
    if (r.ok) {
      const omp = Number(Deno.env.get("OMP_NUM_THREADS"));
      info = {
        backend,
        conv: "onednn",
        workers,
        threads: Number.isInteger(omp) && omp >= 1 ? omp : threads,
        library: r.lib,
      };
    } else if (conv === "onednn") {
      throw new InputError(
        `--conv onednn: oneDNN could not be loaded (${r.reason}); install it with ${INSTALL_ONEDNN_HINT}`,
      );
    } else {
      log?.(
        `oneDNN (libdnnl.so.2) not found: convolutions run on WASM, same results but several times slower; ` +
          `install it with ${INSTALL_ONEDNN_HINT}`,
      );
      info = { backend, conv: "wasm", workers: req.workers ?? cores, threads: 1, library: null };
    }
  }
  log?.(describeEngine(info));
  return info;
}

/**
 * A model running on an engine. Results are in batch order and equal the one-thread path's (up to float
 * summation order). `gradients` follows lib/engine/batch_gradients.ts `lossAndGradients` (tensors on this thread; the caller
 * disposes them and applies its optimiser to `model.params`); the runner sends changed weights to its workers
 * before their next call.
 */
export interface SsdRunner {
  readonly info: EngineInfo;
  /**
   * Network forward only.
   * @param images preprocessed, each NHWC [300 * 300 * 3]
   * @returns locs [n * 8732 * 4] offsets, scores [n * 8732 * C] logits
   */
  forward(images: readonly Float32Array[]): Promise<{ locs: Float32Array; scores: Float32Array }>;
  /** Forward and the reference's `detect_objects` per image; fractional xyxy boxes. */
  detect(images: readonly Float32Array[], opts: DetectOptions): Promise<Detection[][]>;
  /** Loss and gradients of a batch w.r.t. `trainable` (see lib/train/loop.ts `TrainHooks.gradients`). */
  gradients(batch: readonly TrainSample[], trainable: readonly string[]): Promise<LossAndGradients>;
  /** The engine's practical convolution peak on all its cores, GFLOP/s (lib/engine/peak.ts, `reps` runs each). */
  peakGflops(reps: number): Promise<number>;
  /**
   * SGD computed where the weights live: the workers update their shared weights in parallel, with no gradient
   * or weight crossing to this thread per step; null on an engine without workers (there lib/train/optim.ts
   * updates `model.params` on this thread).
   */
  readonly sgd: EngineSgd | null;
  close(): Promise<void>;
}

/**
 * A training step split as torch's `loss.backward()` / `optimizer.step()`, both on the engine: {@link gradients}
 * leaves the batch's gradients in the engine, {@link step} applies SGD with momentum to them (torch.optim.SGD
 * semantics, float32, equal to lib/train/optim.ts `Optimizer`'s). `model.params` fall behind until
 * {@link pullWeights}.
 */
export interface EngineSgd {
  /** Loss of a batch w.r.t. `trainable` (as {@link SsdRunner.gradients}); the gradients stay in the engine. */
  gradients(
    batch: readonly TrainSample[],
    trainable: readonly string[],
  ): Promise<{ loss: number; conf: number; loc: number; nPositives: number }>;
  /** One update from the last {@link gradients} call's gradients. */
  step(h: SgdHyper): Promise<void>;
  /** Copies the engine's current values of `names` into `model.params`. */
  pullWeights(names: readonly string[]): Promise<void>;
  /** Copies of the momentum buffers (parameters that have one; torch's `momentum_buffer`). */
  momentumBuffers(): Map<string, Float32Array>;
  /** Replaces the momentum buffers (e.g. from a resume state); parameters not named start fresh. */
  setMomentumBuffers(buffers: Map<string, Float32Array>): void;
}

/**
 * Runs `model` on the engine {@link initEngine} chose: on this thread when it has one worker, else on a pool of
 * replicas (the weights are sent once; changed ones again after each training step).
 * @param opts.microBatch images per forward/backward pass while training (bounds activation memory)
 */
export async function startRunner(
  model: SsdModel,
  info: EngineInfo,
  opts: { microBatch?: number } = {},
): Promise<SsdRunner> {
  const priorsCxcy = priorsCxcyFor(model.priorSet);
  if (info.workers <= 1) return localRunner(model, info, priorsCxcy, opts.microBatch);
  const pool = await SsdWorkerPool.create({
    workers: info.workers,
    backend: info.backend === "cpu" ? "cpu" : "wasm",
    nClasses: model.nClasses,
    priorSet: model.priorSet,
    params: await modelParamData(model),
    oneDnn: info.conv === "onednn",
    oneDnnThreads: info.threads,
  });
  // parameters the caller's optimiser may have changed since the workers last got them
  let stale = new Set<string>();
  const sync = async () => {
    if (stale.size === 0) return;
    const names = [...stale];
    stale = new Set();
    await pool.setWeights(new Map(names.map((n) => [n, model.params.get(n)!.dataSync() as Float32Array])));
  };
  return {
    info,
    forward: async (images) => (await sync(), pool.forward(images)),
    detect: async (images, o) => (await sync(), pool.detect(images, o)),
    gradients: async (batch, trainable) => {
      await sync();
      const r = await poolLossAndGradients(pool, batch, {
        priorsCxcy,
        microBatch: opts.microBatch,
        trainable,
      });
      for (const n of trainable) stale.add(n);
      return r;
    },
    peakGflops: (reps) => pool.peakGflops(reps),
    sgd: {
      gradients: async (batch, trainable) => {
        await sync();
        const { targets, nPositivesTotal } = batchTargets(batch, { priorsCxcy }, "gradients");
        const r = await pool.gradients(batch.map((s) => s.image), targets, {
          nPositivesTotal,
          microBatch: opts.microBatch,
          trainable,
          keep: true,
        });
        return { loss: r.loss, conf: r.conf, loc: r.loc, nPositives: nPositivesTotal };
      },
      step: (h) => pool.sgdStep(h),
      pullWeights: async (names) => {
        for (const [n, data] of await pool.readWeights(names)) {
          const v = model.params.get(n)!;
          tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
        }
      },
      momentumBuffers: () => pool.momentumBuffers(),
      setMomentumBuffers: (b) => pool.setMomentumBuffers(b),
    },
    close: () => pool.close(),
  };
}

function localRunner(
  model: SsdModel,
  info: EngineInfo,
  priorsCxcy: Float32Array,
  microBatch: number | undefined,
): SsdRunner {
  // images per pass: unbounded on the CPU backends; on WebGPU every tensor must fit the adapter's largest binding
  const perPass = webGpuImagesPerPass();
  const chunks = (images: readonly Float32Array[]) => {
    const step = Math.max(1, Math.min(perPass, images.length));
    const out: Float32Array[][] = [];
    for (let s = 0; s < images.length; s += step) out.push(images.slice(s, s + step));
    return out;
  };
  return {
    info,
    // one pass per chunk; values are read back with `await data()` (the only read the WebGPU backend has)
    forward: async (images) => {
      const parts: { locs: Float32Array; scores: Float32Array }[] = [];
      for (const chunk of chunks(images)) parts.push(await forwardImages(model, chunk));
      if (parts.length === 1) return parts[0];
      const join = (arrays: Float32Array[]) => {
        const all = new Float32Array(arrays.reduce((s, a) => s + a.length, 0));
        let at = 0;
        for (const a of arrays) (all.set(a, at), at += a.length);
        return all;
      };
      return { locs: join(parts.map((p) => p.locs)), scores: join(parts.map((p) => p.scores)) };
    },
    detect: async (images, o) => {
      const found: Detection[][] = [];
      for (const chunk of chunks(images)) found.push(...await forwardAndDetect(model, stackImages(chunk), o));
      return found;
    },
    gradients: (batch, trainable) =>
      lossAndGradientsAsync(model, batch, {
        priorsCxcy,
        microBatch: Math.min(microBatch ?? batch.length, perPass),
        trainable,
        conv: info.conv === "onednn" ? oneDnnConvWithGrad : undefined,
      }),
    peakGflops: async (reps) => {
      const r = await timePeakConv(reps);
      return r.gflop / (r.ms / 1000);
    },
    sgd: null,
    close: () => Promise.resolve(),
  };
}
