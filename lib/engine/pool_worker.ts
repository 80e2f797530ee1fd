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
import { enableOneDnn, heapFloats, oneDnnConvWithGrad } from "./onednn.ts";
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

/**
 * Writes this worker's gradients into its slot of the pool's gradient buffer, each at its parameter's offset in
 * the weights buffer; a trainable parameter without a gradient (no path to the loss) gets zeros.
 */
function leaveGradients(
  grads: Map<string, tf.Tensor>,
  trainable: readonly string[],
  into: { buffer: SharedArrayBuffer; slot: number },
): void {
  const all = new Float32Array(into.buffer);
  for (const name of trainable) {
    const at = shared?.offsets.get(name);
    const v = model?.params.get(name);
    if (at === undefined || !v) throw new RangeError(`gradients: unknown parameter '${name}'`);
    const dst = all.subarray(into.slot + at, into.slot + at + v.size);
    const g = grads.get(name);
    // on WASM straight from the heap (one copy); elsewhere through a read-back
    if (g) dst.set(tf.getBackend() === "wasm" ? heapFloats(g) : g.dataSync() as Float32Array);
    else dst.fill(0);
  }
}

/**
 * One SGD update of the segments [start, end) of the shared weights, as torch.optim.SGD (and lib/train/optim.ts)
 * computes it in float32: g = Σ_workers grad (+ wd·p); buf = g on a fresh segment, else momentum·buf + g;
 * p −= lr·buf (p −= lr·g without momentum). Two workers with momentum, the usual case, have loops of their own
 * (the general one is ≈ 1.8× slower).
 */
function sgdSegments(weights: Float32Array, req: Extract<WorkerRequest, { type: "sgd" }>): void {
  const grads = new Float32Array(req.grads);
  const total = weights.length;
  const buf = req.momentumBuffer ? new Float32Array(req.momentumBuffer) : null;
  const f = Math.fround;
  const lr = f(req.lr), mu = f(req.momentum), wd = f(req.weightDecay);
  const seg = req.segments;
  for (let s = 0; s < seg.length; s += 3) {
    const start = seg[s], end = seg[s + 1], fresh = seg[s + 2] === 1;
    if (buf && !fresh && req.workers === 2) {
      if (wd > 0) momentumStep2(weights, grads, buf, start, end, total, lr, mu, wd);
      else momentumStep2(weights, grads, buf, start, end, total, lr, mu);
      continue;
    }
    for (let i = start; i < end; i++) {
      let g = grads[i];
      for (let k = 1; k < req.workers; k++) g = f(g + grads[k * total + i]);
      const p = weights[i];
      if (wd > 0) g = f(g + f(p * wd));
      if (buf) {
        g = fresh ? g : f(f(buf[i] * mu) + g);
        buf[i] = g;
      }
      weights[i] = f(p - f(g * lr));
    }
  }
}

/** {@link sgdSegments}' loop for two gradient slots and a momentum buffer (`wd` absent: no weight decay). */
function momentumStep2(
  w: Float32Array,
  g: Float32Array,
  buf: Float32Array,
  start: number,
  end: number,
  total: number,
  lr: number,
  mu: number,
  wd?: number,
): void {
  const f = Math.fround;
  if (wd === undefined) {
    for (let i = start; i < end; i++) {
      const m = f(f(buf[i] * mu) + f(g[i] + g[total + i]));
      buf[i] = m;
      w[i] = f(w[i] - f(m * lr));
    }
    return;
  }
  for (let i = start; i < end; i++) {
    const p = w[i];
    const m = f(f(buf[i] * mu) + f(f(g[i] + g[total + i]) + f(p * wd)));
    buf[i] = m;
    w[i] = f(p - f(m * lr));
  }
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
    case "sgd":
      if (!shared) throw new Error("worker has no weights (init was not called)");
      sgdSegments(shared.weights, req);
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
        if (req.into) {
          leaveGradients(grads, req.trainable ?? [...m.params.keys()], req.into);
          return { result: { loss, conf, loc, names: [...grads.keys()], grads: [] } };
        }
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
