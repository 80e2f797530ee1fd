/**
 * The practical convolution peak of a thread: a large 3×3 convolution (conv4_3-like: 512 → 512 channels on a
 * 38×38 map, batch 4, bias + ReLU fused) through this thread's Conv2D kernels (oneDNN once enabled), timed after
 * one warm-up. `deno task bench` runs it on every worker at once (or on this thread with oneDNN's threads) and
 * reports our throughput as a share of it. oneDNN's direct kernel, not its Winograd one (which the network's 3×3
 * layers use on AVX-512, lib/engine/onednn_primitives.ts): the peak is the machine's multiply-add rate, so
 * Winograd layers may count above 100% of it (effective GFLOP/s, direct-convolution FLOPs).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { setOneDnnWinograd } from "./onednn.ts";

/** Shape of the peak convolution: x NHWC [4, 38, 38, 512], w HWIO [3, 3, 512, 512], 'same' padding. */
export const PEAK_CONV = { batch: 4, side: 38, cin: 512, cout: 512, k: 3 } as const;

/** Multiply-adds × 2 of one {@link PEAK_CONV}, GFLOP. */
export const PEAK_CONV_GFLOP = (2 * PEAK_CONV.k * PEAK_CONV.k * PEAK_CONV.cin * PEAK_CONV.cout *
  PEAK_CONV.side * PEAK_CONV.side * PEAK_CONV.batch) / 1e9;

/**
 * Runs {@link PEAK_CONV} `reps` times after one warm-up, each read back (`await data()`: on a GPU backend that
 * waits for the kernel).
 * @returns GFLOP done and the wall time of the timed runs, ms
 */
export async function timePeakConv(reps: number): Promise<{ gflop: number; ms: number }> {
  const { batch, side, cin, cout, k } = PEAK_CONV;
  const x = tf.randomNormal([batch, side, side, cin], 0, 1, "float32", 1) as tf.Tensor4D;
  const w = tf.randomNormal([k, k, cin, cout], 0, 0.02, "float32", 2) as tf.Tensor4D;
  const b = tf.zeros([cout]) as tf.Tensor1D;
  const winograd = setOneDnnWinograd(false);
  const once = async () => {
    const y = tf.fused.conv2d({ x, filter: w, bias: b, strides: 1, pad: "same", activation: "relu" });
    await y.data(); // the WASM backend computes synchronously; a GPU one finishes here
    y.dispose();
  };
  try {
    await once();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await once();
    return { gflop: reps * PEAK_CONV_GFLOP, ms: performance.now() - t0 };
  } finally {
    setOneDnnWinograd(winograd);
    tf.dispose([x, w, b]);
  }
}
