/**
 * A differentiable 2-D convolution (+ bias, optional ReLU) whose gradients use only fast kernels.
 *
 * TF.js's own conv2d gradient needs `Conv2DBackpropFilter` (not registered for the WASM backend) and
 * `Conv2DBackpropInput` (≈1.6 GFLOP/s on WASM), and refuses dilation > 1. Here:
 * - dW: for each kernel offset (kh, kw) the strided slice of the padded input, as a matrix [N·Ho·Wo, Cin], is
 *   multiplied by dY transposed once per layer ([Cout, N·Ho·Wo]) — a plain `matMul` (no `transposeA`, which is
 *   ≈0.7 GFLOP/s on WASM); the k·k results [Cout, Cin] are stacked and transposed to HWIO.
 * - dX: a forward `conv2d` of dY (zero-inserted for stride > 1) with the spatially flipped, in/out-swapped filter
 *   and the same dilation ("full" correlation).
 * - db: the sum of dY over batch and space. ReLU is folded in: dY is masked where the output is not positive.
 *
 * Gradients are lazy per input: the autodiff tape only asks for the ones it needs (no dX for the image input or
 * for the first trainable layer above frozen ones, no dW for frozen weights).
 * Layout: x NHWC, w HWIO, b [Cout]; padding is symmetric and explicit (PyTorch `padding=`).
 */
import * as tf from "@tensorflow/tfjs-core";
import { registerTrainingGradients } from "./kernel_gradients.ts";
import type { ConvFn, ConvOptions } from "../ssd/model.ts";

registerTrainingGradients();

/** Output size of a convolution along one axis (floor rounding, as PyTorch). */
export function convOutSize(
  inSize: number,
  k: number,
  o: Pick<ConvOptions, "stride" | "pad" | "dilation">,
): number {
  return Math.floor((inSize + 2 * o.pad - o.dilation * (k - 1) - 1) / o.stride) + 1;
}

function validate(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, o: ConvOptions): void {
  if (x.rank !== 4 || w.rank !== 4 || b.rank !== 1) {
    throw new RangeError(`conv: expected x rank 4, w rank 4, b rank 1; got ${x.rank}, ${w.rank}, ${b.rank}`);
  }
  if (x.shape[3] !== w.shape[2] || w.shape[3] !== b.shape[0]) {
    throw new RangeError(`conv: channel mismatch x ${x.shape} w ${w.shape} b ${b.shape}`);
  }
  for (
    const [name, v, min] of [["stride", o.stride, 1], ["dilation", o.dilation, 1], ["pad", o.pad, 0]] as const
  ) {
    if (!Number.isInteger(v) || v < min) {
      throw new RangeError(`conv: ${name} must be an integer ≥ ${min}, got ${v}`);
    }
  }
  if (o.stride > 1 && o.dilation > 1) {
    throw new RangeError("conv: stride > 1 with dilation > 1 is not supported");
  }
  const ho = convOutSize(x.shape[1], w.shape[0], o);
  const wo = convOutSize(x.shape[2], w.shape[1], o);
  if (ho < 1 || wo < 1) throw new RangeError(`conv: empty output for x ${x.shape}, w ${w.shape}`);
}

