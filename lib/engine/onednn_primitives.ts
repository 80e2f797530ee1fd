/**
 * oneDNN (libdnnl.so.2, v2.x C API) primitives through Deno FFI on raw float32 buffers: convolution forward
 * (bias and ReLU fused), backward data, backward weights, and the ReLU backward (eltwise) — each built once
 * per shape and cached.
 *
 * Layouts: activations are NHWC and the caller's weights HWIO, described to oneDNN by strides (logical NCHW /
 * OIHW dims). The convolutions let oneDNN choose the weights' layout (`format_tag any`, its blocked formats):
 * with the HWIO strides it can only take its im2col+GEMM path (`gemm:jit`), with its own layout it takes the
 * direct AVX-512/AVX2 kernels (`brg:`/`jit:`). Weights are reordered into that layout by a cached reorder
 * primitive — once per weights tensor (the caller passes a key, TF.js's dataId, that changes when the weights
 * do), and the weight gradient is reordered back to HWIO after each backward-weights call.
 * @module
 */

/** oneDNN v2 C API constants (oneDNN 2.6 include/oneapi/dnnl/dnnl_types.h) */
const DNNL_F32 = 3;
const DNNL_FORMAT_TAG_ANY = 1;
const DNNL_FORWARD_TRAINING = 64;
const DNNL_FORWARD_INFERENCE = 96;
const DNNL_CONVOLUTION_DIRECT = 0x1, DNNL_CONVOLUTION_WINOGRAD = 0x2;
const DNNL_ELTWISE_RELU = 0x1f;
const DNNL_CPU = 1;
const DNNL_STREAM_IN_ORDER = 0x1;
const DNNL_QUERY_SRC_MD = 129, DNNL_QUERY_DIFF_SRC_MD = 130, DNNL_QUERY_WEIGHTS_MD = 131;
const DNNL_QUERY_DIFF_WEIGHTS_MD = 132, DNNL_QUERY_DST_MD = 133, DNNL_QUERY_DIFF_DST_MD = 134;
const DNNL_QUERY_IMPL_INFO_STR = 8;
const DNNL_ARG_SRC = 1, DNNL_ARG_DST = 17, DNNL_ARG_WEIGHTS = 33, DNNL_ARG_BIAS = 41;
const DNNL_ARG_DIFF_SRC = 129, DNNL_ARG_DIFF_DST = 145, DNNL_ARG_DIFF_WEIGHTS = 161, DNNL_ARG_DIFF_BIAS = 169;
const DNNL_ARG_FROM = DNNL_ARG_SRC, DNNL_ARG_TO = DNNL_ARG_DST;
const DNNL_MAX_NDIMS = 12;
/** input channels up to which the backward weights use oneDNN's blocked activation layouts (conv1_1's 3) */
const FEW_INPUT_CHANNELS = 4;
/**
 * Output pixels up to which, with AVX-512, the backward weights of a 3×3 non-dilated layer use the blocked
 * activation layouts (nChw16c, x and dY reordered): conv3_x at 75², conv4_x, conv5_x. Measured (bench
 * profile, one thread, batch 1, Intel Xeon Sapphire Rapids, idle) a layer's backward ms/img NHWC → blocked:
 * conv3_2 95.2 → 91.0, conv4_2 106.0 → 100.6, conv5_2 25.6 → 25.1; at 150² and 300² blocked was slower
 * (conv1_2 114 → 125).
 */
const BLOCKED_MAX_PIXELS_AVX512 = 75 * 75;
/**
 * Most padding a backward weights by GEMM may add to the positions it multiplies (padded map / output map):
 * above it the zero rows cost more than the GEMM gains (the 10² and smaller maps, conv6's dilation 6), and
 * oneDNN's convolution kernel runs instead. The GEMM form runs only without AVX-512: with AVX-512 oneDNN's
 * own kernels measured faster (bench profile, one thread, batch 1, Intel Xeon Sapphire Rapids, backward
 * ms/img GEMM → kernel: conv1_2 102 → 82, conv2_2 72 → 66, conv3_2 63 → 53, conv4_2 69 → 60; whole backward
 * 754 → 682).
 */
const GEMM_MAX_PADDED_RATIO = 1.25;
/**
 * Bytes of x and dY rows one chunk of a backward weights by GEMM multiplies for all its taps before the next
 * chunk. Measured (one thread, batch 1, ONEDNN_MAX_CPU_ISA=AVX2, Intel Xeon Sapphire Rapids, 2 MiB L2 per
 * core), SSD300's dW ms/img by chunk size: whole map 693, 4 MiB 697, 2 MiB 693, 1 MiB 677, 512 KiB 691
 * (conv1_2 83 → 74 at 1 MiB; the 38² and smaller maps unchanged).
 */
const GEMM_CHUNK_BYTES = 1 << 20;
const CHAR_T = 0x54, CHAR_N = 0x4e;

/**
 * Winograd convolutions (oneDNN's AVX-512 `jit_wino_4x3` / `jit_fp32_wino_2x3`, F(4×4, 3×3) / F(2×2, 3×3))
 * for the forward and backward data of 3×3 stride-1 layers with at least this many channels in and out and an
 * output of at least WINOGRAD_MIN_PIXELS (conv1_2 … conv5_3): fewer multiplications than the direct kernels.
 * AVX-512 only (oneDNN 2.6 has no AVX2 Winograd). Measured (bench profile, one thread, batch 1, Intel Xeon
 * Sapphire Rapids, ms/img direct → Winograd): forward conv3_2 34.1 → 17.0, conv4_2 32.8 → 17.1, conv2_2 32.9
 * → 27.4, conv5_2 8.9 → 5.8, whole forward 318 → 209; backward data too: whole backward 841 → 754
 * (forward-only Winograd → both). oneDNN's Winograd sums in an order that depends on the batch, so a batch
 * runs one image at a time (an image's result must not depend on its batch).
 */
