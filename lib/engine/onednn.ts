/**
 * Optional native kernels for the WASM backend, computed by oneDNN (libdnnl.so.2, v2.x C API; primitives in
 * onednn_primitives.ts) through Deno FFI directly on the tensors' memory in the WASM heap: the `FusedConv2D` and
 * `Conv2D` kernels, the convolution gradients of {@link oneDnnConvWithGrad} (backward data, backward weights with
 * the bias gradient, the ReLU mask); with them, `MaxPoolGrad` from the pooling's saved output (max_pool_grad.ts,
 * no oneDNN) and a WASM `Identity` kernel that shares its input's data instead of copying it (TF.js runs it for
 * every tensor saved for a gradient).
 *
 * Why: tf.js's WASM conv (XNNPACK, 128-bit SIMD, no FMA) reaches ≈17 GFLOP/s per core; oneDNN uses the CPU's
 * AVX2/AVX-512 FMA units, as PyTorch does (it is PyTorch's CPU conv library; Debian's libdnnl2).
 * Opt-in ({@link enableOneDnn}); when the library is missing the WASM kernels stay. Results equal the WASM
 * kernels' up to float summation order (≈1e-6 relative); MaxPoolGrad routes each window's gradient to its
 * first maximum, as PyTorch and (for the non-negative, post-ReLU maps SSD pools) the WASM kernel do.
 *
 * Layout: activations NHWC (as TF.js holds them), weights HWIO, reordered once per weights tensor into the
 * blocked layout oneDNN picks; bias and ReLU are fused (post-op). Primitives are cached per shape. Call in every
 * thread (worker) that should use it, after `initBackend("wasm")`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { convForwardSaving, convWithGrad, type KernelFuncEngine } from "./conv_grad.ts";
import {
  type ConvGeometry,
  DNNL_SYMBOLS,
  OneDnnPrimitives,
  type WindowGeometry,
} from "./onednn_primitives.ts";
import type { ConvFn } from "../ssd/model.ts";
import { maxPoolBackward } from "./max_pool_grad.ts";

/** Where to look for oneDNN, in order (override with env SSD_DNNL_LIB). */
export const DNNL_LIBRARY_CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/libdnnl.so.2",
  "/usr/lib/aarch64-linux-gnu/libdnnl.so.2",
  "libdnnl.so.2",
];

export { OneDnnError } from "./onednn_primitives.ts";

interface WasmTensorData {
  memoryOffset: number;
  shape: number[];
}
interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: unknown): WasmTensorData; has(dataId: unknown): boolean };
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
}

let active: { lib: string; conv: OneDnnPrimitives } | undefined;
/**
 * Set while {@link oneDnnConvWithGrad} runs its forward: weights that change every step, whose Winograd forward
 * transforms them per call ("forwardTraining" in onednn_primitives.ts) rather than once per version
 */
let inTrainingForward = false;
let calls = 0;

/** Convolutions computed by oneDNN in this thread so far (fallbacks to the WASM kernels not counted). */
export function oneDnnCalls(): number {
  return calls;
}

/** The oneDNN library in use in this thread, if {@link enableOneDnn} succeeded. */
export function oneDnnLibrary(): string | undefined {
  return active?.lib;
}

/**
 * Replaces the WASM backend's `FusedConv2D` (linear/ReLU activation) and `Conv2D` kernels by oneDNN ones in this
 * thread. Other activations fall back to the original kernels.
 * @param threads OpenMP threads per oneDNN call (set before the library loads; 1 for data-parallel workers)
 * @returns the library path, or the reason it is unavailable (nothing is changed then)
 */
