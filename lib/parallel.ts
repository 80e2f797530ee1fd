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
 * - Training: {@link SsdWorkerPool.gradients} returns the sum of the shard gradients of the MultiBox loss. The
 *   caller matches priors to objects for the whole batch first and passes the per-image targets and the batch's
 *   total positive count N_pos; each shard's loss is normalised by that global N_pos, so the shard losses and
 *   gradients add up to exactly the full-batch loss and gradient. The caller applies its optimiser and sends the
 *   new weights with {@link SsdWorkerPool.setWeights}.
 *
 * Weights travel as transferable Float32Arrays (one copy per worker), images as one Float32Array per shard.
 * An error inside a worker rejects that call's promise with the worker's message; {@link SsdWorkerPool.close}
 * disposes every replica and terminates the workers.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Detection, DetectOptions } from "./detect.ts";
import { N_PRIORS } from "./priors.ts";
import type { SsdModel } from "./model.ts";

/** Floats in one preprocessed image, NHWC [300, 300, 3]. */
export const IMAGE_FLOATS = 300 * 300 * 3;
/** Hard negatives per positive in the MultiBox loss (the reference's `neg_pos_ratio=3`). */
export const NEG_POS_RATIO = 3;
/** Weight of the localisation loss (the reference's `alpha=1.`). */
export const LOC_LOSS_ALPHA = 1;

/** A parameter's data in our layout (see lib/model.ts): row-major float32. */
export interface ParamData {
  shape: number[];
  data: Float32Array;
}

/** Per-prior training targets for one image, from matching priors to its objects (threshold 0.5). */
export interface PriorTargets {
  /** [8732 * 4] encoded offsets of each prior's matched object (only positives' values matter) */
  trueLocs: Float32Array;
  /** [8732] class per prior, 0 = background; a prior is positive when > 0 */
  trueClasses: Int32Array;
}

/** Options of {@link SsdWorkerPool.gradients}. */
export interface GradientOptions {
  /** positives in the WHOLE batch (all shards): the loss is normalised by it, as the reference's n_positives.sum() */
  nPosTotal: number;
  /** images per forward/backward pass inside a worker (bounds activation memory); default: the whole shard */
  microBatch?: number;
  /** names of the parameters to differentiate; default every parameter */
  trainable?: readonly string[];
}

/** Sum over shards of the loss and of its gradient. */
export interface GradientResult {
  /** full-batch MultiBox loss (conf + α·loc), as the reference computes it for the batch */
  loss: number;
  /** dLoss/dParam by parameter name (our layout), for the differentiated parameters */
  grads: Map<string, Float32Array>;
}