const WINOGRAD_MIN_CHANNELS = 64, WINOGRAD_MIN_PIXELS = 19 * 19;

/** dnnl_cpu_isa_avx512_core's bit (0x27 = avx2 | 0x20; oneDNN 2.6 dnnl_types.h): set in every AVX-512 core ISA */
const DNNL_CPU_ISA_AVX512_CORE_BIT = 0x20;
/** DNNL_MEMORY_ALLOCATE: ((void *)(size_t)-1), the library allocates the buffer */
const DNNL_MEMORY_ALLOCATE = 0xffff_ffff_ffff_ffffn;
/** generous sizes for oneDNN's (opaque here) descriptor structs: memory desc < 1 KiB, op desc < 8 KiB */
const MEMORY_DESC_BYTES = 4096, OP_DESC_BYTES = 32768;

const B = "buffer", P = "pointer";
const CONV_GEOMETRY = [B, B, B, B] as const; // strides, dilates, padding_l, padding_r
export const DNNL_SYMBOLS = {
  dnnl_engine_create: { parameters: [B, "i32", "usize"], result: "i32" },
  dnnl_stream_create: { parameters: [B, P, "u32"], result: "i32" },
  dnnl_memory_desc_init_by_strides: { parameters: [B, "i32", B, "i32", B], result: "i32" },
  dnnl_memory_desc_init_by_tag: { parameters: [B, "i32", B, "i32", "i32"], result: "i32" },
  dnnl_memory_desc_equal: { parameters: [P, P], result: "i32" },
  dnnl_dilated_convolution_forward_desc_init: {
    parameters: [B, "i32", "i32", B, B, B, B, ...CONV_GEOMETRY],
    result: "i32",
  },
  dnnl_dilated_convolution_backward_data_desc_init: {
    parameters: [B, "i32", B, B, B, ...CONV_GEOMETRY],
    result: "i32",
  },
  dnnl_dilated_convolution_backward_weights_desc_init: {
    parameters: [B, "i32", B, B, B, B, ...CONV_GEOMETRY],
    result: "i32",
  },
  dnnl_eltwise_forward_desc_init: { parameters: [B, "i32", "i32", B, "f32", "f32"], result: "i32" },
  dnnl_eltwise_backward_desc_init: { parameters: [B, "i32", B, B, "f32", "f32"], result: "i32" },
  dnnl_primitive_attr_create: { parameters: [B], result: "i32" },
  dnnl_post_ops_create: { parameters: [B], result: "i32" },
  dnnl_post_ops_append_eltwise: { parameters: [P, "f32", "i32", "f32", "f32"], result: "i32" },
  dnnl_primitive_attr_set_post_ops: { parameters: [P, P], result: "i32" },
  dnnl_primitive_desc_create: { parameters: [B, B, P, P, P], result: "i32" },
  dnnl_primitive_desc_query_md: { parameters: [P, "i32", "i32"], result: P },
  dnnl_primitive_desc_query: { parameters: [P, "i32", "i32", B], result: "i32" },
  dnnl_reorder_primitive_desc_create: { parameters: [B, P, P, P, P, P], result: "i32" },
  dnnl_primitive_create: { parameters: [B, P], result: "i32" },
  dnnl_memory_create: { parameters: [B, P, P, P], result: "i32" },
  dnnl_memory_set_data_handle: { parameters: [P, P], result: "i32" },
  dnnl_memory_get_data_handle: { parameters: [P, B], result: "i32" },
  dnnl_primitive_execute: { parameters: [P, P, "i32", B], result: "i32" },
  dnnl_stream_wait: { parameters: [P], result: "i32" },
  dnnl_get_effective_cpu_isa: { parameters: [], result: "i32" },
  // row-major C = alpha·op(A)·op(B) + beta·C (transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
  dnnl_sgemm: {
    parameters: ["i8", "i8", "i64", "i64", "i64", "f32", P, "i64", P, "i64", "f32", P, "i64"],
    result: "i32",
  },
} as const;

export type Dnnl = Deno.DynamicLibrary<typeof DNNL_SYMBOLS>["symbols"];

/** A oneDNN call returned an error status. */
export class OneDnnError extends Error {
  override name = "OneDnnError";
}

function check(status: number, what: string): void {
  if (status !== 0) throw new OneDnnError(`oneDNN ${what} failed with status ${status}`);
}

function dims(values: readonly number[]): BigInt64Array {
  const d = new BigInt64Array(DNNL_MAX_NDIMS);
  values.forEach((v, i) => (d[i] = BigInt(v)));
  return d;
}

function handleOut(): BigUint64Array {
  return new BigUint64Array(1);
}

function ptr(h: BigUint64Array | bigint): Deno.PointerObject {
  const p = Deno.UnsafePointer.create(typeof h === "bigint" ? h : h[0]);
  if (!p) throw new OneDnnError("oneDNN returned a null handle");
  return p;
}

const of = (b: Uint8Array): Deno.PointerObject => Deno.UnsafePointer.of(b)!;