export function enableOneDnn(threads = 1): { ok: true; lib: string } | { ok: false; reason: string } {
  if (active) return { ok: true, lib: active.lib };
  if (tf.getBackend() !== "wasm") return { ok: false, reason: `backend is ${tf.getBackend()}, not wasm` };
  const env = Deno.env.get("SSD_DNNL_LIB");
  const candidates = env ? [env] : DNNL_LIBRARY_CANDIDATES;
  const errors: string[] = [];
  if (!Deno.env.get("OMP_NUM_THREADS")) Deno.env.set("OMP_NUM_THREADS", String(threads));
  for (const lib of candidates) {
    try {
      const dl = Deno.dlopen(lib, DNNL_SYMBOLS);
      // a reordered weights copy is reused once its tensor is gone from the backend (disposed)
      const isLive = (dataId: unknown) => (tf.backend() as unknown as WasmBackendLike).dataIdMap.has(dataId);
      active = { lib, conv: new OneDnnPrimitives(dl.symbols, isLive) };
      break;
    } catch (e) {
      errors.push(`${lib}: ${(e as Error).message}`);
    }
  }
  if (!active) return { ok: false, reason: errors.join("; ") };
  const conv = active.conv;
  const fused = tf.getKernel("FusedConv2D", "wasm")!;
  const plain = tf.getKernel("Conv2D", "wasm")!;

  const kernel = (fallback: tf.KernelConfig, isFused: boolean): tf.KernelFunc => (args) => {
    const { inputs, attrs } = args;
    const backend = args.backend as unknown as WasmBackendLike;
    const x = inputs.x as tf.TensorInfo, filter = inputs.filter as tf.TensorInfo;
    const bias = isFused ? (inputs.bias as tf.TensorInfo | undefined) : undefined;
    const a = attrs as unknown as {
      strides: number | [number, number];
      pad: tf.backend_util.ExplicitPadding | "same" | "valid" | number;
      dilations: number | [number, number];
      dataFormat: string;
      dimRoundingMode?: "floor" | "round" | "ceil";
      activation?: string;
    };
    const activation = isFused ? a.activation ?? "linear" : "linear";
    if (
      (activation !== "linear" && activation !== "relu") || (isFused && inputs.preluActivationWeights) ||
      (a.dataFormat !== undefined && a.dataFormat !== "NHWC" && a.dataFormat !== "channelsLast") ||
      x.dtype !== "float32"
    ) {
      return fallback.kernelFunc(args);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      a.strides,
      a.dilations,
      a.pad as "same",
      a.dimRoundingMode,
    );
    const out = backend.makeOutput(info.outShape, "float32");
    const heap = backend.wasm.HEAPU8.buffer;
    const at = (t: tf.TensorInfo) => {
      const d = backend.dataIdMap.get(t.dataId);
      return Deno.UnsafePointer.of(new Uint8Array(heap, d.memoryOffset, 1));
    };
    const g: ConvGeometry = {
      cin: info.inChannels,
      cout: info.outChannels,
      ...windowOf(info),
      dilH: info.dilationHeight,
      dilW: info.dilationWidth,
      bias: bias != null,
      relu: activation === "relu",
    };
    if (info.outHeight * info.outWidth * info.batchSize > 0) {
      calls++;
      const buffers = bias ? [at(x), at(filter), at(bias), at(out)] : [at(x), at(filter), at(out)];
      conv.conv(g, inTrainingForward ? "forwardTraining" : "forward", buffers, filter.dataId);
    }
    return out;
  };
  for (const [cfg, isFused] of [[fused, true], [plain, false]] as const) {
    tf.unregisterKernel(cfg.kernelName, "wasm");
    tf.registerKernel({ ...cfg, kernelFunc: kernel(cfg, isFused) });
  }
  registerGradientKernels(conv);
  shareIdentity();
  return { ok: true, lib: active.lib };
}

/**
 * The WASM backend's Identity kernel copies its input; TF.js's engine runs it for every tensor a differentiable
 * op saves for its gradient (conv: x, w, y — ≈ 46 MB per image for conv1_2 alone). Tensors are immutable, so the
 * clone can share the data (reference-counted, as the WASM Reshape kernel and the CPU backend's Identity do).
 */
function shareIdentity(): void {
  const original = tf.getKernel("Identity", "wasm");
  if (!original) return;
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === "string") return original.kernelFunc(args);
      (args.backend as unknown as { incRef(dataId: unknown): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  });
}