/** Options of {@link SsdWorkerPool.create}. */
export interface PoolOptions {
  /** number of workers (≥ 1); default 2 */
  workers?: number;
  /** tf.js backend inside each worker; default "wasm" */
  backend?: "wasm" | "cpu";
  /** classes incl. background */
  nClasses: number;
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

/** Messages main → worker. */
export type WorkerRequest =
  | {
    type: "init";
    backend: string;
    nClasses: number;
    names: string[];
    shapes: number[][];
    datas: Float32Array[];
  }
  | { type: "setWeights"; names: string[]; datas: Float32Array[] }
  | { type: "forward"; images: Float32Array; n: number; detect?: DetectOptions }
  | {
    type: "gradients";
    images: Float32Array;
    n: number;
    trueLocs: Float32Array;
    trueClasses: Int32Array;
    nPosTotal: number;
    microBatch: number;
    trainable: string[] | null;
  }
  | { type: "fail"; message: string }
  | { type: "close" };

/** Results worker → main, per request type. */
export interface WorkerResults {
  init: { backend: string };
  setWeights: null;
  forward: { locs?: Float32Array; scores?: Float32Array; detections?: Detection[][] };
  gradients: { loss: number; names: string[]; grads: Float32Array[] };
  fail: null;
  close: null;
}

/** The envelope of every reply. */
export type WorkerReply =
  | { id: number; ok: true; result: unknown; numTensors: number }
  | { id: number; ok: false; error: { name: string; message: string; stack?: string } };

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

function concatF32(parts: readonly Float32Array[], each: number, what: string): Float32Array {
  const out = new Float32Array(parts.length * each);
  parts.forEach((p, i) => {
    if (p.length !== each) throw new RangeError(`${what}[${i}] has ${p.length} values, expected ${each}`);
    out.set(p, i * each);
  });
  return out;
}

/**
 * MultiBox loss of a shard (the reference's `MultiBoxLoss.forward`), normalised by the WHOLE batch's positive
 * count so that shard losses sum to the batch loss:
 *   (Σ_shard CE(pos) + Σ_shard CE(hard neg)) / N_pos + α · Σ_shard |loc − target|(pos) / (4 · N_pos).
 * Hard negatives are mined per image (3 per positive, the largest background CE). The hard-negative selection is
 * a constant mask computed from a detached copy of the CE (it selects, it is not differentiated — as in torch,
 * where the sort's indices carry no gradient).
 * @param locs [n, 8732, 4] predicted offsets
 * @param scores [n, 8732, C] logits
 * @param trueLocs [n, 8732, 4] encoded target offsets
 * @param trueClasses [n, 8732] int32 classes (0 background)
 * @param posPerImage positives of each of the n images (= count of trueClasses > 0 per row)
 * @param nPosTotal positives in the whole batch (≥ 1)
 * @returns scalar loss
 */
export function shardMultiboxLoss(
  locs: tf.Tensor3D,
  scores: tf.Tensor3D,
  trueLocs: tf.Tensor3D,
  trueClasses: tf.Tensor2D,
  posPerImage: readonly number[],
  nPosTotal: number,
): tf.Scalar {
  if (!(nPosTotal > 0)) throw new RangeError(`shardMultiboxLoss: nPosTotal must be > 0, got ${nPosTotal}`);
  const [n, nPriors, nClasses] = scores.shape;
  return tf.tidy(() => {
    const pos = tf.cast(tf.greater(trueClasses, 0), "float32"); // [n, P]
    const locErr = tf.sum(tf.mul(tf.abs(tf.sub(locs, trueLocs)), tf.expandDims(pos, 2))); // Σ over pos × 4
    const oneHot = tf.oneHot(tf.reshape(trueClasses, [-1]), nClasses); // [n·P, C]
    const logp = tf.logSoftmax(tf.reshape(scores, [-1, nClasses])); // [n·P, C]
    const ce = tf.reshape(tf.neg(tf.sum(tf.mul(logp, oneHot), 1)), [n, nPriors]); // [n, P]
    // hard negatives: detached CE with positives pushed below every negative (CE ≥ 0), top 3·npos_i per row
    const ceDetached = tf.tensor2d(ce.dataSync() as Float32Array, [n, nPriors]);
    const negCe = tf.sub(ceDetached, tf.mul(pos, 2)); // positives → CE−2 < 0 ≤ any negative's CE
    const ks = posPerImage.map((p) => Math.min(NEG_POS_RATIO * p, nPriors));
    const kMax = Math.max(1, ...ks);
    const top = tf.topk(negCe, kMax).values; // [n, kMax] descending
    const thrIdx = ks.map((k, i) => i * kMax + Math.max(k - 1, 0));
    const thr = tf.reshape(tf.gather(tf.reshape(top, [-1]), thrIdx), [n, 1]); // [n, 1] k-th largest
    const hasNeg = tf.tensor2d(ks.map((k) => (k > 0 ? 1 : 0)), [n, 1]);
    const hardNeg = tf.mul(tf.mul(tf.cast(tf.greaterEqual(negCe, thr), "float32"), tf.sub(1, pos)), hasNeg);
    const conf = tf.sum(tf.mul(ce, tf.add(pos, hardNeg)));
    return tf.add(
      tf.div(conf, nPosTotal),
      tf.mul(tf.div(locErr, 4 * nPosTotal), LOC_LOSS_ALPHA),
    ) as tf.Scalar;
  });
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

  private constructor(private readonly workers: Worker[], readonly nClasses: number) {
    this.workerTensorCounts = workers.map(() => 0);
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
   * Starts the workers and sends each a replica of the weights (transferred copies).
   * @throws WorkerError (rejection) if a worker fails to start its backend or build the model
   */
  static async create(opts: PoolOptions): Promise<SsdWorkerPool> {
    const n = opts.workers ?? 2;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`workers must be an integer ≥ 1, got ${n}`);
    const url = new URL("./parallel_worker.ts", import.meta.url).href;
    const workers = Array.from({ length: n }, () => new Worker(url, { type: "module" }));
    const pool = new SsdWorkerPool(workers, opts.nClasses);
    const names = [...opts.params.keys()];
    const shapes = names.map((k) => opts.params.get(k)!.shape);
    try {
      await Promise.all(workers.map((_, i) => {
        const datas = names.map((k) => opts.params.get(k)!.data.slice());
        return pool.call(i, {
          type: "init",
          backend: opts.backend ?? "wasm",
          nClasses: opts.nClasses,
          names,
          shapes,
          datas,
        }, datas.map((d) => d.buffer as ArrayBuffer));
      }));
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

  /** Replaces the weights of every replica (e.g. after an optimiser step); `params` may hold a subset. */
  async setWeights(params: Map<string, ParamData | Float32Array>): Promise<void> {
    const names = [...params.keys()];
    await Promise.all(this.workers.map((_, i) => {
      const datas = names.map((k) => {
        const v = params.get(k)!;
        return (v instanceof Float32Array ? v : v.data).slice();
      });
      return this.call(i, { type: "setWeights", names, datas }, datas.map((d) => d.buffer as ArrayBuffer));
    }));
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
        const batch = concatF32(images.slice(s, e), IMAGE_FLOATS, "images");
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
        const batch = concatF32(images.slice(s, e), IMAGE_FLOATS, "images");
        const r = await this.call(w, { type: "forward", images: batch, n: e - s, detect: opts }, [
          batch.buffer as ArrayBuffer,
        ]);
        r.detections!.forEach((d, i) => (out[s + i] = d));
      }),
    );
    return out;
  }