/** A sliding window over an NHWC input [n, h, w, ·] giving an output [n, outH, outW, ·] (explicit padding). */
export interface WindowGeometry {
  n: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  outH: number;
  outW: number;
}

/** One convolution's shape: NHWC input [n, h, w, cin], HWIO weights [kh, kw, cin, cout], output [n, outH, outW, cout]. */
export interface ConvGeometry extends WindowGeometry {
  cin: number;
  cout: number;
  /** dilation as TF.js/PyTorch count it (1 = none) */
  dilH: number;
  dilW: number;
  bias: boolean;
  relu: boolean;
}

/** One max pooling's shape (c channels in and out); padding excluded from the max. */
export interface PoolGeometry extends WindowGeometry {
  c: number;
}

/**
 * Which computation:
 * - "forward": buffers x, w, [b,] y (y = conv(x, w) + b, ReLU when `relu`);
 * - "forwardTraining": the same, for weights that change between calls (a training step): a Winograd forward
 *   then transforms the weights inside each call (oneDNN's forward_training) instead of reordering them once
 *   per weights version into its pre-transformed layout (forward_inference), which is ≈ 25 times slower
 *   (conv4_2's 2.4 M weights: 64 ms, one thread, AVX-512); other forwards are the "forward" primitive;
 * - "backwardData": buffers dy, w, dx;
 * - "backwardWeights": buffers x, dy, dw (HWIO)[, db] (db when `bias`).
 */
export type PrimitiveKind = "forward" | "forwardTraining" | "backwardData" | "backwardWeights";

interface Reorder {
  prim: Deno.PointerObject;
  args: Uint8Array;
  nArgs: number;
  /** the memory object over the caller's HWIO buffer */
  user: bigint;
  /**
   * a weights reorder: its destination (the memory object `internal`, also the primitive's weights argument)
   * is pointed at the {@link WeightCopies} copy of the caller's weights version in `layout`, and it runs only
   * when that copy is new
   */
  weights?: { layout: WeightLayout; internal: bigint };
}

/** One oneDNN weights layout and the reordered copies of weights tensors in it (see {@link WeightCopies}). */
interface WeightLayout {
  /** the layout (a memory descriptor inside a cached primitive descriptor, which lives as long as the cache) */
  md: Deno.PointerObject;
  copies: { key: unknown; mem: bigint; handle: Deno.PointerValue }[];
}

interface Prepared {
  prim: Deno.PointerObject;
  args: Uint8Array;
  nArgs: number;
  /** memory objects over the caller's buffers, in buffer order (the weights' one is the reorder's, if any) */
  mems: bigint[];
  /** reorders of inputs into the primitive's layouts (weights: keyed), run before it */
  before: Reorder[];
  /** reorders of outputs from the primitive's layouts to the caller's (the weight gradient to HWIO), run after */
  after: Reorder[];
  impl: string;
}

/**
 * Reordered weights, shared by every primitive that wants them in the same layout: one copy per weights
 * version (the caller's key, TF.js's dataId, new whenever the weights change) and layout. So a weights tensor
 * is reordered once per layout however many primitives use it (a forward per batch size, layers of equal
 * geometry, micro-batches of one step), and layers of equal geometry do not evict each other's copy. A copy
 * whose key the caller reports dead (`isLive`: the tensor was disposed) is reused for the next version, so
 * there are about as many copies as live weights tensors.
 */
class WeightCopies {
  private readonly layouts: WeightLayout[] = [];

  constructor(
    private readonly f: Dnnl,
    private readonly allocate: (md: Deno.PointerObject) => bigint,
    private readonly isLive: (key: unknown) => boolean,
  ) {}

  /** The layout equal to `md` (registered on first sight). */
  layout(md: Deno.PointerObject): WeightLayout {
    const known = this.layouts.find((l) => this.f.dnnl_memory_desc_equal(l.md, md) !== 0);
    if (known) return known;
    const l: WeightLayout = { md, copies: [] };
    this.layouts.push(l);
    return l;
  }

  /**
   * The copy of weights version `key` in `layout`; `fresh` when it still has to be filled (new, or reused
   * from a dead version). An undefined key never matches (the copy is refilled at every call).
   */
  copy(layout: WeightLayout, key: unknown): { handle: Deno.PointerValue; fresh: boolean } {
    if (key !== undefined) {
      const hit = layout.copies.find((c) => c.key === key);
      if (hit) return { handle: hit.handle, fresh: false };
    }
    let c = layout.copies.find((c) => c.key === undefined || !this.isLive(c.key));
    if (!c) {
      const mem = this.allocate(layout.md);
      const h = new BigUint64Array(1);
      check(this.f.dnnl_memory_get_data_handle(ptr(mem), new Uint8Array(h.buffer)), "memory_get_data_handle");
      c = { key, mem, handle: Deno.UnsafePointer.create(h[0]) };
      layout.copies.push(c);
    }
    c.key = key;
    return { handle: c.handle, fresh: true };
  }

  /** Reordered copies held, over all layouts. */
  count(): number {
    return this.layouts.reduce((s, l) => s + l.copies.length, 0);
  }
}

