/**
 * Data-parallel SSD300 on several CPU cores: a pool of Deno Workers, each running its own single-threaded
 * TF.js backend (WASM by default) with a replica of the model.
 *
 * Why workers: the WASM backend's threaded build spawns pthreads through `worker_threads`, which Deno rejects, so
 * one tf.js instance uses one core. A batch is split into contiguous shards, one per worker, and the results are
 * put back in batch order.
 *
 * - Inference: {@link SsdWorkerPool.forward} (locs/scores) and {@link SsdWorkerPool.detect} (detections, computed
 *   in the workers too).
 * - Training: {@link SsdWorkerPool.gradients} returns the sum of the shard gradients of the MultiBox loss
 *   (lib/ssd/loss.ts `multiboxLossPart`). The caller matches priors to objects for the whole batch first
 *   (`buildTargets`) and passes the per-image targets and the batch's total positive count N_pos; each shard's
 *   loss is normalised by that global N_pos, so the shard losses and gradients add up to exactly the full-batch
 *   loss and gradient. The caller applies its optimiser and sends the new weights with
 *   {@link SsdWorkerPool.setWeights}. {@link poolLossAndGradients} is a drop-in for lib/engine/batch_gradients.ts's
 *   `lossAndGradients` that does all of this but the optimiser step.
 * - Training with SGD in the workers: `gradients(…, { keep: true })` leaves each shard's gradients in a shared
 *   buffer, {@link SsdWorkerPool.sgdStep} then has every worker sum them and update its share of the shared
 *   weights and momentum, and every replica reloads the result. Nothing of size #params crosses to this thread
 *   per step, and the update runs on all cores (the host path's gradient transfer and sum, SGD on one thread and
 *   weights copy cost ≈ 300 ms per SSD300 step, 2 workers, AVX2; this path ≈ 120 ms).
 *
 * - `oneDnn: true` makes each worker compute its convolutions (forward, dX, dW) with oneDNN through FFI
 *   (lib/engine/onednn.ts, 1 OpenMP thread per worker); lib/engine/setup.ts sets it when libdnnl loads.
 *
 * Weights travel through one SharedArrayBuffer that every worker reads from (written once here per update, read by
 * the workers in parallel), images as one Float32Array per shard.
 * An error inside a worker rejects that call's promise with the worker's message; {@link SsdWorkerPool.close}
 * disposes every replica and terminates the workers.
 * The worker side is pool_worker.ts; the messages between them are pool_protocol.ts.
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  type Detection,
  type DetectOptions,
  type ImageTargets,
  type LossOptions,
  N_PRIORS,
  type PriorSetName,
  type SsdModel,
  stackImages,
} from "../ssd/mod.ts";
import {
  batchTargets,
  type GradientOptions as TrainGradientOptions,
  type LossAndGradients,
  type TrainSample,
} from "./batch_gradients.ts";
import type { WorkerReply, WorkerRequest, WorkerResults } from "./pool_protocol.ts";

/** A parameter's data in our layout (see lib/ssd/model.ts): row-major float32. */
export interface ParamData {
  shape: number[];
  data: Float32Array;
}

/** Options of {@link SsdWorkerPool.gradients}. */
export interface PoolGradientOptions extends LossOptions {
  /** positives in the WHOLE batch (all shards): the loss normaliser, as the reference's n_positives.sum() */
  nPositivesTotal: number;
  /** images per forward/backward pass inside a worker (bounds activation memory); default: the whole shard */
  microBatch?: number;
  /** names of the parameters to differentiate; default every parameter */
  trainable?: readonly string[];
  /** leave the gradients in the workers for {@link SsdWorkerPool.sgdStep} (the result's `grads` is empty) */
  keep?: boolean;
}

/** Hyper-parameters of one {@link SsdWorkerPool.sgdStep} (torch.optim.SGD's, without dampening or nesterov). */
export interface SgdHyper {
  lr: number;
  momentum: number;
  weightDecay: number;
}

/** Sum over shards of the loss and of its gradient. */
export interface GradientResult {
  /** full-batch MultiBox loss (conf + α·loc), as the reference computes it for the batch */
  loss: number;
  /** its confidence (cross-entropy) and localisation (L1) parts */
  conf: number;
  loc: number;
  /** dLoss/dParam by parameter name (our layout), for the differentiated parameters that reach the loss */
  grads: Map<string, Float32Array>;
}