/** Name of the kernel computing dL/dW (HWIO) of a convolution from x (NHWC) and dL/dY (NHWC) with oneDNN. */
export const FILTER_GRAD_KERNEL = "SsdOneDnnConv2DFilterGrad";
/** Name of the kernel computing dL/dX (NHWC) of a convolution from dL/dY (NHWC) and w (HWIO) with oneDNN. */
export const INPUT_GRAD_KERNEL = "SsdOneDnnConv2DInputGrad";
/** Name of the kernel masking dL/dY by a ReLU's output (dy where y > 0, else 0) with oneDNN. */
export const RELU_GRAD_KERNEL = "SsdOneDnnReluGrad";

/** Attributes of the gradient kernels: the forward convolution's (symmetric padding, square kernel steps). */
interface ConvGradAttrs {
  kh: number;
  kw: number;
  stride: number;
  pad: number;
  dilation: number;
}

/** The forward geometry of a convolution from its input [n, h, w, cin] and output [., outH, outW, cout] shapes. */
function gradGeometry(xShape: number[], dyShape: number[], a: ConvGradAttrs): ConvGeometry {
  const [n, h, w, cin] = xShape, [, outH, outW, cout] = dyShape;
  return {
    n,
    h,
    w,
    cin,
    cout,
    kh: a.kh,
    kw: a.kw,
    strideH: a.stride,
    strideW: a.stride,
    dilH: a.dilation,
    dilW: a.dilation,
    padTop: a.pad,
    // padding bottom/right as the forward's: what the output size implies beyond the symmetric `pad`
    padBottom: (outH - 1) * a.stride + a.dilation * (a.kh - 1) + 1 - h - a.pad,
    padLeft: a.pad,
    padRight: (outW - 1) * a.stride + a.dilation * (a.kw - 1) + 1 - w - a.pad,
    outH,
    outW,
    bias: false,
    relu: false,
  };
}

/** The window of TF.js's conv/pool info as oneDNN's geometry wants it. */
function windowOf(info: tf.backend_util.Conv2DInfo): WindowGeometry {
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    kh: info.filterHeight,
    kw: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    padTop: info.padInfo.top,
    padBottom: info.padInfo.bottom,
    padLeft: info.padInfo.left,
    padRight: info.padInfo.right,
    outH: info.outHeight,
    outW: info.outWidth,
  };
}

/**
 * A float32 tensor's values in place in the WASM heap (no copy; valid until the next allocation there, which may
 * grow and move the heap: read or write it at once).
 */
export function heapFloats(
  t: tf.TensorInfo,
  backend = tf.backend() as unknown as WasmBackendLike,
): Float32Array {
  const size = t.shape.reduce((p, d) => p * d, 1);
  return new Float32Array(backend.wasm.HEAPU8.buffer, backend.dataIdMap.get(t.dataId).memoryOffset, size);
}

/** Registers a WASM kernel computed on the tensors' heap memory (`at` gives a tensor's pointer). */
function registerWasmKernel(
  kernelName: string,
  fn: (
    inputs: tf.NamedTensorInfoMap,
    attrs: tf.NamedAttrMap,
    backend: WasmBackendLike,
    at: (t: tf.TensorInfo) => Deno.PointerValue,
  ) => tf.TensorInfo | tf.TensorInfo[],
): void {
  if (tf.getKernel(kernelName, "wasm")) tf.unregisterKernel(kernelName, "wasm");
  tf.registerKernel({
    kernelName,
    backendName: "wasm",
    kernelFunc: (args) => {
      const backend = args.backend as unknown as WasmBackendLike;
      const at = (t: tf.TensorInfo) =>
        Deno.UnsafePointer.of(
          new Uint8Array(backend.wasm.HEAPU8.buffer, backend.dataIdMap.get(t.dataId).memoryOffset, 1),
        );
      return fn(args.inputs, args.attrs ?? {}, backend, at);
    },
  });
}