/** oneDNN convolutions and ReLU backward on one engine and stream (one per thread). */
export class OneDnnPrimitives {
  private readonly engine: Deno.PointerObject;
  private readonly stream: Deno.PointerObject;
  private readonly cache = new Map<string, Prepared>();
  private readonly weights: WeightCopies;
  /** padded copies of x and dY for {@link backwardWeightsByGemm}, and a row of ones for its bias gradient */
  private scratch = { x: new Float32Array(0), dy: new Float32Array(0) };
  private ones = new Float32Array(0);
  /**
   * Winograd convolutions where they apply (see {@link WINOGRAD_MIN_CHANNELS}); false: direct ones only (the
   * practical peak, lib/engine/peak.ts, measures the direct kernels: the machine's multiply-add rate)
   */
  winograd = true;
  /** whether oneDNN may use AVX-512 (not on an AVX2 CPU, nor under ONEDNN_MAX_CPU_ISA=AVX2) */
  private readonly avx512: boolean;

  /**
   * @param isLive whether a weights key (see {@link conv}) still names live weights; a copy of a dead one is
   *   reused. Default: keys never die (one copy per key ever seen).
   */
  constructor(private readonly f: Dnnl, isLive: (key: unknown) => boolean = () => true) {
    this.avx512 = (f.dnnl_get_effective_cpu_isa() & DNNL_CPU_ISA_AVX512_CORE_BIT) !== 0;
    const e = handleOut();
    check(f.dnnl_engine_create(e, DNNL_CPU, 0n), "engine_create");
    this.engine = ptr(e);
    const s = handleOut();
    check(f.dnnl_stream_create(s, this.engine, DNNL_STREAM_IN_ORDER), "stream_create");
    this.stream = ptr(s);
    this.weights = new WeightCopies(f, (md) => this.memory(md, true), isLive);
  }

  private md(logical: number[], strides: number[]): Uint8Array {
    const m = new Uint8Array(MEMORY_DESC_BYTES);
    check(
      this.f.dnnl_memory_desc_init_by_strides(m, logical.length, dims(logical), DNNL_F32, dims(strides)),
      "memory_desc_init_by_strides",
    );
    return m;
  }

  private mdAny(logical: number[]): Uint8Array {
    const m = new Uint8Array(MEMORY_DESC_BYTES);
    check(
      this.f.dnnl_memory_desc_init_by_tag(m, logical.length, dims(logical), DNNL_F32, DNNL_FORMAT_TAG_ANY),
      "memory_desc_init_by_tag",
    );
    return m;
  }

  /** A memory object of layout `md` over a buffer it allocates (`allocate`), or over none yet (set at each run). */
  private memory(md: Deno.PointerObject, allocate: boolean): bigint {
    const h = handleOut();
    check(
      this.f.dnnl_memory_create(h, md, this.engine, allocate ? ptr(DNNL_MEMORY_ALLOCATE) : null),
      "memory_create",
    );
    return h[0];
  }

  private pd(desc: Uint8Array, attr: Deno.PointerObject | null, hint: BigUint64Array | null): BigUint64Array {
    const pd = handleOut();
    check(
      this.f.dnnl_primitive_desc_create(pd, desc, attr, this.engine, hint ? ptr(hint) : null),
      "primitive_desc_create",
    );
    return pd;
  }

  private primitive(pd: BigUint64Array): Deno.PointerObject {
    const prim = handleOut();
    check(this.f.dnnl_primitive_create(prim, ptr(pd)), "primitive_create");
    return ptr(prim);
  }

  private static args(entries: [number, bigint][]): Uint8Array {
    const args = new Uint8Array(16 * entries.length); // struct { int arg; dnnl_memory_t memory; }
    const view = new DataView(args.buffer);
    entries.forEach(([arg, mem], i) => {
      view.setInt32(i * 16, arg, true);
      view.setBigUint64(i * 16 + 8, mem, true);
    });
    return args;
  }

  /**
   * The memory a primitive argument uses for a caller's buffer described by `user`, given the layout the
   * primitive chose: the caller's memory itself when the layouts agree, else an internal buffer (allocated
   * here) and a reorder between the two (into the internal one for inputs, out of it for outputs).
   */
  private stage(user: Uint8Array, chosen: Deno.PointerObject | null, input: boolean, keyed = false): {
    user: bigint;
    arg: bigint;
    reorder?: Reorder;
  } {
    const f = this.f;
    const userMem = this.memory(of(user), false);
    if (!chosen) throw new OneDnnError("oneDNN memory_desc query returned null");
    if (f.dnnl_memory_desc_equal(chosen, of(user)) !== 0) return { user: userMem, arg: userMem };
    // weights: a memory object without a buffer of its own, pointed at the shared copy at each run
    const internalMem = this.memory(chosen, !keyed);
    const [from, to] = input ? [of(user), chosen] : [chosen, of(user)];
    const pd = handleOut();
    check(
      f.dnnl_reorder_primitive_desc_create(pd, from, this.engine, to, this.engine, null),
      "reorder_primitive_desc_create",
    );
    const [memFrom, memTo] = input ? [userMem, internalMem] : [internalMem, userMem];
    return {
      user: userMem,
      arg: internalMem,
      reorder: {
        prim: this.primitive(pd),
        args: OneDnnPrimitives.args([[DNNL_ARG_FROM, memFrom], [DNNL_ARG_TO, memTo]]),
        nArgs: 2,
        user: userMem,
        ...(keyed ? { weights: { layout: this.weights.layout(chosen), internal: internalMem } } : {}),
      },
    };
  }

  private implInfo(pd: BigUint64Array): string {
    const out = handleOut();
    if (this.f.dnnl_primitive_desc_query(ptr(pd), DNNL_QUERY_IMPL_INFO_STR, 0, new Uint8Array(out.buffer))) {
      return "?";
    }
    const p = Deno.UnsafePointer.create(out[0]);
    return p ? new Deno.UnsafePointerView(p).getCString() : "?";
  }

