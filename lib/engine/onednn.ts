/**
 * Optional native convolutions for the WASM backend: the `FusedConv2D` and `Conv2D` kernels computed by oneDNN
 * (libdnnl.so.2, v2.x C API) through Deno FFI, directly on the tensors' memory in the WASM heap (no copies).
 *
 * Why: tf.js's WASM conv (XNNPACK, 128-bit SIMD, no FMA) reaches ≈17 GFLOP/s per core; oneDNN uses the CPU's
 * AVX2/AVX-512 FMA units, as PyTorch does (it is PyTorch's CPU conv library; Debian's python3-torch installs it).
 * Opt-in ({@link enableNativeConv}); when the library is missing the WASM kernels stay. Results equal the WASM
 * kernels' up to float summation order (≈1e-6 relative), so the default path and its golden tolerances are
 * untouched unless a caller enables this.
 *
 * Layout: activations NHWC and weights HWIO are described to oneDNN by strides (logical NCHW / OIHW dims), so no
 * reorders; bias and ReLU are fused (post-op). Primitives are cached per shape. Call in every thread (worker) that
 * should use it, after `initBackend("wasm")`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { conv2dInputGrad, convForward, convWithGrad, type KernelFuncEngine } from "./conv_grad.ts";
import type { ConvFn } from "../ssd/model.ts";

/** Where to look for oneDNN, in order (override with env SSD_DNNL_LIB). */
export const DNNL_LIBRARY_CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/libdnnl.so.2",
  "/usr/lib/aarch64-linux-gnu/libdnnl.so.2",
  "libdnnl.so.2",
];

// oneDNN v2 C API constants (dnnl_types.h)
const DNNL_F32 = 3;
const DNNL_FORWARD_TRAINING = 64;
const DNNL_FORWARD_INFERENCE = 96;
const DNNL_CONVOLUTION_DIRECT = 0x1;
const DNNL_CPU = 1;
const DNNL_STREAM_IN_ORDER = 0x1;
const DNNL_ELTWISE_RELU = 0x1f;
const DNNL_ARG_SRC = 1, DNNL_ARG_DST = 17, DNNL_ARG_WEIGHTS = 33, DNNL_ARG_BIAS = 41;
const DNNL_ARG_DIFF_DST = 145, DNNL_ARG_DIFF_WEIGHTS = 161;
const DNNL_MAX_NDIMS = 12;
/** generous sizes for oneDNN's (opaque here) descriptor structs: memory desc < 1 KiB, conv desc < 8 KiB */
const MEMORY_DESC_BYTES = 4096, OP_DESC_BYTES = 32768;