/** Options of {@link SsdWorkerPool.create}. */
export interface PoolOptions {
  /** number of workers (≥ 1); default 2 */
  workers?: number;
  /** tf.js backend inside each worker; default "wasm" */
  backend?: "wasm" | "cpu";
  /** convolutions through oneDNN (lib/engine/onednn.ts) in each worker when available; default false */
  oneDnn?: boolean;
  /** OpenMP threads per oneDNN call (process-wide, fixed by the first library load); default 1 */
  oneDnnThreads?: number;
  /** classes incl. background */
  nClasses: number;
  /** prior set `detect` decodes against (the model's `priorSet`); default "reference" */
  priorSet?: PriorSetName;
  /** initial weights by parameter name (our layout), e.g. from {@link modelParamData} */
  params: Map<string, ParamData>;
}

/** Thrown (as a rejection) when a worker fails; `message` is the worker's own message. */
export class WorkerError extends Error {
  override name = "WorkerError";
  constructor(message: string, readonly workerIndex: number, readonly workerErrorName: string) {
    super(message);
  }
}

/** Reads every parameter of a model into plain arrays (our layout), e.g. to start a pool. */
export async function modelParamData(model: SsdModel): Promise<Map<string, ParamData>> {
  const out = new Map<string, ParamData>();
  for (const [name, v] of model.params) {
    out.set(name, { shape: v.shape.slice(), data: (await v.data()) as Float32Array });
  }
  return out;
}

/**
 * Splits n items into `parts` contiguous ranges as evenly as possible (earlier ranges get the extra item);
 * ranges of zero length are omitted.
 * @returns [start, end) pairs in order
 */
export function shardRanges(n: number, parts: number): [number, number][] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`shardRanges: n must be an integer ≥ 0, got ${n}`);
  if (!Number.isInteger(parts) || parts < 1) {
    throw new RangeError(`shardRanges: parts must be an integer ≥ 1, got ${parts}`);
  }
  const out: [number, number][] = [];
  const base = Math.floor(n / parts), extra = n % parts;
  let start = 0;
  for (let i = 0; i < parts; i++) {
    const len = base + (i < extra ? 1 : 0);
    if (len > 0) out.push([start, start + len]);
    start += len;
  }
  return out;
}

function concatTargets(parts: readonly Float32Array[], each: number, what: string): Float32Array {
  const out = new Float32Array(parts.length * each);
  parts.forEach((p, i) => {
    if (p.length !== each) throw new RangeError(`${what}[${i}] has ${p.length} values, expected ${each}`);
    out.set(p, i * each);
  });
  return out;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  worker: number;
}

/**
 * A pool of SSD300 replicas in Deno Workers. Create with {@link SsdWorkerPool.create}; always {@link close}.
 * Calls may be issued concurrently; each worker handles its messages in order.
 */
export class SsdWorkerPool {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private closed = false;
  /** `tf.memory().numTensors` in each worker after its last reply (for leak checks) */
  readonly workerTensorCounts: number[];
  /** convolution implementation in the workers: "wasm" or "onednn (<library>)" (+ why not, when refused) */
  conv = "wasm";
  /** time each worker spent handling its last request, ms (excludes message passing) */
  readonly workerBusyMs: number[];
  /** the weights every worker reads from, and where each parameter starts in it (floats) */
  private readonly weights: Float32Array;
  private readonly offsets = new Map<string, number>();
  /** the last setWeights (the next one writes the shared buffer only once every worker has read it) */
  private weightsWritten: Promise<void> = Promise.resolve();
  /** the gradients the workers keep for {@link sgdStep}: one slot per worker, each laid out as the weights */
  private gradBuffer: SharedArrayBuffer | undefined;
  /** SGD's momentum buffers, laid out as the weights, and the parameters that have one (torch's `momentum_buffer`) */
  private momentumBuffer: SharedArrayBuffer | undefined;
  private readonly withMomentum = new Set<string>();
  /**
   * the parameters whose gradients the last {@link gradients} call with `keep` left in the workers' slots, and
   * how many slots it filled (the first ones: a batch smaller than the pool leaves the last workers idle)
   */
  private kept: { names: readonly string[]; slots: number } | null = null;