  /** Whether a pass runs as a Winograd convolution (see {@link WINOGRAD_MIN_CHANNELS}). */
  private wino(g: ConvGeometry, kind: PrimitiveKind): boolean {
    return this.winograd && kind !== "backwardWeights" && this.avx512 && g.kh === 3 && g.kw === 3 &&
      g.strideH === 1 &&
      g.strideW === 1 && g.dilH === 1 && g.dilW === 1 && g.cin >= WINOGRAD_MIN_CHANNELS &&
      g.cout >= WINOGRAD_MIN_CHANNELS && g.outH * g.outW >= WINOGRAD_MIN_PIXELS;
  }

  /**
   * Whether a primitive takes x / y (and their gradients) in oneDNN's blocked layouts (nChw16c with AVX-512,
   * nChw8c with AVX2), reordered from and to the caller's NHWC around it, instead of NHWC itself. The forward
   * stays NHWC (oneDNN's NHWC forward kernels are its fastest). Without AVX-512, oneDNN's NHWC backward
   * kernels are slow: measured (bench profile, one thread, batch 1, ONEDNN_MAX_CPU_ISA=AVX2 on an Intel Xeon
   * Sapphire Rapids, idle) a layer's backward ms/img NHWC → blocked, reorders included: conv3_2 295.8 →
   * 145.6, conv4_2 265.4 → 140.4, conv1_2 204.9 → 187.9, conv5_2 40.7 → 36.2, conv6 73.6 → 67.5 (its backward
   * weights stay NHWC: there oneDNN's gemm kernel beats its dilated blocked one), conv7 21.4 → 19.0 — whole
   * backward 2235 → 1519 ms. With AVX-512, see {@link FEW_INPUT_CHANNELS} and {@link
   * BLOCKED_MAX_PIXELS_AVX512}.
   */
  private blockedActivations(g: ConvGeometry, kind: PrimitiveKind): boolean {
    const dilated = g.dilH > 1 || g.dilW > 1;
    if (this.wino(g, kind)) return true;
    if (kind === "forward" || kind === "forwardTraining") return false;
    if (kind === "backwardData") return !this.avx512;
    if (g.cin <= FEW_INPUT_CHANNELS) return true;
    if (!this.avx512) return !dilated;
    return g.kh > 1 && !dilated && g.outH * g.outW <= BLOCKED_MAX_PIXELS_AVX512;
  }