function registerGradientKernels(conv: OneDnnPrimitives): void {
  registerWasmKernel(FILTER_GRAD_KERNEL, (inputs, attrs, backend, at) => {
    const x = inputs.x as tf.TensorInfo, dy = inputs.dy as tf.TensorInfo;
    const a = attrs as unknown as ConvGradAttrs & { bias?: boolean };
    const out = backend.makeOutput([a.kh, a.kw, x.shape[3], dy.shape[3]], "float32");
    calls++;
    const g = { ...gradGeometry(x.shape, dy.shape, a), bias: a.bias === true };
    const db = g.bias ? backend.makeOutput([dy.shape[3]], "float32") : undefined;
    const buffers = db ? [at(x), at(dy), at(out), at(db)] : [at(x), at(dy), at(out)];
    if (!conv.backwardWeightsByGemm(g, buffers)) conv.conv(g, "backwardWeights", buffers);
    return db ? [out, db] : out;
  });
  registerWasmKernel(INPUT_GRAD_KERNEL, (inputs, attrs, backend, at) => {
    const dy = inputs.dy as tf.TensorInfo, w = inputs.w as tf.TensorInfo;
    const a = attrs as unknown as ConvGradAttrs & { inShape: number[] };
    const out = backend.makeOutput(a.inShape, "float32");
    calls++;
    conv.conv(gradGeometry(a.inShape, dy.shape, a), "backwardData", [at(dy), at(w), at(out)], w.dataId);
    return out;
  });
  // MaxPool's gradient (lib/engine/kernel_gradients.ts runs MaxPoolGrad) from its saved output (max_pool_grad.ts)
  registerWasmKernel("MaxPoolGrad", (inputs, attrs, backend) => {
    const dy = inputs.dy as tf.TensorInfo, x = inputs.input as tf.TensorInfo;
    const a = attrs as unknown as {
      filterSize: [number, number] | number;
      strides: [number, number] | number;
      pad: "valid" | "same" | number;
      dimRoundingMode?: "floor" | "round" | "ceil";
    };
    const info = tf.backend_util.computePool2DInfo(
      x.shape as [number, number, number, number],
      a.filterSize,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
    );
    const out = backend.makeOutput(x.shape, "float32");
    if (x.shape.every((d) => d > 0)) {
      const view = (t: tf.TensorInfo) => heapFloats(t, backend);
      const y = inputs.output as tf.TensorInfo;
      maxPoolBackward({ ...windowOf(info), c: info.inChannels }, view(x), view(y), view(dy), view(out));
    }
    return out;
  });
  registerWasmKernel(RELU_GRAD_KERNEL, (inputs, _attrs, backend, at) => {
    const y = inputs.y as tf.TensorInfo, dy = inputs.dy as tf.TensorInfo;
    const out = backend.makeOutput(dy.shape, "float32");
    const size = dy.shape.reduce((p, d) => p * d, 1);
    if (size > 0) conv.reluBackward(size, [at(y), at(dy), at(out)]);
    return out;
  });
}

/**
 * Turns this thread's Winograd convolutions on or off (on by default; lib/engine/onednn_primitives.ts says where
 * they apply); returns the previous setting. Off, every convolution runs oneDNN's direct kernels.
 */
export function setOneDnnWinograd(on: boolean): boolean {
  if (!active) return false;
  const was = active.conv.winograd;
  active.conv.winograd = on;
  return was;
}

/** Reordered weights copies oneDNN holds in this thread (one per live weights tensor and layout). */
export function oneDnnWeightCopies(): number {
  return active?.conv.weightCopies() ?? 0;
}

/** oneDNN's implementation of each primitive built in this thread so far (e.g. `brg:avx512_core`), by shape key. */
export function oneDnnImplementations(): Map<string, string> {
  return active?.conv.implementations() ?? new Map();
}

/** The bias gradient computed with the weights' one, until the same node's b closure takes it. */
let pendingBiasGrad: tf.Tensor | undefined;
/** The ReLU-masked dY of the node whose closures run now (computed once for its x, w and b closures). */
let pendingMask: { dy: tf.Tensor; masked: tf.Tensor } | undefined;