  /**
   * Loss and gradient of the MultiBox loss over a batch: each worker differentiates its shard's loss
   * (normalised by the global `nPosTotal`), the shard gradients are summed here.
   * @param images preprocessed images, each NHWC [300 * 300 * 3]
   * @param targets per image, from matching the whole batch (see {@link PriorTargets})
   */
  async gradients(
    images: readonly Float32Array[],
    targets: readonly PriorTargets[],
    opts: GradientOptions,
  ): Promise<GradientResult> {
    const n = images.length;
    if (targets.length !== n) throw new RangeError(`gradients: ${n} images but ${targets.length} targets`);
    if (!(opts.nPosTotal > 0)) {
      throw new RangeError(`gradients: nPosTotal must be > 0, got ${opts.nPosTotal}`);
    }
    const results = await Promise.all(
      this.shards(n).map(([s, e], w) => {
        const batch = concatF32(images.slice(s, e), IMAGE_FLOATS, "images");
        const tl = concatF32(targets.slice(s, e).map((t) => t.trueLocs), N_PRIORS * 4, "trueLocs");
        const tc = new Int32Array((e - s) * N_PRIORS);
        targets.slice(s, e).forEach((t, i) => {
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
          nPosTotal: opts.nPosTotal,
          microBatch: opts.microBatch ?? (e - s),
          trainable: opts.trainable ? [...opts.trainable] : null,
        }, [batch.buffer, tl.buffer, tc.buffer] as ArrayBuffer[]);
      }),
    );
    // Σ over shards. O(#params) per extra worker, once per step (not per element of an activation).
    const grads = new Map<string, Float32Array>();
    let loss = 0;
    for (const r of results) {
      loss += r.loss;
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
    return { loss, grads };
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