/** Forward pass only (fused conv + bias + activation kernel); no tape entry of its own when called from a kernel. */
export function convForward(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, o: ConvOptions): tf.Tensor4D {
  const p = o.pad;
  return tf.engine().runKernel("FusedConv2D", { x, filter: w, bias: b }, {
    strides: [o.stride, o.stride],
    pad: [[0, 0], [p, p], [p, p], [0, 0]],
    dataFormat: "NHWC",
    dilations: [o.dilation, o.dilation],
    dimRoundingMode: undefined,
    activation: o.relu ? "relu" : "linear",
    leakyreluAlpha: 0,
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** Crops (negative amounts) the two spatial axes of an NHWC tensor; positive amounts are left to the conv's padding. */
function cropSpatial(t: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const [n, h, w, c] = t.shape;
  const ct = Math.max(0, -top), cb = Math.max(0, -bottom), cl = Math.max(0, -left), cr = Math.max(0, -right);
  if (!(ct || cb || cl || cr)) return t;
  // stridedSlice is a native WASM kernel; tf.slice copies through JavaScript there
  return tf.stridedSlice(t, [0, ct, cl, 0], [n, h - cb, w - cr, c], [1, 1, 1, 1]) as tf.Tensor4D;
}

/**
 * Output positions (Ho·Wo) from which dW switches from the per-offset matMul formulation to one conv2d over
 * (batch ↔ channel)-swapped tensors: the k² window copies of large, thin activations (conv1_x, conv2_x) cost more
 * than the conv2d's lower arithmetic efficiency (measured on WASM: 75×75×256 windows 20 vs conv 12 GFLOP/s;
 * 300×300×64 windows 4.9 vs conv 8.7 GFLOP/s). Not on WebGPU, where the matMuls are the faster (llvmpipe:
 * 300×300×64 6.5 vs 28 s, 150×150×128 2.8 vs 47 s) and TF.js's conv2d with a 300×300 filter gave wrong values.
 */
export const FILTER_GRAD_CONV_MIN_POSITIONS = 100 * 100;

/**
 * dL/dW of a convolution (no bias, no activation) given dL/dY.
 * - Ho·Wo < {@link FILTER_GRAD_CONV_MIN_POSITIONS} (always on WebGPU): for each offset (kh, kw), dYᵀ [Cout, N·Ho·Wo]
 *   (transposed once) times the strided window of the padded input [N·Ho·Wo, Cin] → [Cout, Cin].
 * - otherwise: dW[ci, i, j, co] = Σ x[ci, i·d + h·s, j·d + w·s, n] · dY[h, w, n, co], i.e. conv2d of x as
 *   [Cin, H, W, N] with dY as an HWIO filter [Ho, Wo, N, Cout], stride = forward dilation, dilation = forward stride.
 * @param x input NHWC [N, H, W, Cin]
 * @param dy output gradient NHWC [N, Ho, Wo, Cout]
 * @returns HWIO [kh, kw, Cin, Cout]
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  kh: number,
  kw: number,
  o: Pick<ConvOptions, "stride" | "pad" | "dilation">,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, , , cin] = x.shape;
    const [, ho, wo, cout] = dy.shape;
    const { stride: s, pad: p, dilation: d } = o;
    if (ho * wo >= FILTER_GRAD_CONV_MIN_POSITIONS && (s === 1 || d === 1) && tf.getBackend() !== "webgpu") {
      const xT = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D; // [Cin, H, W, N]
      const dyF = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [Ho, Wo, N, Cout] as HWIO
      // output [Cin, kh', kw', Cout] with kh' ≥ kh: rows past the kernel (stride leftovers) are cropped
      const g = tf.conv2d(xT, dyF, d, [[0, 0], [p, p], [p, p], [0, 0]], "NHWC", s);
      const gk = g.shape[1] === kh && g.shape[2] === kw
        ? g
        : tf.stridedSlice(g, [0, 0, 0, 0], [cin, kh, kw, cout], [1, 1, 1, 1]) as tf.Tensor4D;
      return tf.transpose(gk, [1, 2, 0, 3]) as tf.Tensor4D; // HWIO
    }
    const m = n * ho * wo;
    const xPad = p > 0 ? tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]) : x; // [N, H+2p, W+2p, Cin]
    const dyT = tf.transpose(tf.reshape(dy, [m, cout])); // [Cout, M]
    const parts: tf.Tensor2D[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const r0 = i * d, c0 = j * d;
        // the window of input pixels that offset (i, j) meets: [N, Ho, Wo, Cin] (native strided slice)
        const win = tf.stridedSlice(xPad, [0, r0, c0, 0], [
          n,
          r0 + (ho - 1) * s + 1,
          c0 + (wo - 1) * s + 1,
          cin,
        ], [
          1,
          s,
          s,
          1,
        ]);
        parts.push(tf.matMul(dyT, tf.reshape(win, [m, cin]))); // [Cout, Cin]
        win.dispose();
      }
    }
    const stacked = tf.reshape(tf.stack(parts), [kh, kw, cout, cin]); // [kh, kw, Cout, Cin]
    return tf.transpose(stacked, [0, 1, 3, 2]) as tf.Tensor4D; // HWIO
  });
}

/**
 * The filter of the input gradient: spatially flipped (both axes) and in/out-swapped, HWIO [kh, kw, Cin, Cout] →
 * [kh, kw, Cout, Cin]. The flip reverses the k·k tap rows of the [k·k, Cin·Cout] view, done as a matMul with the
 * exchange (anti-identity) matrix — exact (one 1 per row), and ~50× faster than the WASM Reverse/Gather kernels.
 */
export function flippedSwappedFilter(w: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = w.shape;
    const taps = kh * kw;
    let flipped: tf.Tensor = w;
    if (taps > 1) {
      const exchange = new Float32Array(taps * taps);
      for (let t = 0; t < taps; t++) exchange[t * taps + (taps - 1 - t)] = 1;
      // [taps, taps] · [taps, Cin·Cout]
      flipped = tf.matMul(tf.tensor2d(exchange, [taps, taps]), tf.reshape(w, [taps, cin * cout]));
    }
    const swapped = tf.transpose(tf.reshape(flipped, [taps, cin, cout]), [0, 2, 1]); // [taps, Cout, Cin]
    return tf.reshape(swapped, [kh, kw, cout, cin]) as tf.Tensor4D;
  });
}

/**
 * dL/dX of a convolution (no bias, no activation) given dL/dY, as a forward conv2d of (zero-inserted) dY with the
 * flipped, in/out-swapped filter; the "full" padding goes into the conv's explicit (possibly asymmetric) padding.
 * @param dy NHWC [N, Ho, Wo, Cout]
 * @param w HWIO [kh, kw, Cin, Cout]
 * @param inShape the input's shape [N, H, W, Cin]
 */
export function conv2dInputGrad(
  dy: tf.Tensor4D,
  w: tf.Tensor4D,
  inShape: readonly [number, number, number, number],
  o: Pick<ConvOptions, "stride" | "pad" | "dilation">,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = w.shape;
    const [n, h, wd] = inShape;
    const [, ho, wo, cout] = dy.shape;
    const { stride: s, pad: p, dilation: d } = o;
    const wFlip = flippedSwappedFilter(w); // [kh, kw, Cout, Cin]
    let dyz: tf.Tensor4D = dy;
    let hz = ho, wz = wo; // rows/cols of dY after zero insertion (trailing zeros included)
    if (s > 1) {
      // zeros after every row, then after every column, with rank-4 pads (TF.js's WebGPU PadV2 fails above rank 4)
      const rows = tf.pad(tf.reshape(dy, [n, ho, 1, wo * cout]), [[0, 0], [0, 0], [0, s - 1], [0, 0]]); // [N, Ho, s, Wo·C]
      const cols = tf.pad(tf.reshape(rows, [n * ho * s, wo, 1, cout]), [[0, 0], [0, 0], [0, s - 1], [0, 0]]);
      dyz = tf.reshape(cols, [n, ho * s, wo * s, cout]); // [N, Ho·s, Wo·s, C]: (Ho-1)·s+1 rows then s-1 zero rows
      hz = ho * s;
      wz = wo * s;
    }
    // Full correlation: top/left padding d(k-1)-p; bottom/right chosen so the output has exactly H×W.
    const top = d * (kh - 1) - p, left = d * (kw - 1) - p;
    const bottom = h - hz + d * (kh - 1) - top, right = wd - wz + d * (kw - 1) - left;
    const dyc = cropSpatial(dyz, top, bottom, left, right);
    const [t, b, l, r] = [top, bottom, left, right].map((v) => Math.max(0, v));
    return tf.conv2d(dyc, wFlip, 1, [[0, 0], [t, b], [l, r], [0, 0]], "NHWC", d);
  });
}