const SYMBOLS = {
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: { parameters: ["buffer", "pointer", "u32"], result: "i32" },
  dnnl_memory_desc_init_by_strides: {
    parameters: ["buffer", "i32", "buffer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_dilated_convolution_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_dilated_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_primitive_attr_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_append_eltwise: { parameters: ["pointer", "f32", "i32", "f32", "f32"], result: "i32" },
  dnnl_primitive_attr_set_post_ops: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_memory_create: { parameters: ["buffer", "buffer", "pointer", "pointer"], result: "i32" },
  dnnl_memory_set_data_handle: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_primitive_execute: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
} as const;

type Dnnl = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** A oneDNN call returned an error status. */
export class NativeConvError extends Error {
  override name = "NativeConvError";
}

function check(status: number, what: string): void {
  if (status !== 0) throw new NativeConvError(`oneDNN ${what} failed with status ${status}`);
}

function dims(values: readonly number[]): BigInt64Array {
  const d = new BigInt64Array(DNNL_MAX_NDIMS);
  values.forEach((v, i) => (d[i] = BigInt(v)));
  return d;
}

function handleOut(): BigUint64Array {
  return new BigUint64Array(1);
}

function ptr(h: BigUint64Array): Deno.PointerObject {
  const p = Deno.UnsafePointer.create(h[0]);
  if (!p) throw new NativeConvError("oneDNN returned a null handle");
  return p;
}

interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  dilH: number;
  dilW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  outH: number;
  outW: number;
  bias: boolean;
  relu: boolean;
}

interface CachedConv {
  prim: Deno.PointerObject;
  mems: bigint[]; // src, weights, bias?, dst
  args: Uint8Array; // dnnl_exec_arg_t[]
  nArgs: number;
}

class OneDnnConv {
  private readonly engine: Deno.PointerObject;
  private readonly stream: Deno.PointerObject;
  private readonly cache = new Map<string, CachedConv>();

  constructor(private readonly f: Dnnl) {
    const e = handleOut();
    check(f.dnnl_engine_create(e, DNNL_CPU, 0n), "engine_create");
    this.engine = ptr(e);
    const s = handleOut();
    check(f.dnnl_stream_create(s, this.engine, DNNL_STREAM_IN_ORDER), "stream_create");
    this.stream = ptr(s);
  }

  private md(logical: number[], strides: number[]): Uint8Array {
    const m = new Uint8Array(MEMORY_DESC_BYTES);
    check(
      this.f.dnnl_memory_desc_init_by_strides(m, logical.length, dims(logical), DNNL_F32, dims(strides)),
      "memory_desc_init_by_strides",
    );
    return m;
  }

  private build(g: ConvGeometry, filterGrad: boolean): CachedConv {
    const f = this.f;
    const src = this.md([g.n, g.cin, g.h, g.w], [g.h * g.w * g.cin, 1, g.w * g.cin, g.cin]); // NHWC
    const wei = this.md([g.cout, g.cin, g.kh, g.kw], [1, g.cout, g.kw * g.cin * g.cout, g.cin * g.cout]); // HWIO
    const bia = g.bias ? this.md([g.cout], [1]) : null;
    const dst = this.md([g.n, g.cout, g.outH, g.outW], [
      g.outH * g.outW * g.cout,
      1,
      g.outW * g.cout,
      g.cout,
    ]);
    const geometry: [BigInt64Array, BigInt64Array, BigInt64Array, BigInt64Array] = [
      dims([g.strideH, g.strideW]),
      dims([g.dilH - 1, g.dilW - 1]), // oneDNN counts dilation from 0
      dims([g.padTop, g.padLeft]),
      dims([g.padBottom, g.padRight]),
    ];
    const desc = new Uint8Array(OP_DESC_BYTES);
    check(
      f.dnnl_dilated_convolution_forward_desc_init(
        desc,
        filterGrad ? DNNL_FORWARD_TRAINING : DNNL_FORWARD_INFERENCE,
        DNNL_CONVOLUTION_DIRECT,
        src,
        wei,
        bia,
        dst,
        ...geometry,
      ),
      "convolution_forward_desc_init",
    );
    if (filterGrad) {
      // dL/dW: the backward-weights primitive, hinted by the forward-training one (src NHWC, dW HWIO, dY NHWC)
      const fwd = handleOut();
      check(f.dnnl_primitive_desc_create(fwd, desc, null, this.engine, null), "primitive_desc_create (fwd)");
      const bwd = new Uint8Array(OP_DESC_BYTES);
      check(
        f.dnnl_dilated_convolution_backward_weights_desc_init(
          bwd,
          DNNL_CONVOLUTION_DIRECT,
          src,
          wei,
          null,
          dst,
          ...geometry,
        ),
        "convolution_backward_weights_desc_init",
      );
      const pd = handleOut();
      check(
        f.dnnl_primitive_desc_create(pd, bwd, null, this.engine, ptr(fwd)),
        "primitive_desc_create (bwd)",
      );
      return this.finish(pd, [[DNNL_ARG_SRC, src], [DNNL_ARG_DIFF_DST, dst], [DNNL_ARG_DIFF_WEIGHTS, wei]]);
    }
    let attr: Deno.PointerObject | null = null;
    if (g.relu) {
      const a = handleOut(), po = handleOut();
      check(f.dnnl_primitive_attr_create(a), "primitive_attr_create");
      check(f.dnnl_post_ops_create(po), "post_ops_create");
      check(f.dnnl_post_ops_append_eltwise(ptr(po), 1, DNNL_ELTWISE_RELU, 0, 0), "post_ops_append_eltwise");
      check(f.dnnl_primitive_attr_set_post_ops(ptr(a), ptr(po)), "primitive_attr_set_post_ops");
      attr = ptr(a);
    }
    const pd = handleOut();
    check(f.dnnl_primitive_desc_create(pd, desc, attr, this.engine, null), "primitive_desc_create");
    const entries: [number, Uint8Array][] = [[DNNL_ARG_SRC, src], [DNNL_ARG_WEIGHTS, wei]];
    if (bia) entries.push([DNNL_ARG_BIAS, bia]);
    entries.push([DNNL_ARG_DST, dst]);
    return this.finish(pd, entries);
  }

  private finish(pd: BigUint64Array, entries: [number, Uint8Array][]): CachedConv {
    const f = this.f;
    const prim = handleOut();
    check(f.dnnl_primitive_create(prim, ptr(pd)), "primitive_create");
    const args = new Uint8Array(16 * entries.length); // struct { int arg; dnnl_memory_t memory; }
    const view = new DataView(args.buffer);
    const mems = entries.map(([arg, m], i) => {
      const h = handleOut();
      check(f.dnnl_memory_create(h, m, this.engine, null), "memory_create");
      view.setInt32(i * 16, arg, true);
      view.setBigUint64(i * 16 + 8, h[0], true);
      return h[0];
    });
    return { prim: ptr(prim), mems, args, nArgs: entries.length };
  }

  /**
   * Runs the convolution (buffers x, w, [b,] y) or its filter gradient (buffers x, dy, dw) on raw float32
   * buffers (pointers into the WASM heap).
   */
  run(g: ConvGeometry, buffers: Deno.PointerValue[], filterGrad = false): void {
    const key = JSON.stringify(g) + (filterGrad ? "dW" : "");
    let c = this.cache.get(key);
    if (!c) {
      c = this.build(g, filterGrad);
      this.cache.set(key, c);
    }
    c.mems.forEach((m, i) => {
      check(
        this.f.dnnl_memory_set_data_handle(Deno.UnsafePointer.create(m), buffers[i]),
        "memory_set_data_handle",
      );
    });
    check(this.f.dnnl_primitive_execute(c.prim, this.stream, c.nArgs, c.args), "primitive_execute");
    check(this.f.dnnl_stream_wait(this.stream), "stream_wait");
  }
}

interface WasmTensorData {
  memoryOffset: number;
  shape: number[];
}
interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: unknown): WasmTensorData };
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
}

