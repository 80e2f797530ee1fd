/**
 * oneDNN (libdnnl.so.2, v2.x C API) primitives through Deno FFI on raw float32 buffers: convolution forward
 * (bias and ReLU fused), backward data, backward weights, and the ReLU backward (eltwise) — each built once per
 * shape and cached.
 *
 * Layouts: activations are NHWC and the caller's weights HWIO, described to oneDNN by strides (logical NCHW /
 * OIHW dims). The convolutions let oneDNN choose the weights' layout (`format_tag any`, its blocked formats): with
 * the HWIO strides it can only take its im2col+GEMM path (`gemm:jit`), with its own layout it takes the direct
 * AVX-512/AVX2 kernels (`brg:`/`jit:`). Weights are reordered into that layout by a cached reorder primitive —
 * once per weights tensor (the caller passes a key, TF.js's dataId, that changes when the weights do), and the
 * weight gradient is reordered back to HWIO after each backward-weights call.
 * Also max pooling's backward (NHWC).
 * @module
 */

/** oneDNN v2 C API constants (oneDNN 2.6 include/oneapi/dnnl/dnnl_types.h) */
const DNNL_F32 = 3;
const DNNL_FORMAT_TAG_ANY = 1;
const DNNL_FORWARD_TRAINING = 64;
const DNNL_FORWARD_INFERENCE = 96;
const DNNL_CONVOLUTION_DIRECT = 0x1;
const DNNL_ELTWISE_RELU = 0x1f;
const DNNL_POOLING_MAX = 0x1ff;
const DNNL_CPU = 1;
const DNNL_STREAM_IN_ORDER = 0x1;
const DNNL_QUERY_SRC_MD = 129, DNNL_QUERY_WEIGHTS_MD = 131, DNNL_QUERY_DIFF_WEIGHTS_MD = 132;
const DNNL_QUERY_DIFF_DST_MD = 134, DNNL_QUERY_WORKSPACE_MD = 135;
const DNNL_QUERY_IMPL_INFO_STR = 8;
const DNNL_ARG_SRC = 1, DNNL_ARG_DST = 17, DNNL_ARG_WEIGHTS = 33, DNNL_ARG_BIAS = 41;
const DNNL_ARG_WORKSPACE = 64;
const DNNL_ARG_DIFF_SRC = 129, DNNL_ARG_DIFF_DST = 145, DNNL_ARG_DIFF_WEIGHTS = 161, DNNL_ARG_DIFF_BIAS = 169;
const DNNL_ARG_FROM = DNNL_ARG_SRC, DNNL_ARG_TO = DNNL_ARG_DST;
const DNNL_MAX_NDIMS = 12;
/** input channels up to which the backward weights use oneDNN's blocked activation layouts (conv1_1's 3) */
const FEW_INPUT_CHANNELS = 4;
/**
 * output pixels from which the backward weights use the blocked layouts when oneDNN runs without AVX-512
 * (conv1_x at 300², conv2_x at 150²). Both are `jit:avx2`; measured (bench profile, batch 1, one thread,
 * ONEDNN_MAX_CPU_ISA=AVX2, shared machine) the layers' backward took ms/img NHWC → blocked (nChw8c, reorders
 * included): conv1_2 456–543 → 181, conv2_1 188 → 78–81, conv2_2 382–459 → 152–154; from 75² down (conv3_x,
 * conv4_x, conv5_x, conv6) blocked measured no faster, some slower. With AVX-512 the NHWC kernel is kept.
 */
const BLOCKED_MIN_PIXELS_AVX2 = 150 * 150;
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
  dnnl_pooling_forward_desc_init: { parameters: [B, "i32", "i32", B, B, B, B, B, B], result: "i32" },
  dnnl_pooling_backward_desc_init: { parameters: [B, "i32", B, B, B, B, B, B], result: "i32" },
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
  dnnl_primitive_execute: { parameters: [P, P, "i32", B], result: "i32" },
  dnnl_stream_wait: { parameters: [P], result: "i32" },
  dnnl_get_effective_cpu_isa: { parameters: [], result: "i32" },
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
 * - "backwardData": buffers dy, w, dx;
 * - "backwardWeights": buffers x, dy, dw (HWIO)[, db] (db when `bias`).
 */
export type PrimitiveKind = "forward" | "backwardData" | "backwardWeights";

interface Reorder {
  prim: Deno.PointerObject;
  args: Uint8Array;
  nArgs: number;
  /** the memory object over the caller's HWIO buffer */
  user: bigint;
  /** a weights reorder: skipped while the caller's key equals the one of the last run */
  keyed: boolean;
  key?: unknown;
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

/** oneDNN convolutions and ReLU backward on one engine and stream (one per thread). */
export class OneDnnPrimitives {
  private readonly engine: Deno.PointerObject;
  private readonly stream: Deno.PointerObject;
  private readonly cache = new Map<string, Prepared>();
  /** whether oneDNN may use AVX-512 (not on an AVX2 CPU, nor under ONEDNN_MAX_CPU_ISA=AVX2) */
  private readonly avx512: boolean;