  private buildConv(g: ConvGeometry, kind: PrimitiveKind): Prepared {
    const f = this.f;
    const srcUser = this.md([g.n, g.cin, g.h, g.w], [g.h * g.w * g.cin, 1, g.w * g.cin, g.cin]); // NHWC
    const dstLogical = [g.n, g.cout, g.outH, g.outW];
    const weiLogical = [g.cout, g.cin, g.kh, g.kw];
    const weiUser = this.md(weiLogical, [1, g.cout, g.kw * g.cin * g.cout, g.cin * g.cout]); // HWIO
    const wei = this.mdAny(weiLogical);
    // forward: the bias added; backward weights: the bias gradient computed alongside (Σ dY over batch and space)
    const bia = g.bias && kind !== "backwardData" ? this.md([g.cout], [1]) : null;
    const dstUser = this.md(dstLogical, [g.outH * g.outW * g.cout, 1, g.outW * g.cout, g.cout]); // NHWC
    const blocked = this.blockedActivations(g, kind);
    const src = blocked ? this.mdAny([g.n, g.cin, g.h, g.w]) : srcUser;
    const dst = blocked ? this.mdAny(dstLogical) : dstUser;
    const geometry: [BigInt64Array, BigInt64Array, BigInt64Array, BigInt64Array] = [
      dims([g.strideH, g.strideW]),
      dims([g.dilH - 1, g.dilW - 1]), // oneDNN counts dilation from 0
      dims([g.padTop, g.padLeft]),
      dims([g.padBottom, g.padRight]),
    ];
    // (algorithm, src, weights, bias, dst, strides, dilates, padding l/r): the forward and backward-weights tail
    const wino = this.wino(g, kind);
    const ALG = wino ? DNNL_CONVOLUTION_WINOGRAD : DNNL_CONVOLUTION_DIRECT;
    const withBias = [ALG, src, wei, bia, dst, ...geometry] as const;
    const fwdDesc = new Uint8Array(OP_DESC_BYTES);
    const forward = kind === "forward" || kind === "forwardTraining";
    const propKind = kind === "forward" ? DNNL_FORWARD_INFERENCE : DNNL_FORWARD_TRAINING;
    check(
      f.dnnl_dilated_convolution_forward_desc_init(fwdDesc, propKind, ...withBias),
      "convolution_forward_desc_init",
    );
    let attr: Deno.PointerObject | null = null;
    if (g.relu && forward) {
      const a = handleOut(), po = handleOut();
      check(f.dnnl_primitive_attr_create(a), "primitive_attr_create");
      check(f.dnnl_post_ops_create(po), "post_ops_create");
      check(f.dnnl_post_ops_append_eltwise(ptr(po), 1, DNNL_ELTWISE_RELU, 0, 0), "post_ops_append_eltwise");
      check(f.dnnl_primitive_attr_set_post_ops(ptr(a), ptr(po)), "primitive_attr_set_post_ops");
      attr = ptr(a);
    }
    const fwd = this.pd(fwdDesc, attr, null);
    let pd = fwd;
    if (!forward) {
      const desc = new Uint8Array(OP_DESC_BYTES);
      check(
        kind === "backwardData"
          ? f.dnnl_dilated_convolution_backward_data_desc_init(
            desc,
            ALG,
            src,
            wei,
            dst,
            ...geometry,
          )
          : f.dnnl_dilated_convolution_backward_weights_desc_init(desc, ...withBias),
        "convolution_backward_desc_init",
      );
      pd = this.pd(desc, null, fwd);
    }
    const q = (what: number) => f.dnnl_primitive_desc_query_md(ptr(pd), what, 0);
    const before: Reorder[] = [], after: Reorder[] = [];
    const stage = (user: Uint8Array, chosen: Deno.PointerObject | null, input: boolean, keyed = false) => {
      const s = this.stage(user, chosen, input, keyed);
      if (s.reorder) (input ? before : after).push(s.reorder);
      return s;
    };
    const direct = (m: Uint8Array) => this.memory(of(m), false);
    let mems: bigint[], entries: [number, bigint][];
    if (forward) {
      const x = stage(srcUser, q(DNNL_QUERY_SRC_MD), true);
      const wei = stage(weiUser, q(DNNL_QUERY_WEIGHTS_MD), true, true);
      const y = stage(dstUser, q(DNNL_QUERY_DST_MD), false);
      const b = bia ? direct(bia) : 0n;
      mems = bia ? [x.user, wei.user, b, y.user] : [x.user, wei.user, y.user];
      entries = [[DNNL_ARG_SRC, x.arg], [DNNL_ARG_WEIGHTS, wei.arg], [DNNL_ARG_DST, y.arg]];
      if (bia) entries.push([DNNL_ARG_BIAS, b]);
    } else if (kind === "backwardData") {
      const dy = stage(dstUser, q(DNNL_QUERY_DIFF_DST_MD), true);
      const wei = stage(weiUser, q(DNNL_QUERY_WEIGHTS_MD), true, true);
      const dx = stage(srcUser, q(DNNL_QUERY_DIFF_SRC_MD), false);
      mems = [dy.user, wei.user, dx.user];
      entries = [[DNNL_ARG_DIFF_DST, dy.arg], [DNNL_ARG_WEIGHTS, wei.arg], [DNNL_ARG_DIFF_SRC, dx.arg]];
    } else {
      const x = stage(srcUser, q(DNNL_QUERY_SRC_MD), true);
      const dy = stage(dstUser, q(DNNL_QUERY_DIFF_DST_MD), true);
      const dw = stage(weiUser, q(DNNL_QUERY_DIFF_WEIGHTS_MD), false);
      mems = [x.user, dy.user, dw.user];
      entries = [[DNNL_ARG_SRC, x.arg], [DNNL_ARG_DIFF_DST, dy.arg], [DNNL_ARG_DIFF_WEIGHTS, dw.arg]];
      if (bia) {
        const db = direct(bia);
        mems.push(db);
        entries.push([DNNL_ARG_DIFF_BIAS, db]);
      }
    }
    return {
      prim: this.primitive(pd),
      args: OneDnnPrimitives.args(entries),
      nArgs: entries.length,
      mems,
      before,
      after,
      impl: this.implInfo(pd),
    };
  }

  private buildReluBackward(size: number): Prepared {
    const f = this.f;
    const data = this.md([size], [1]);
    const fwdDesc = new Uint8Array(OP_DESC_BYTES);
    check(
      f.dnnl_eltwise_forward_desc_init(fwdDesc, DNNL_FORWARD_TRAINING, DNNL_ELTWISE_RELU, data, 0, 0),
      "eltwise_forward_desc_init",
    );
    const fwd = this.pd(fwdDesc, null, null);
    const desc = new Uint8Array(OP_DESC_BYTES);
    check(
      f.dnnl_eltwise_backward_desc_init(desc, DNNL_ELTWISE_RELU, data, data, 0, 0),
      "eltwise_backward_desc_init",
    );
    const pd = this.pd(desc, null, fwd);
    const mems = [0, 1, 2].map(() => this.memory(of(data), false)); // y (as ReLU's src: y > 0 ⇔ x > 0), dy, dx
    const entries: [number, bigint][] = [[DNNL_ARG_SRC, mems[0]], [DNNL_ARG_DIFF_DST, mems[1]], [
      DNNL_ARG_DIFF_SRC,
      mems[2],
    ]];
    return {
      prim: this.primitive(pd),
      args: OneDnnPrimitives.args(entries),
      nArgs: 3,
      mems,
      before: [],
      after: [],
      impl: this.implInfo(pd),
    };
  }

  private execute(c: Prepared, buffers: Deno.PointerValue[], weightsKey?: unknown): void {
    const f = this.f;
    c.mems.forEach((m, i) => {
      check(f.dnnl_memory_set_data_handle(ptr(m), buffers[i]), "memory_set_data_handle");
    });
    for (const r of c.before) {
      if (r.weights) {
        const copy = this.weights.copy(r.weights.layout, weightsKey);
        check(f.dnnl_memory_set_data_handle(ptr(r.weights.internal), copy.handle), "memory_set_data_handle");
        if (!copy.fresh) continue;
      }
      check(f.dnnl_primitive_execute(r.prim, this.stream, r.nArgs, r.args), "primitive_execute (before)");
    }
    check(f.dnnl_primitive_execute(c.prim, this.stream, c.nArgs, c.args), "primitive_execute");
    for (const r of c.after) {
      check(f.dnnl_primitive_execute(r.prim, this.stream, r.nArgs, r.args), "primitive_execute (after)");
    }
    check(f.dnnl_stream_wait(this.stream), "stream_wait");
  }

