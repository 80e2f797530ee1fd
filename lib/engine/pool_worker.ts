/**
 * Worker entry of {@link SsdWorkerPool} (lib/engine/pool.ts): one single-threaded tf.js backend and one SSD300
 * replica per worker. Handles one message at a time, in order; replies `{ id, ok, result | error, numTensors }`.
 * Not meant to be imported: it installs `self.onmessage`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type BackendChoice, initBackend } from "./backend.ts";
import { convWithGrad } from "./conv_grad.ts";
import {
  type ConvFn,
  detectObjectsBatch,
  type ImageTargets,
  N_PRIORS,
  priorsCxcyFor,
  SSD_INPUT_FLOATS,
  ssdForward,
  type SsdModel,
} from "../ssd/mod.ts";
import { enableOneDnn, oneDnnConvWithGrad } from "./onednn.ts";
import { timePeakConv } from "./peak.ts";
import type { WorkerReply, WorkerRequest } from "./pool_protocol.ts";
import { accumulateGradients } from "./batch_gradients.ts";

let model: SsdModel | undefined;
/** the pool's shared weights buffer and where each parameter starts in it (floats) */
let shared: { weights: Float32Array; offsets: Map<string, number> } | undefined;
/** convolution of the training graph: lib/engine/conv_grad.ts's, or its oneDNN variant when enabled */
let trainConv: ConvFn = convWithGrad;

function requireModel(): SsdModel {
  if (!model) throw new Error("worker has no model (init was not called)");
  return model;
}

/** A parameter's values from the shared weights buffer, as a tensor of its own (a copy). */
function sharedTensor(name: string, shape: number[]): tf.Tensor {
  const at = shared?.offsets.get(name);
  if (shared === undefined || at === undefined) {
    throw new RangeError(`setWeights: unknown parameter '${name}'`);
  }
  const view = shared.weights.subarray(at, at + shape.reduce((p, d) => p * d, 1));
  // the WASM backend copies into its heap; others may keep the array itself, which the pool overwrites later
  return tf.tensor(tf.getBackend() === "wasm" ? view : view.slice(), shape);
}

function setParams(names: string[]): void {
  const m = requireModel();
  for (const name of names) {
    const v = m.params.get(name);
    if (!v) throw new RangeError(`setWeights: unknown parameter '${name}'`);
    tf.tidy(() => v.assign(sharedTensor(name, v.shape)));
  }
}

function imagesTensor(images: Float32Array, n: number): tf.Tensor4D {
  if (images.length !== n * SSD_INPUT_FLOATS) {
    throw new RangeError(`images has ${images.length} values, expected ${n} × ${SSD_INPUT_FLOATS}`);
  }
  return tf.tensor4d(images, [n, 300, 300, 3]);
}

type Handler = (req: WorkerRequest) => Promise<{ result: unknown; transfer?: Transferable[] }>;

const handle: Handler = async (req) => {
  switch (req.type) {
    case "init": {
      const backend = await initBackend(req.backend as BackendChoice, null);
      const params = new Map<string, tf.Variable>();
      const offsets = new Map<string, number>();
      let at = 0;
      req.names.forEach((name, i) => {
        offsets.set(name, at);
        at += req.shapes[i].reduce((p, d) => p * d, 1);
      });
      shared = { weights: new Float32Array(req.weights), offsets };
      req.names.forEach((name, i) => {
        const t = sharedTensor(name, req.shapes[i]);
        params.set(name, tf.variable(t, true));
        t.dispose();
      });
      model = { nClasses: req.nClasses, params, priorSet: req.priorSet };
      let conv = "wasm";
      if (req.oneDnn) {
        const r = enableOneDnn(req.oneDnnThreads);
        conv = r.ok ? `onednn (${r.lib})` : `wasm (oneDNN unavailable: ${r.reason})`;
        if (r.ok) trainConv = oneDnnConvWithGrad;
      }
      return { result: { backend, conv } };
    }
    case "setWeights":
      setParams(req.names);
      return { result: null };
    case "forward": {
      const m = requireModel();
      const x = imagesTensor(req.images, req.n);
      const { locs, scores } = ssdForward(m, x);
      x.dispose();
      const l = (await locs.data()) as Float32Array;
      const s = (await scores.data()) as Float32Array;
      locs.dispose();
      scores.dispose();
      if (!req.detect) {
        return { result: { locs: l, scores: s }, transfer: [l.buffer, s.buffer] as ArrayBuffer[] };
      }
      const detections = detectObjectsBatch(l, s, m.nClasses, req.detect, priorsCxcyFor(m.priorSet));
      return { result: { detections } };
    }
    case "gradients": {
      const m = requireModel();
      const targets: ImageTargets[] = req.nPositives.map((nPositives, i) => ({
        trueLocs: req.trueLocs.subarray(i * N_PRIORS * 4, (i + 1) * N_PRIORS * 4),
        trueClasses: req.trueClasses.subarray(i * N_PRIORS, (i + 1) * N_PRIORS),
        nPositives,
      }));
      const imagesOf = (s: number, e: number) =>
        imagesTensor(req.images.subarray(s * SSD_INPUT_FLOATS, e * SSD_INPUT_FLOATS), e - s);
      const { loss, conf, loc, grads } = accumulateGradients(
        m,
        req.n,
        imagesOf,
        targets,
        req.nPositivesTotal,
        {
          ...req.loss,
          microBatch: req.microBatch,
          trainable: req.trainable ?? undefined,
          conv: trainConv,
        },
      );
      try {
        const outNames: string[] = [], out: Float32Array[] = [];
        for (const [name, t] of grads) {
          outNames.push(name);
          out.push((await t.data()) as Float32Array);
        }
        return {
          result: { loss, conf, loc, names: outNames, grads: out },
          transfer: out.map((d) => d.buffer as ArrayBuffer),
        };
      } finally {
        for (const t of grads.values()) t.dispose();
      }
    }
    case "peak":
      return { result: await timePeakConv(req.reps) };
    case "fail":
      throw new Error(req.message);
    case "close":
      if (model) { for (const v of model.params.values()) v.dispose(); }
      model = undefined;
      return { result: null };
  }
};

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerRequest & { id: number }>) => void) | null;
  postMessage(msg: WorkerReply, transfer?: Transferable[]): void;
};

// Messages are handled strictly in order (an async handler must not interleave with the next message).
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e) => {
  const { id, ...req } = e.data;
  queue = queue.then(async () => {
    try {
      const t0 = performance.now();
      const { result, transfer } = await handle(req as WorkerRequest);
      const ms = performance.now() - t0;
      scope.postMessage({ id, ok: true, result, numTensors: tf.memory().numTensors, ms }, transfer ?? []);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      scope.postMessage({ id, ok: false, error: { name: e.name, message: e.message, stack: e.stack } });
    }
  });
};
