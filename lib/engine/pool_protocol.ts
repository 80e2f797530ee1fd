/**
 * The messages between the worker pool (lib/engine/pool.ts, main thread) and its workers
 * (lib/engine/pool_worker.ts): requests, the results per request type, and the reply envelope. Both sides import
 * this file; neither imports the other.
 * @module
 */
import type { Detection, DetectOptions, LossOptions, PriorSetName } from "../ssd/mod.ts";

/** Messages main → worker. */
export type WorkerRequest =
  | {
    type: "init";
    backend: string;
    oneDnn: boolean;
    oneDnnThreads: number;
    nClasses: number;
    priorSet?: PriorSetName;
    names: string[];
    shapes: number[][];
    /** every parameter's values, back to back in `names` order (float32), shared by the pool and its workers */
    weights: SharedArrayBuffer;
  }
  /** the named parameters' new values are in the shared weights buffer */
  | { type: "setWeights"; names: string[] }
  | { type: "forward"; images: Float32Array; n: number; detect?: DetectOptions }
  | {
    type: "gradients";
    images: Float32Array;
    n: number;
    trueLocs: Float32Array;
    trueClasses: Int32Array;
    nPositives: number[];
    nPositivesTotal: number;
    microBatch: number;
    trainable: string[] | null;
    loss: LossOptions;
    /**
     * where to leave the gradients instead of returning them: the pool's gradient buffer, this worker's slot at
     * `slot` floats, each parameter at its offset in the weights buffer (zeros for a trainable one without a
     * gradient); null: returned in the reply
     */
    into: { buffer: SharedArrayBuffer; slot: number } | null;
  }
  /**
   * SGD with momentum (torch.optim.SGD) on this worker's share of the shared weights, from the gradients the
   * workers left in the gradient buffer (summed in worker order) and the momentum buffer (both laid out as the
   * weights); `segments` are [start, end, fresh] triples of float offsets, `fresh` 1 where a parameter has no
   * momentum yet (its buffer becomes the gradient, as torch's first step)
   */
  | {
    type: "sgd";
    grads: SharedArrayBuffer;
    workers: number;
    momentumBuffer: SharedArrayBuffer | null;
    segments: number[];
    lr: number;
    momentum: number;
    weightDecay: number;
  }
  | { type: "peak"; reps: number }
  | { type: "fail"; message: string }
  | { type: "close" };

/** Results worker → main, per request type. */
export interface WorkerResults {
  init: { backend: string; conv: string };
  setWeights: null;
  sgd: null;
  forward: { locs?: Float32Array; scores?: Float32Array; detections?: Detection[][] };
  gradients: { loss: number; conf: number; loc: number; names: string[]; grads: Float32Array[] };
  peak: { gflop: number; ms: number };
  fail: null;
  close: null;
}

/** The envelope of every reply. */
export type WorkerReply =
  | { id: number; ok: true; result: unknown; numTensors: number; ms: number }
  | { id: number; ok: false; error: { name: string; message: string; stack?: string } };