  private constructor(
    private readonly workers: Worker[],
    readonly nClasses: number,
    /** parameter shapes by name (our layout) */
    readonly paramShapes: Map<string, number[]>,
  ) {
    let floats = 0;
    for (const [name, shape] of paramShapes) {
      this.offsets.set(name, floats);
      floats += shape.reduce((p, d) => p * d, 1);
    }
    this.weights = new Float32Array(new SharedArrayBuffer(4 * floats));
    this.workerTensorCounts = workers.map(() => 0);
    this.workerBusyMs = workers.map(() => 0);
    workers.forEach((w, i) => {
      w.onmessage = (e: MessageEvent<WorkerReply>) => this.onReply(i, e.data);
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.failWorker(i, new WorkerError(`worker ${i}: ${e.message}`, i, "Error"));
      };
      w.onmessageerror = () =>
        this.failWorker(i, new WorkerError(`worker ${i}: message could not be read`, i, "Error"));
    });
  }

  /** Number of workers. */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Starts the workers and gives each a replica of the weights (through the shared weights buffer).
   * @throws WorkerError (rejection) if a worker fails to start its backend or build the model
   */
  static async create(opts: PoolOptions): Promise<SsdWorkerPool> {
    const n = opts.workers ?? 2;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`workers must be an integer ≥ 1, got ${n}`);
    const url = new URL("./pool_worker.ts", import.meta.url).href;
    const workers = Array.from({ length: n }, () => new Worker(url, { type: "module" }));
    const names = [...opts.params.keys()];
    const pool = new SsdWorkerPool(
      workers,
      opts.nClasses,
      new Map(names.map((k) => [k, opts.params.get(k)!.shape.slice()])),
    );
    const shapes = names.map((k) => opts.params.get(k)!.shape);
    try {
      for (const k of names) pool.writeShared(k, opts.params.get(k)!.data);
      const inits = await Promise.all(workers.map((_, i) =>
        pool.call(i, {
          type: "init",
          backend: opts.backend ?? "wasm",
          oneDnn: opts.oneDnn ?? false,
          oneDnnThreads: opts.oneDnnThreads ?? 1,
          nClasses: opts.nClasses,
          priorSet: opts.priorSet,
          names,
          shapes,
          weights: pool.weights.buffer as SharedArrayBuffer,
        })
      ));
      pool.conv = inits[0].conv;
    } catch (e) {
      pool.terminate();
      throw e;
    }
    return pool;
  }

  private onReply(worker: number, reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (reply.ok) {
      this.workerTensorCounts[worker] = reply.numTensors;
      this.workerBusyMs[worker] = reply.ms;
      p.resolve(reply.result);
    } else {
      const err = new WorkerError(`worker ${worker}: ${reply.error.message}`, worker, reply.error.name);
      if (reply.error.stack) err.stack = `${err.name}: ${err.message}\n(worker stack) ${reply.error.stack}`;
      p.reject(err);
    }
  }

  private failWorker(worker: number, err: Error): void {
    for (const [id, p] of this.pending) {
      if (p.worker === worker) {
        this.pending.delete(id);
        p.reject(err);
      }
    }
  }

  private call<T extends WorkerRequest["type"]>(
    worker: number,
    req: Extract<WorkerRequest, { type: T }>,
    transfer: Transferable[] = [],
  ): Promise<WorkerResults[T]> {
    if (this.closed) return Promise.reject(new Error("SsdWorkerPool: the pool is closed"));
    const id = this.nextId++;
    return new Promise<WorkerResults[T]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, worker });
      this.workers[worker].postMessage({ id, ...req }, transfer);
    });
  }

  private writeShared(name: string, data: Float32Array): void {
    const at = this.offsets.get(name);
    if (at === undefined) throw new RangeError(`setWeights: unknown parameter '${name}'`);
    const size = this.paramShapes.get(name)!.reduce((p, d) => p * d, 1);
    if (data.length !== size) {
      throw new RangeError(`setWeights: '${name}' has ${data.length} values, expected ${size}`);
    }
    this.weights.set(data, at);
  }

  /**
   * Replaces the weights of every replica (e.g. after an optimiser step); `params` may hold a subset. The values
   * are copied when the call starts (after any earlier setWeights has finished); the caller may reuse its arrays.
   */
  setWeights(params: Map<string, ParamData | Float32Array>): Promise<void> {
    const names = [...params.keys()];
    const datas = names.map((k) => {
      const v = params.get(k)!;
      return v instanceof Float32Array ? v : v.data;
    });
    const done = this.weightsWritten.catch(() => {}).then(async () => {
      names.forEach((k, i) => this.writeShared(k, datas[i]));
      await Promise.all(this.workers.map((_, i) => this.call(i, { type: "setWeights", names })));
    });
    this.weightsWritten = done;
    return done;
  }

  private shards(n: number): [number, number][] {
    if (this.closed) throw new Error("SsdWorkerPool: the pool is closed");
    return shardRanges(n, this.workers.length);
  }

  /**
   * Forward pass over a batch, split across the workers.
   * @param images preprocessed images, each NHWC [300 * 300 * 3] (see preprocessForSsd)
   * @returns locs [n * 8732 * 4] offsets and scores [n * 8732 * C] logits, in batch order
   */
  async forward(images: readonly Float32Array[]): Promise<{ locs: Float32Array; scores: Float32Array }> {
    const n = images.length;
    const locs = new Float32Array(n * N_PRIORS * 4);
    const scores = new Float32Array(n * N_PRIORS * this.nClasses);
    await Promise.all(
      this.shards(n).map(async ([s, e], w) => {
        const batch = stackImages(images.slice(s, e));
        const r = await this.call(w, { type: "forward", images: batch, n: e - s }, [
          batch.buffer as ArrayBuffer,
        ]);
        locs.set(r.locs!, s * N_PRIORS * 4);
        scores.set(r.scores!, s * N_PRIORS * this.nClasses);
      }),
    );
    return { locs, scores };
  }

  /**
   * Forward pass and `detectObjects` per image, both in the workers.
   * @param images preprocessed images, each NHWC [300 * 300 * 3]
   * @returns detections per image, in batch order (fractional xyxy boxes)
   */
  async detect(images: readonly Float32Array[], opts: DetectOptions): Promise<Detection[][]> {
    const out: Detection[][] = new Array(images.length);
    await Promise.all(
      this.shards(images.length).map(async ([s, e], w) => {
        const batch = stackImages(images.slice(s, e));
        const r = await this.call(w, { type: "forward", images: batch, n: e - s, detect: opts }, [
          batch.buffer as ArrayBuffer,
        ]);
        r.detections!.forEach((d, i) => (out[s + i] = d));
      }),
    );
    return out;
  }

  /**
   * Loss and gradient of the MultiBox loss over a batch: each worker differentiates its shard's share
   * (`multiboxLossPart`, normalised by the global `nPositivesTotal`), the shard gradients are summed here.
   * @param images preprocessed images, each NHWC [300 * 300 * 3]
   * @param targets per image, from matching the whole batch (`buildTargets` in lib/ssd/loss.ts)
   */
  async gradients(
    images: readonly Float32Array[],
    targets: readonly ImageTargets[],
    opts: PoolGradientOptions,
  ): Promise<GradientResult> {
    const n = images.length;
    if (targets.length !== n) throw new RangeError(`gradients: ${n} images but ${targets.length} targets`);
    if (!(opts.nPositivesTotal > 0)) {
      throw new RangeError(`gradients: nPositivesTotal must be > 0, got ${opts.nPositivesTotal}`);
    }
    const { threshold, negPosRatio, alpha } = opts;
    const floats = this.weights.length;
    if (opts.keep && !this.gradBuffer) {
      this.gradBuffer = new SharedArrayBuffer(4 * floats * this.workers.length);
    }
    this.kept = null;
    const results = await Promise.all(
      this.shards(n).map(([s, e], w) => {
        const batch = stackImages(images.slice(s, e));
        const shard = targets.slice(s, e);
        const tl = concatTargets(shard.map((t) => t.trueLocs), N_PRIORS * 4, "trueLocs");
        const tc = new Int32Array((e - s) * N_PRIORS);
        shard.forEach((t, i) => {
          if (t.trueClasses.length !== N_PRIORS) {
            throw new RangeError(
              `trueClasses[${s + i}] has ${t.trueClasses.length} values, expected ${N_PRIORS}`,
            );
          }
          tc.set(t.trueClasses, i * N_PRIORS);
        });
        return this.call(w, {
          type: "gradients",
          images: batch,
          n: e - s,
          trueLocs: tl,
          trueClasses: tc,
          nPositives: shard.map((t) => t.nPositives),
          nPositivesTotal: opts.nPositivesTotal,
          microBatch: opts.microBatch ?? (e - s),
          trainable: opts.trainable ? [...opts.trainable] : null,
          loss: { threshold, negPosRatio, alpha },
          into: opts.keep ? { buffer: this.gradBuffer!, slot: w * floats } : null,
        }, [batch.buffer, tl.buffer, tc.buffer] as ArrayBuffer[]);
      }),
    );
    // Σ over shards: O(#params) per extra worker, once per batch.
    const grads = new Map<string, Float32Array>();
    let loss = 0, conf = 0, loc = 0;
    for (const r of results) {
      loss += r.loss;
      conf += r.conf;
      loc += r.loc;
      if (opts.keep) continue;
      r.names.forEach((name, i) => {
        const acc = grads.get(name);
        if (!acc) {
          grads.set(name, r.grads[i]);
          return;
        }
        const g = r.grads[i];
        for (let j = 0; j < acc.length; j++) acc[j] += g[j];
      });
    }
    if (opts.keep) {
      // each shard's slot holds every trainable parameter (zeros where it had no path to that shard's loss);
      // one without a gradient in any shard is not updated (torch leaves its .grad None)
      const reached = new Set(results.flatMap((r) => r.names));
      this.kept = {
        names: (opts.trainable ?? [...this.paramShapes.keys()]).filter((k) => reached.has(k)),
        slots: results.length,
      };
    }
    // keep the model's parameter order (shards may differ in which parameters reach the loss)
    const order = opts.trainable ?? results[0]?.names ?? [];
    const ordered = new Map<string, Float32Array>();
    for (const k of order) if (grads.has(k)) ordered.set(k, grads.get(k)!);
    for (const [k, v] of grads) if (!ordered.has(k)) ordered.set(k, v);
    return { loss, conf, loc, grads: ordered };
  }

  /**
   * One SGD update (torch.optim.SGD semantics, float32 as lib/train/optim.ts) of the parameters whose gradients
   * the last {@link gradients} call kept, computed by the workers on the shared weights, each on its share of the
   * floats; then every replica reloads the updated weights. The gradients are used once.
   * @throws Error when no kept gradients are waiting
   */
  async sgdStep(h: SgdHyper): Promise<void> {
    const kept = this.kept;
    if (!kept) throw new Error("sgdStep: no gradients kept (call gradients with keep: true first)");
    this.kept = null;
    for (const [k, v] of Object.entries(h)) {
      if (!Number.isFinite(v) || v < 0) {
        throw new RangeError(`sgdStep: ${k} must be finite and ≥ 0, got ${v}`);
      }
    }
    if (h.momentum > 0 && !this.momentumBuffer) {
      this.momentumBuffer = new SharedArrayBuffer(this.weights.byteLength);
    }
    // the kept parameters' floats, back to back, cut into one share per worker
    const ranges = kept.names.map((name) => {
      const at = this.offsets.get(name)!;
      return { name, start: at, end: at + this.paramShapes.get(name)!.reduce((p, d) => p * d, 1) };
    });
    const total = ranges.reduce((s, r) => s + r.end - r.start, 0);
    const shares = shardRanges(total, this.workers.length);
    const segmentsOf = ([from, to]: [number, number]) => {
      const out: number[] = [];
      let seen = 0;
      for (const r of ranges) {
        const len = r.end - r.start;
        const a = Math.max(from, seen), b = Math.min(to, seen + len);
        if (a < b) out.push(r.start + a - seen, r.start + b - seen, this.withMomentum.has(r.name) ? 0 : 1);
        seen += len;
      }
      return out;
    };
    const done = this.weightsWritten.catch(() => {}).then(async () => {
      await Promise.all(shares.map((share, w) =>
        this.call(w, {
          type: "sgd",
          grads: this.gradBuffer!,
          workers: kept.slots,
          momentumBuffer: h.momentum > 0 ? this.momentumBuffer! : null,
          segments: segmentsOf(share),
          lr: h.lr,
          momentum: h.momentum,
          weightDecay: h.weightDecay,
        })
      ));
      if (h.momentum > 0) { for (const n of kept.names) this.withMomentum.add(n); }
      await Promise.all(
        this.workers.map((_, i) => this.call(i, { type: "setWeights", names: [...kept.names] })),
      );
    });
    this.weightsWritten = done;
    await done;
  }

  /** A copy of the named parameters' current values in the shared weights (our layout). */
  async readWeights(names: readonly string[]): Promise<Map<string, Float32Array>> {
    await this.weightsWritten.catch(() => {});
    return new Map(names.map((n) => [n, this.sharedSlice(n).slice()]));
  }

  /** Copies of SGD's momentum buffers of {@link sgdStep}, for the parameters that have one. */
  momentumBuffers(): Map<string, Float32Array> {
    const all = this.momentumBuffer ? new Float32Array(this.momentumBuffer) : null;
    const out = new Map<string, Float32Array>();
    for (const n of this.paramShapes.keys()) {
      if (all && this.withMomentum.has(n)) out.set(n, this.sharedSlice(n, all).slice());
    }
    return out;
  }

  /** Replaces SGD's momentum buffers (e.g. from a resume state); parameters not named start fresh. */
  setMomentumBuffers(buffers: Map<string, Float32Array>): void {
    this.withMomentum.clear();
    if (buffers.size === 0) return;
    if (!this.momentumBuffer) this.momentumBuffer = new SharedArrayBuffer(this.weights.byteLength);
    const all = new Float32Array(this.momentumBuffer);
    for (const [n, data] of buffers) {
      const dst = this.sharedSlice(n, all);
      if (data.length !== dst.length) {
        throw new RangeError(`momentum of '${n}' has ${data.length} values, expected ${dst.length}`);
      }
      dst.set(data);
      this.withMomentum.add(n);
    }
  }

  /** Parameter `name`'s floats in a buffer laid out as the weights (default the weights themselves). */
  private sharedSlice(name: string, all: Float32Array = this.weights): Float32Array {
    const at = this.offsets.get(name);
    if (at === undefined) throw new RangeError(`unknown parameter '${name}'`);
    return all.subarray(at, at + this.paramShapes.get(name)!.reduce((p, d) => p * d, 1));
  }

  /**
   * The practical peak of all workers at once: each runs lib/engine/peak.ts's large convolution `reps` times.
   * @returns GFLOP/s of the whole pool (total GFLOP over the slowest worker's time)
   */
  async peakGflops(reps: number): Promise<number> {
    const r = await Promise.all(this.workers.map((_, i) => this.call(i, { type: "peak", reps })));
    return r.reduce((s, x) => s + x.gflop, 0) / (Math.max(...r.map((x) => x.ms)) / 1000);
  }

  /** Makes worker `index` throw `message` (to test error propagation). */
  failForTest(index: number, message: string): Promise<null> {
    return this.call(index, { type: "fail", message });
  }

  private terminate(): void {
    this.closed = true;
    for (const w of this.workers) w.terminate();
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new Error("SsdWorkerPool: closed while a call was pending"));
    }
  }

  /** Disposes the replicas (waits for calls in flight first, each worker being in order) and ends the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await Promise.all(this.workers.map((_, i) => this.call(i, { type: "close" }).catch(() => null)));
    } finally {
      this.terminate();
    }
  }
}

/**
 * Drop-in for lib/engine/batch_gradients.ts's `lossAndGradients` on a pool: matches the whole batch on this thread
 * (`buildTargets`), then {@link SsdWorkerPool.gradients}. The returned gradients are tensors on this thread's
 * backend (the caller disposes them), ready for `Optimizer.step`; afterwards send the new weights with
 * {@link SsdWorkerPool.setWeights}.
 */
export async function poolLossAndGradients(
  pool: SsdWorkerPool,
  batch: readonly TrainSample[],
  opts: TrainGradientOptions,
): Promise<LossAndGradients> {
  const { targets, nPositivesTotal } = batchTargets(batch, opts, "poolLossAndGradients");
  const r = await pool.gradients(batch.map((s) => s.image), targets, {
    nPositivesTotal,
    microBatch: opts.microBatch,
    trainable: opts.trainable,
    threshold: opts.threshold,
    negPosRatio: opts.negPosRatio,
    alpha: opts.alpha,
  });
  const grads = new Map<string, tf.Tensor>();
  for (const [name, g] of r.grads) grads.set(name, tf.tensor(g, pool.paramShapes.get(name)));
  return { loss: r.loss, conf: r.conf, loc: r.loc, nPositives: nPositivesTotal, grads };
}
