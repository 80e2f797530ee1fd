/**
 * The per-layer profile of `deno task bench`: one training forward + backward on this thread, timed by
 * convolution layer, with the time outside the convolutions.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { convWithGrad } from "../engine/conv_grad.ts";
import { type ConvFn, ssdForward, type SsdModel, stackImages } from "../ssd/mod.ts";
import { type ImageTargets, multiboxLossPart } from "../ssd/loss.ts";

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
  const x = tf.tensor4d(stackImages(images), [n, 300, 300, 3]);
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