  /**
   * Runs a convolution pass (see {@link PrimitiveKind} for the buffers, pointers into the WASM heap).
   * @param weightsKey identifies the weights' contents (forward, backward data): the weights are reordered
   *   once per key and layout, for every primitive (see {@link WeightCopies}); undefined = reorder every call
   */
  conv(g: ConvGeometry, kind: PrimitiveKind, buffers: Deno.PointerValue[], weightsKey?: unknown): void {
    if (kind === "forwardTraining" && !this.wino(g, kind)) kind = "forward";
    if (g.n > 1 && this.wino(g, kind)) {
      // one image at a time: oneDNN's Winograd kernels sum in an order that depends on the batch size, and an
      // image's result must not depend on the batch it comes in
      const one = { ...g, n: 1 };
      const inner = g.h * g.w * g.cin * 4, outer = g.outH * g.outW * g.cout * 4;
      // forward: x, w, [b,] y; backward data: dy, w, dx
      const [first, last] = kind === "backwardData" ? [outer, inner] : [inner, outer];
      for (let i = 0; i < g.n; i++) {
        const b = [...buffers];
        b[0] = Deno.UnsafePointer.offset(buffers[0]!, i * first);
        b[b.length - 1] = Deno.UnsafePointer.offset(buffers[b.length - 1]!, i * last);
        this.conv(one, kind, b, weightsKey);
      }
      return;
    }
    const key = kind + (this.wino(g, kind) ? "(winograd)" : "") + JSON.stringify(g);
    let c = this.cache.get(key);
    if (!c) {
      c = this.buildConv(g, kind);
      this.cache.set(key, c);
    }
    this.execute(c, buffers, weightsKey);
  }

  /**
   * dL/dW (HWIO) and dL/db of a stride-1 convolution as GEMMs (oneDNN's sgemm) instead of its
   * backward-weights convolution, where that is faster (see {@link GEMM_MAX_PADDED_RATIO}): with x
   * zero-padded to [N, Hp, Wp, Cin] and dY placed in the top-left of a zero [N, Hp, Wp, Cout] (both with the
   * row pitch Wp), the kernel tap (i, j) reads, for the output position at flat row r, the padded input at
   * row r + i·d·Wp + j·d — one contiguous [L, Cin] block of the padded input — so dW[i, j] = block(i, j)ᵀ ·
   * dYpadded [L, Cout] for L = N·Hp·Wp minus the largest tap offset; the rows of padding positions multiply
   * zero rows of dY. The L rows go in chunks of {@link GEMM_CHUNK_BYTES}, each one multiplied for every tap
   * and added up. db = 1ᵀ · dY. The padded copies are made by oneDNN reorders into this thread's scratch
   * buffers, whose borders are zeroed here per call. Without AVX-512 only (see {@link
   * GEMM_MAX_PADDED_RATIO}).
   * @param buffers x (NHWC), dy (NHWC), dw (HWIO)[, db]
   * @returns false (nothing done) where the GEMM form does not apply: the caller runs the convolution kernel
   */
  backwardWeightsByGemm(g: ConvGeometry, buffers: Deno.PointerValue[]): boolean {
    if (this.avx512) return false; // see GEMM_MAX_PADDED_RATIO
    if (g.strideH !== 1 || g.strideW !== 1 || g.cin <= FEW_INPUT_CHANNELS || g.dilH !== g.dilW) return false;
    const hp = g.h + g.padTop + g.padBottom, wp = g.w + g.padLeft + g.padRight;
    if (hp - g.dilH * (g.kh - 1) !== g.outH || wp - g.dilW * (g.kw - 1) !== g.outW) return false;
    if ((hp * wp) / (g.outH * g.outW) > GEMM_MAX_PADDED_RATIO) return false;
    const [x, dy, dw, db] = buffers;
    const f = this.f;
    const padded = hp !== g.h || wp !== g.w;
    let xs = x, dys = dy;
    if (padded) {
      const scratch = this.gemmScratch(g.n * hp * wp * g.cin, g.n * hp * wp * g.cout);
      // zero what the copies leave: x's border, and the rows and columns of dY's pad past the output
      zeroOutside(scratch.x, g.n, hp, wp, g.cin, g.padTop, g.padTop + g.h, g.padLeft, g.padLeft + g.w);
      zeroOutside(scratch.dy, g.n, hp, wp, g.cout, 0, g.outH, 0, g.outW);
      const c = this.cached(`gemmpad${JSON.stringify(g)}`, () => this.buildPadCopies(g, hp, wp));
      const xInterior = Deno.UnsafePointer.offset(
        Deno.UnsafePointer.of(scratch.x)!,
        4 * (g.padTop * wp + g.padLeft) * g.cin,
      );
      this.execute(c, [x, xInterior, dy, Deno.UnsafePointer.of(scratch.dy)]);
      xs = Deno.UnsafePointer.of(scratch.x);
      dys = Deno.UnsafePointer.of(scratch.dy);
    }
    const l = g.n * hp * wp - ((g.kh - 1) * g.dilH * wp + (g.kw - 1) * g.dilW);
    // rows in chunks whose x and dY stay in cache across the k² taps (one pass over them from memory, not k²)
    const chunk = Math.max(256, Math.floor(GEMM_CHUNK_BYTES / (4 * (g.cin + g.cout))));
    for (let r0 = 0; r0 < l; r0 += chunk) {
      const rows = Math.min(chunk, l - r0);
      const d = Deno.UnsafePointer.offset(dys!, 4 * r0 * g.cout);
      for (let i = 0; i < g.kh; i++) {
        for (let j = 0; j < g.kw; j++) {
          const a = Deno.UnsafePointer.offset(xs!, 4 * ((i * g.dilH * wp + j * g.dilW) + r0) * g.cin);
          const c = Deno.UnsafePointer.offset(dw!, 4 * (i * g.kw + j) * g.cin * g.cout);
          check(
            f.dnnl_sgemm(
              CHAR_T,
              CHAR_N,
              BigInt(g.cin),
              BigInt(g.cout),
              BigInt(rows),
              1,
              a,
              BigInt(g.cin),
              d,
              BigInt(g.cout),
              r0 === 0 ? 0 : 1,
              c,
              BigInt(g.cout),
            ),
            "sgemm",
          );
        }
      }
    }
    if (db) {
      const rows = g.n * g.outH * g.outW;
      if (this.ones.length < rows) this.ones = new Float32Array(rows).fill(1);
      check(
        f.dnnl_sgemm(
          CHAR_N,
          CHAR_N,
          1n,
          BigInt(g.cout),
          BigInt(rows),
          1,
          Deno.UnsafePointer.of(this.ones),
          BigInt(rows),
          dy,
          BigInt(g.cout),
          0,
          db,
          BigInt(g.cout),
        ),
        "sgemm (bias)",
      );
    }
    return true;
  }