let active: { lib: string; conv: OneDnnConv } | undefined;
let calls = 0;

/** Convolutions computed by oneDNN in this thread so far (fallbacks to the WASM kernels not counted). */
export function nativeConvCalls(): number {
  return calls;
}

/** The oneDNN library in use in this thread, if {@link enableNativeConv} succeeded. */
export function nativeConvLibrary(): string | undefined {
  return active?.lib;
}

/**
 * Replaces the WASM backend's `FusedConv2D` (linear/ReLU activation) and `Conv2D` kernels by oneDNN ones in this
 * thread. Other activations fall back to the original kernels.
 * @param threads OpenMP threads per oneDNN call (set before the library loads; 1 for data-parallel workers)
 * @returns the library path, or the reason it is unavailable (nothing is changed then)
 */
export function enableNativeConv(threads = 1): { ok: true; lib: string } | { ok: false; reason: string } {
  if (active) return { ok: true, lib: active.lib };
  if (tf.getBackend() !== "wasm") return { ok: false, reason: `backend is ${tf.getBackend()}, not wasm` };
  const env = Deno.env.get("SSD_DNNL_LIB");
  const candidates = env ? [env] : DNNL_LIBRARY_CANDIDATES;
  const errors: string[] = [];
  if (!Deno.env.get("OMP_NUM_THREADS")) Deno.env.set("OMP_NUM_THREADS", String(threads));
  for (const lib of candidates) {
    try {
      const dl = Deno.dlopen(lib, SYMBOLS);
      active = { lib, conv: new OneDnnConv(dl.symbols) };
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
      n: info.batchSize,
      h: info.inHeight,
      w: info.inWidth,
      cin: info.inChannels,
      cout: info.outChannels,
      kh: info.filterHeight,
      kw: info.filterWidth,
      strideH: info.strideHeight,
      strideW: info.strideWidth,
      dilH: info.dilationHeight,
      dilW: info.dilationWidth,
      padTop: info.padInfo.top,
      padBottom: info.padInfo.bottom,
      padLeft: info.padInfo.left,
      padRight: info.padInfo.right,
      outH: info.outHeight,
      outW: info.outWidth,
      bias: bias != null,
      relu: activation === "relu",
    };
    if (info.outHeight * info.outWidth * info.batchSize > 0) {
      calls++;
      conv.run(g, bias ? [at(x), at(filter), at(bias), at(out)] : [at(x), at(filter), at(out)]);
    }
    return out;
  };
  for (const [cfg, isFused] of [[fused, true], [plain, false]] as const) {
    tf.unregisterKernel(cfg.kernelName, "wasm");
    tf.registerKernel({ ...cfg, kernelFunc: kernel(cfg, isFused) });
  }
  tf.registerKernel({
    kernelName: FILTER_GRAD_KERNEL,
    backendName: "wasm",
    kernelFunc: (args) => {
      const backend = args.backend as unknown as WasmBackendLike;
      const x = args.inputs.x as tf.TensorInfo, dy = args.inputs.dy as tf.TensorInfo;
      const a = args.attrs as unknown as FilterGradAttrs;
      const [n, h, w, cin] = x.shape, [, outH, outW, cout] = dy.shape;
      const out = backend.makeOutput([a.kh, a.kw, cin, cout], "float32");
      const heap = backend.wasm.HEAPU8.buffer;
      const at = (t: tf.TensorInfo) =>
        Deno.UnsafePointer.of(new Uint8Array(heap, backend.dataIdMap.get(t.dataId).memoryOffset, 1));
      // padding bottom/right as the forward's: what the output size implies beyond the symmetric `pad`
      const padBottom = (outH - 1) * a.stride + a.dilation * (a.kh - 1) + 1 - h - a.pad;
      const padRight = (outW - 1) * a.stride + a.dilation * (a.kw - 1) + 1 - w - a.pad;
      calls++;
      conv.run(
        {
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
          padBottom,
          padLeft: a.pad,
          padRight,
          outH,
          outW,
          bias: false,
          relu: false,
        },
        [at(x), at(dy), at(out)],
        true,
      );
      return out;
    },
  });
  return { ok: true, lib: active.lib };
}