/** Frees what a node's closures left for closures the tape did not call (see {@link oneDnnConvWithGrad}). */
function releasePending(): void {
  pendingBiasGrad?.dispose();
  pendingBiasGrad = undefined;
  pendingMask?.masked.dispose();
  pendingMask = undefined;
}

/**
 * `convWithGrad` (lib/engine/conv_grad.ts) with its gradients computed by oneDNN primitives: dW by the backward-weights
 * convolution, dX by the backward-data convolution, the ReLU mask by the eltwise ReLU backward; the forward goes
 * through the (native, once enabled) FusedConv2D kernel as there. Same semantics (ReLU folded into dY, lazy
 * per-input gradients). Falls back to `convWithGrad` when {@link enableOneDnn} has not succeeded in this
 * thread.
 */
export const oneDnnConvWithGrad: ConvFn = (x, w, b, o) => {
  if (!active) return convWithGrad(x, w, b, o);
  const opts = { stride: o.stride, pad: o.pad, dilation: o.dilation, relu: o.relu };
  const xShape = x.shape;
  const [kh, kw] = w.shape;
  const engine = tf.engine() as unknown as KernelFuncEngine;
  return engine.runKernelFunc({
    inputs: { x, w, b },
    forwardFunc: (backend, save) => {
      inTrainingForward = true;
      try {
        return convForwardSaving(x, w, b, opts)(backend, save);
      } finally {
        inTrainingForward = false;
      }
    },
    backwardsFunc: (dy, saved) => {
      const [xs, ws, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D | undefined];
      // what the previous node's closures left (a db or mask its b closure did not take): freed here
      releasePending();
      // The masked dY is computed by the first closure the tape calls and kept for the others: the tape runs a
      // node's closures one after another (inputs in order x, w, b) before the next node's, and calls only those
      // of inputs that lead to a differentiated parameter, so x alone (never in SSD: frozen layers come first)
      // leaves it to the next node's call above. The b closure, called last, frees it.
      const dyMasked = (): tf.Tensor4D => {
        if (!ys) return dy as tf.Tensor4D;
        if (pendingMask?.dy !== dy) {
          releasePending();
          const masked = tf.engine().runKernel(RELU_GRAD_KERNEL, { y: ys, dy }) as tf.Tensor;
          pendingMask = { dy, masked: tf.keep(masked) };
        }
        return pendingMask.masked as tf.Tensor4D;
      };
      const attrs: ConvGradAttrs = { kh, kw, stride: o.stride, pad: o.pad, dilation: o.dilation };
      const grad = (name: string, inputs: tf.NamedTensorMap, extra = {}) => () =>
        tf.tidy(() =>
          tf.engine().runKernel(
            name,
            inputs,
            { ...attrs, ...extra } as unknown as tf.NamedAttrMap,
          ) as tf.Tensor
        );
      return {
        x: () => grad(INPUT_GRAD_KERNEL, { dy: dyMasked(), w: ws }, { inShape: [...xShape] })(),
        // dW and db from one backward-weights call; db waits (kept) for the b closure, which the tape calls
        // right after w's (it runs a node's closures in input order x, w, b before the next node's)
        w: () => {
          const [dw, db] = tf.engine().runKernel(
            FILTER_GRAD_KERNEL,
            { x: xs, dy: dyMasked() },
            { ...attrs, bias: true } as unknown as tf.NamedAttrMap,
          ) as unknown as tf.Tensor[];
          pendingBiasGrad = tf.keep(db);
          return dw;
        },
        b: () => {
          const db = pendingBiasGrad;
          if (!db) {
            const sum = tf.sum(dyMasked(), [0, 1, 2]);
            releasePending();
            return sum;
          }
          pendingBiasGrad = undefined;
          const out = tf.clone(db); // an ordinary (not kept) tensor, which the caller's scopes manage
          db.dispose();
          releasePending();
          return out;
        },
      };
    },
  }) as tf.Tensor4D;
};