  /** This thread's padded copies for {@link backwardWeightsByGemm}, grown as needed (zeroed by the caller). */
  private gemmScratch(xFloats: number, dyFloats: number): { x: Float32Array; dy: Float32Array } {
    if (this.scratch.x.length < xFloats) this.scratch.x = new Float32Array(xFloats);
    if (this.scratch.dy.length < dyFloats) this.scratch.dy = new Float32Array(dyFloats);
    return this.scratch;
  }

  /** Reorders copying x (NHWC) into the interior of its padded copy and dY into the top-left of its own. */
  private buildPadCopies(g: ConvGeometry, hp: number, wp: number): Prepared {
    const nhwc = (c: number, h: number, w: number, pitchH: number, pitchW: number) =>
      this.md([g.n, c, h, w], [pitchH * pitchW * c, 1, pitchW * c, c]);
    const copies = [
      [nhwc(g.cin, g.h, g.w, g.h, g.w), nhwc(g.cin, g.h, g.w, hp, wp)],
      [nhwc(g.cout, g.outH, g.outW, g.outH, g.outW), nhwc(g.cout, g.outH, g.outW, hp, wp)],
    ];
    const mems: bigint[] = [];
    const reorders: Reorder[] = copies.map(([from, to]) => {
      const [memFrom, memTo] = [this.memory(of(from), false), this.memory(of(to), false)];
      mems.push(memFrom, memTo);
      const pd = handleOut();
      check(
        this.f.dnnl_reorder_primitive_desc_create(pd, of(from), this.engine, of(to), this.engine, null),
        "reorder_primitive_desc_create",
      );
      return {
        prim: this.primitive(pd),
        args: OneDnnPrimitives.args([[DNNL_ARG_FROM, memFrom], [DNNL_ARG_TO, memTo]]),
        nArgs: 2,
        user: memFrom,
      };
    });
    // run as: the first reorder "before", the second as the primitive itself
    const [first, second] = reorders;
    return {
      prim: second.prim,
      args: second.args,
      nArgs: 2,
      mems,
      before: [first],
      after: [],
      impl: "reorder",
    };
  }

  private cached(key: string, build: () => Prepared): Prepared {
    let c = this.cache.get(key);
    if (!c) {
      c = build();
      this.cache.set(key, c);
    }
    return c;
  }

  /** dx = dy where y > 0, else 0, over `size` floats (buffers y, dy, dx). */
  reluBackward(size: number, buffers: Deno.PointerValue[]): void {
    const key = `relu${size}`;
    let c = this.cache.get(key);
    if (!c) {
      c = this.buildReluBackward(size);
      this.cache.set(key, c);
    }
    this.execute(c, buffers);
  }

  /** Reordered weights copies held (see {@link WeightCopies}). */
  weightCopies(): number {
    return this.weights.count();
  }

  /** oneDNN's implementation name of each cached primitive (for profiles), by cache key. */
  implementations(): Map<string, string> {
    return new Map([...this.cache].map(([k, c]) => [k, c.impl]));
  }
}

/**
 * Zeroes, in `a` viewed as [n, hp, wp, c], every position outside rows [top, bottom) × columns [left, right)
 * of each image.
 */
function zeroOutside(
  a: Float32Array,
  n: number,
  hp: number,
  wp: number,
  c: number,
  top: number,
  bottom: number,
  left: number,
  right: number,
): void {
  const row = wp * c;
  for (let b = 0; b < n; b++) {
    const base = b * hp * row;
    if (top > 0) a.fill(0, base, base + top * row);
    if (bottom < hp) a.fill(0, base + bottom * row, base + hp * row);
    if (left === 0 && right === wp) continue;
    for (let h = top; h < bottom; h++) {
      const r = base + h * row;
      if (left > 0) a.fill(0, r, r + left * c);
      if (right < wp) a.fill(0, r + right * c, r + row);
    }
  }
}