/** Name of the kernel computing dL/dW (HWIO) of a convolution from x (NHWC) and dL/dY (NHWC) with oneDNN. */
export const FILTER_GRAD_KERNEL = "SsdOneDnnConv2DFilterGrad";
interface FilterGradAttrs {
  kh: number;
  kw: number;
  stride: number;
  pad: number;
  dilation: number;
}

/**
 * `convWithGrad` (lib/conv_grad.ts) with its filter gradient computed by oneDNN's backward-weights convolution
 * instead of k·k slices and matMuls; dX and the forward go through the (native, once enabled) Conv2D and
 * FusedConv2D kernels as there. Same semantics (ReLU folded into dY, lazy per-input gradients). Falls back to
 * `convWithGrad` when {@link enableNativeConv} has not succeeded in this thread.
 */
export const nativeConvWithGrad: ConvFn = (x, w, b, o) => {
  if (!active) return convWithGrad(x, w, b, o);
  const opts = { stride: o.stride, pad: o.pad, dilation: o.dilation, relu: o.relu };
  const xShape = x.shape;
  const [kh, kw] = w.shape;
  const engine = tf.engine() as unknown as KernelFuncEngine;
  return engine.runKernelFunc({
    inputs: { x, w, b },
    forwardFunc: (_backend, save) => {
      const y = convForward(x, w, b, opts);
      save(opts.relu ? [x, w, y] : [x, w]);
      return y;
    },
    backwardsFunc: (dy, saved) => {
      const [xs, ws, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D | undefined];
      const dyMasked = (): tf.Tensor4D => (ys ? tf.mul(dy, tf.step(ys)) : dy) as tf.Tensor4D;
      const attrs: FilterGradAttrs = { kh, kw, stride: o.stride, pad: o.pad, dilation: o.dilation };
      return {
        x: () => conv2dInputGrad(dyMasked(), ws, xShape, opts),
        w: () =>
          tf.tidy(() =>
            tf.engine().runKernel(
              FILTER_GRAD_KERNEL,
              { x: xs, dy: dyMasked() },
              attrs as unknown as tf.NamedAttrMap,
            ) as tf.Tensor
          ),
        b: () => tf.sum(dyMasked(), [0, 1, 2]),
      };
    },
  }) as tf.Tensor4D;
};
