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
    nPositives: number[];
    nPositivesTotal: number;
    microBatch: number;
    trainable: string[] | null;
    loss: LossOptions;
  }
  | { type: "peak"; reps: number }
  | { type: "fail"; message: string }
  | { type: "close" };

/** Results worker → main, per request type. */
export interface WorkerResults {
  init: { backend: string; conv: string };
  setWeights: null;
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