/** Gradient closures per input name, as tf.js's engine expects from a backwards function. */
export type GradMap = Record<string, () => tf.Tensor>;
/** The part of tf.js's engine used to record a kernel with a custom backwards function. */
export interface KernelFuncEngine {
  runKernelFunc(params: {
    forwardFunc: (backend: unknown, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => GradMap;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor | tf.Tensor[];
}

/**
 * The forward half of a differentiable conv node (both `convWithGrad` and oneDNN's `oneDnnConvWithGrad`): the
 * fused conv, saving x, w and (with ReLU, for its mask) y for the backward closures.
 */
export function convForwardSaving(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  b: tf.Tensor1D,
  o: ConvOptions,
): (backend: unknown, save: (tensors: tf.Tensor[]) => void) => tf.Tensor4D {
  return (_backend, save) => {
    const y = convForward(x, w, b, o);
    save(o.relu ? [x, w, y] : [x, w]);
    return y;
  };
}

/**
 * Differentiable convolution + bias (+ ReLU): forward through the fused conv kernel, gradients through
 * `matMul`/`conv2d` only (see the module comment). Drop-in `ConvFn` for `ssdForward(model, x, { conv })`.
 */
export const convWithGrad: ConvFn = (x, w, b, o) => {
  validate(x, w, b, o);
  const opts = { stride: o.stride, pad: o.pad, dilation: o.dilation, relu: o.relu };
  const xShape = x.shape;
  const [kh, kw] = w.shape;
  // `runKernelFunc` is how tf.customGrad records a node; called directly, its gradient map stays lazy per input.
  const engine = tf.engine() as unknown as KernelFuncEngine;
  const out = engine.runKernelFunc({
    inputs: { x, w, b },
    forwardFunc: convForwardSaving(x, w, b, opts),
    backwardsFunc: (dy, saved) => {
      const [xs, ws, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D | undefined];
      // dY masked by the ReLU (output > 0). Recomputed in each closure (a cheap elementwise pass) rather than
      // cached, because a closure cannot know which of the others the tape will call.
      const dyMasked = (): tf.Tensor4D => (ys ? tf.mul(dy, tf.step(ys)) : dy) as tf.Tensor4D;
      return {
        x: () => conv2dInputGrad(dyMasked(), ws, xShape, opts),
        w: () => conv2dFilterGrad(xs, dyMasked(), kh, kw, opts),
        b: () => tf.sum(dyMasked(), [0, 1, 2]),
      };
    },
  });
  return out as tf.Tensor4D;
};