  constructor(private readonly f: Dnnl) {
    this.avx512 = (f.dnnl_get_effective_cpu_isa() & DNNL_CPU_ISA_AVX512_CORE_BIT) !== 0;
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

  private mdAny(logical: number[]): Uint8Array {
    const m = new Uint8Array(MEMORY_DESC_BYTES);
    check(
      this.f.dnnl_memory_desc_init_by_tag(m, logical.length, dims(logical), DNNL_F32, DNNL_FORMAT_TAG_ANY),
      "memory_desc_init_by_tag",
    );
    return m;
  }

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
   * The memory a primitive argument uses for a caller's buffer described by `user`, given the layout the primitive
   * chose: the caller's memory itself when the layouts agree, else an internal buffer (allocated here) and a reorder
   * between the two (into the internal one for inputs, out of it for outputs).
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
    const internalMem = this.memory(chosen, true);
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
        keyed,
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
    // activations stay NHWC, except for the backward weights of a layer with few input channels (conv1_1, 3):
    // there oneDNN's NHWC kernel reaches ≈ 13 GFLOP/s, its blocked (nchw / nChw16c) one, with the reorders of x and
    // dY, takes half the time (≈ 11 vs 24 ms per image). For wider layers the blocked kernel measured no faster
    // and the reorders cost ≈ 80 ms per image — on AVX-512; on AVX2 it is faster at high resolutions (see
    // BLOCKED_MIN_PIXELS_AVX2).
    const blocked = kind === "backwardWeights" &&
      (g.cin <= FEW_INPUT_CHANNELS || (!this.avx512 && g.outH * g.outW >= BLOCKED_MIN_PIXELS_AVX2));
    const src = blocked ? this.mdAny([g.n, g.cin, g.h, g.w]) : srcUser;
    const dst = blocked ? this.mdAny(dstLogical) : dstUser;
    const geometry: [BigInt64Array, BigInt64Array, BigInt64Array, BigInt64Array] = [
      dims([g.strideH, g.strideW]),
      dims([g.dilH - 1, g.dilW - 1]), // oneDNN counts dilation from 0
      dims([g.padTop, g.padLeft]),
      dims([g.padBottom, g.padRight]),
    ];
    // (algorithm, src, weights, bias, dst, strides, dilates, padding l/r): the forward and backward-weights tail
    const withBias = [DNNL_CONVOLUTION_DIRECT, src, wei, bia, dst, ...geometry] as const;
    const fwdDesc = new Uint8Array(OP_DESC_BYTES);
    const propKind = kind === "forward" ? DNNL_FORWARD_INFERENCE : DNNL_FORWARD_TRAINING;
    check(
      f.dnnl_dilated_convolution_forward_desc_init(fwdDesc, propKind, ...withBias),
      "convolution_forward_desc_init",
    );
    let attr: Deno.PointerObject | null = null;
    if (g.relu && kind === "forward") {
      const a = handleOut(), po = handleOut();
      check(f.dnnl_primitive_attr_create(a), "primitive_attr_create");
      check(f.dnnl_post_ops_create(po), "post_ops_create");
      check(f.dnnl_post_ops_append_eltwise(ptr(po), 1, DNNL_ELTWISE_RELU, 0, 0), "post_ops_append_eltwise");
      check(f.dnnl_primitive_attr_set_post_ops(ptr(a), ptr(po)), "primitive_attr_set_post_ops");
      attr = ptr(a);
    }
    const fwd = this.pd(fwdDesc, attr, null);
    let pd = fwd;
    if (kind !== "forward") {
      const desc = new Uint8Array(OP_DESC_BYTES);
      check(
        kind === "backwardData"
          ? f.dnnl_dilated_convolution_backward_data_desc_init(
            desc,
            DNNL_CONVOLUTION_DIRECT,
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
    if (kind === "forward") {
      const wei = stage(weiUser, q(DNNL_QUERY_WEIGHTS_MD), true, true);
      const [x, b, y] = [direct(srcUser), bia ? direct(bia) : 0n, direct(dstUser)];
      mems = bia ? [x, wei.user, b, y] : [x, wei.user, y];
      entries = [[DNNL_ARG_SRC, x], [DNNL_ARG_WEIGHTS, wei.arg], [DNNL_ARG_DST, y]];
      if (bia) entries.push([DNNL_ARG_BIAS, b]);
    } else if (kind === "backwardData") {
      const wei = stage(weiUser, q(DNNL_QUERY_WEIGHTS_MD), true, true);
      const [dy, dx] = [direct(dstUser), direct(srcUser)];
      mems = [dy, wei.user, dx];
      entries = [[DNNL_ARG_DIFF_DST, dy], [DNNL_ARG_WEIGHTS, wei.arg], [DNNL_ARG_DIFF_SRC, dx]];
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

  private buildMaxPoolBackward(p: PoolGeometry): Prepared {
    const f = this.f;
    const nhwc = (h: number, w: number) => this.md([p.n, p.c, h, w], [h * w * p.c, 1, w * p.c, p.c]);
    const src = nhwc(p.h, p.w), dst = nhwc(p.outH, p.outW);
    const geometry = [
      dims([p.strideH, p.strideW]),
      dims([p.kh, p.kw]),
      dims([p.padTop, p.padLeft]),
      dims([p.padBottom, p.padRight]),
    ] as const;
    const fwdDesc = new Uint8Array(OP_DESC_BYTES);
    check(
      f.dnnl_pooling_forward_desc_init(
        fwdDesc,
        DNNL_FORWARD_TRAINING,
        DNNL_POOLING_MAX,
        src,
        dst,
        ...geometry,
      ),
      "pooling_forward_desc_init",
    );
    const fwd = this.pd(fwdDesc, null, null);
    const desc = new Uint8Array(OP_DESC_BYTES);
    check(
      f.dnnl_pooling_backward_desc_init(desc, DNNL_POOLING_MAX, src, dst, ...geometry),
      "pooling_backward_desc_init",
    );
    const pd = this.pd(desc, null, fwd);
    const ws = f.dnnl_primitive_desc_query_md(ptr(fwd), DNNL_QUERY_WORKSPACE_MD, 0);
    if (!ws) throw new OneDnnError("oneDNN max pooling has no workspace");
    const [x, dy, dx] = [
      this.memory(of(src), false),
      this.memory(of(dst), false),
      this.memory(of(src), false),
    ];
    const [y, workspace] = [this.memory(of(dst), true), this.memory(ws, true)];
    // the forward again, for the workspace (the arg-max of each window): a memory-bound pass over x
    const forward: Reorder = {
      prim: this.primitive(fwd),
      args: OneDnnPrimitives.args([[DNNL_ARG_SRC, x], [DNNL_ARG_DST, y], [DNNL_ARG_WORKSPACE, workspace]]),
      nArgs: 3,
      user: x,
      keyed: false,
    };
    return {
      prim: this.primitive(pd),
      args: OneDnnPrimitives.args([[DNNL_ARG_DIFF_DST, dy], [DNNL_ARG_WORKSPACE, workspace], [
        DNNL_ARG_DIFF_SRC,
        dx,
      ]]),
      nArgs: 3,
      mems: [x, dy, dx],
      before: [forward],
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
      if (r.keyed && weightsKey !== undefined && r.key === weightsKey) continue;
      check(f.dnnl_primitive_execute(r.prim, this.stream, r.nArgs, r.args), "primitive_execute (before)");
      r.key = weightsKey;
    }
    check(f.dnnl_primitive_execute(c.prim, this.stream, c.nArgs, c.args), "primitive_execute");
    for (const r of c.after) {
      check(f.dnnl_primitive_execute(r.prim, this.stream, r.nArgs, r.args), "primitive_execute (before)");
    }
    check(f.dnnl_stream_wait(this.stream), "stream_wait");
  }

  /**
   * Runs a convolution pass (see {@link PrimitiveKind} for the buffers, pointers into the WASM heap).
   * @param weightsKey identifies the weights' contents (forward, backward data): while it is the same object as at
   *   the last call of this primitive, the reordered copy is reused; undefined = reorder every call
   */
  conv(g: ConvGeometry, kind: PrimitiveKind, buffers: Deno.PointerValue[], weightsKey?: unknown): void {
    const key = kind + JSON.stringify(g);
    let c = this.cache.get(key);
    if (!c) {
      c = this.buildConv(g, kind);
      this.cache.set(key, c);
    }
    this.execute(c, buffers, weightsKey);
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

  /** dL/dx of a max pooling (buffers x, dy, dx; NHWC): dy goes to each window's maximum. */
  maxPoolBackward(p: PoolGeometry, buffers: Deno.PointerValue[]): void {
    const key = "maxpool" + JSON.stringify(p);
    let c = this.cache.get(key);
    if (!c) {
      c = this.buildMaxPoolBackward(p);
      this.cache.set(key, c);
    }
    this.execute(c, buffers);
  }

  /** oneDNN's implementation name of each cached primitive (for profiles), by cache key. */
  implementations(): Map<string, string> {
    return new Map([...this.cache].map(([k, c]) => [k, c.impl]));
  }
}
