/**
 * SSD300 as an ONNX graph (opset 13): the network of lib/ssd/model.ts `ssdForward` in NCHW, walked by
 * lib/export/ssd_network.ts as the TF.js graph model is, and a detection head that does what lib/ssd/detect.ts
 * `detectObjects` does for every image of the batch with ONNX's own ops (decode against the priors, softmax,
 * `NonMaxSuppression` per class, the top-k per image).
 *
 * Input `image`: float32 NCHW [N, 3, 300, 300], RGB / 255 then ImageNet mean/std (the reference's own input);
 * scalars `min_score`, `max_overlap` (float32) and `top_k` (int64), required (the metadata's `detect_defaults`
 * hold `deno task detect`'s values; onnxruntime-node cannot feed inputs that have defaults).
 * Outputs:
 * - `locs` [N, 8732, 4]: offsets (g_cx, g_cy, g_w, g_h) against the priors: box centre = prior centre +
 *   g_c · prior size / 10, box size = prior size · exp(g_wh / 5) (`gcxgcy_to_cxcy`);
 * - `scores` [N, 8732, n_classes]: class logits before softmax; priors in the reference's order (map by map,
 *   then row, column, box);
 * - `detection_boxes` [K, 4] fractional (x_min, y_min, x_max, y_max), `detection_scores` [K] softmax scores,
 *   `detection_classes` [K] int64 class ids (≥ 1), `detection_image_index` [K] int64 image of the batch: every
 *   image's detections, images in batch order, each best score first, at most `top_k` per image. A box is kept
 *   when its class score is > `min_score` and NMS suppresses at IoU > `max_overlap`, both as the reference.
 *
 * Weights are stored as float32, float16 or uint8 (`Quantization`, the graph model's choices); quantised ones
 * are turned back into float32 by `Cast` (and `Mul`/`Add` for uint8: q · scale + min, lib/export/shards.ts)
 * inside the graph, which runtimes fold into constants when they load the model, so every quantisation computes
 * in float32. The priors stay float32.
 * @module
 */
import type { ConvSpec } from "../ssd/model.ts";
import { CENTER_VARIANCE_DIVISOR, SIZE_VARIANCE_FACTOR } from "../ssd/boxes.ts";
import type { DetectOptions } from "../ssd/postprocess.ts";
import { N_PRIORS } from "../ssd/priors.ts";
import { SSD_INPUT_SIDE } from "../ssd/preprocess.ts";
import { transpose4d } from "../core/transpose.ts";
import { type OnnxAttr, onnxElemType, OnnxGraphBuilder } from "./onnx_proto.ts";
import { type Quantization, quantizeFloat16, quantizeUint8 } from "./shards.ts";
import { type PoolSpec, splitPriors, walkSsdNetwork } from "./ssd_network.ts";

/** Names of the ONNX graph's inputs. */
export const ONNX_INPUTS = {
  image: "image",
  minScore: "min_score",
  maxOverlap: "max_overlap",
  topK: "top_k",
} as const;

/** Names of the ONNX graph's outputs. */
export const ONNX_OUTPUTS = {
  locs: "locs",
  scores: "scores",
  boxes: "detection_boxes",
  detectionScores: "detection_scores",
  classes: "detection_classes",
  imageIndex: "detection_image_index",
} as const;

/** What each output holds, written into the graph's doc strings and the model's metadata. */
export const ONNX_OUTPUT_DOCS: Readonly<Record<string, string>> = {
  [ONNX_OUTPUTS.locs]: "[N, 8732, 4] box offsets (g_cx, g_cy, g_w, g_h) against the priors: centre = prior " +
    "centre + g_c · prior size / 10, size = prior size · exp(g_wh / 5); the reference's prior order",
  [ONNX_OUTPUTS.scores]: "[N, 8732, n_classes] class logits (before softmax), same prior order",
  [ONNX_OUTPUTS.boxes]:
    "[K, 4] fractional (x_min, y_min, x_max, y_max) of the detections, every image's in " +
    "batch order, each best score first, at most top_k per image",
  [ONNX_OUTPUTS.detectionScores]: "[K] softmax scores of those boxes (> min_score)",
  [ONNX_OUTPUTS.classes]: "[K] int64 class ids (index into the metadata's classes; ≥ 1)",
  [ONNX_OUTPUTS.imageIndex]: "[K] int64 index of each detection's image in the batch",
};

/** The model's values (our layout: HWIO weights, rescale [1, 1, 1, 512]) and how to store them. */
export interface SsdOnnxInput {
  nClasses: number;
  params: ReadonlyMap<string, Float32Array>;
  /** [8732 * 4] fractional (cx, cy, w, h) of the model's prior set */
  priorsCxcy: Float32Array;
  /** `deno task detect`'s `min_score`, `max_overlap`, `top_k`, named in the inputs' doc strings */
  detectDefaults: DetectOptions;
  quantize: Quantization;
}

const FLOAT = onnxElemType("float32");

/** HWIO [k, k, in, out] → ONNX's OIHW [out, in, k, k]. */
export function hwioToOihw(w: Float32Array, k: number, inC: number, outC: number): Float32Array {
  if (w.length !== k * k * inC * outC) {
    throw new RangeError(`hwioToOihw: ${w.length} values for [${k}, ${k}, ${inC}, ${outC}]`);
  }
  return transpose4d(w, [k, k, inC, outC], [3, 2, 0, 1]);
}

/**
 * Builds the SSD300 ONNX graph (see the module doc) from the model's parameter values and priors.
 * @throws RangeError when a parameter is missing or has the wrong size
 */
export function buildSsdOnnx(input: SsdOnnxInput): OnnxGraphBuilder {
  const { nClasses, params } = input;
  const g = new OnnxGraphBuilder();
  const param = (name: string): Float32Array => {
    const data = params.get(name);
    if (!data) throw new RangeError(`buildSsdOnnx: no parameter '${name}'`);
    return data;
  };
  /** A learned tensor in the export's storage type; returns its float32 value's name. */
  const weight = (name: string, dims: number[], data: Float32Array): string => {
    if (input.quantize === "none") return g.initializer(name, "float32", dims, data);
    if (input.quantize === "float16") {
      g.initializer(name, "float16", dims, quantizeFloat16(data));
      return g.op("Cast", `${name}/dequantized`, [name], { to: { int: FLOAT } });
    }
    const q = quantizeUint8(data);
    g.initializer(name, "uint8", dims, q.values);
    const asFloat = g.op("Cast", `${name}/float`, [name], { to: { int: FLOAT } });
    const scaled = g.op("Mul", `${name}/scaled`, [asFloat, g.float32(`${name}/scale`, [q.scale])]);
    return g.op("Add", `${name}/dequantized`, [scaled, g.float32(`${name}/min`, [q.min])]);
  };

  const conv = (c: ConvSpec, x: string): string => {
    const w = weight(
      `${c.name}.weight`,
      [c.outC, c.inC, c.k, c.k],
      hwioToOihw(param(`${c.name}.weight`), c.k, c.inC, c.outC),
    );
    const b = weight(`${c.name}.bias`, [c.outC], param(`${c.name}.bias`));
    const y = g.op("Conv", c.name, [x, w, b], {
      kernel_shape: { ints: [c.k, c.k] },
      strides: { ints: [c.stride, c.stride] },
      pads: { ints: [c.pad, c.pad, c.pad, c.pad] },
      dilations: { ints: [c.dilation, c.dilation] },
    });
    return c.relu ? g.op("Relu", `${c.name}/relu`, [y]) : y;
  };
  const pool = (p: PoolSpec, x: string): string =>
    g.op("MaxPool", p.name, [x], {
      kernel_shape: { ints: [p.k, p.k] },
      strides: { ints: [p.stride, p.stride] },
      pads: { ints: [p.pad, p.pad, p.pad, p.pad] },
      ceil_mode: { int: p.ceilMode ? 1 : 0 },
    });

  // --- the network (ssdForward), NCHW ---
  const image = g.input(ONNX_INPUTS.image, "float32", ["N", 3, SSD_INPUT_SIDE, SSD_INPUT_SIDE], IMAGE_DOC);
  const { locs, scores } = walkSsdNetwork(nClasses, image, {
    conv: (c, x) => conv(c, x),
    pool: (p, x) => pool(p, x),
    l2norm: (conv43) => {
      // conv4_3 [N, 512, 38, 38] L2-normalised over channels, times the learned per-channel rescale
      const sq = g.op("Mul", "l2norm/square", [conv43, conv43]);
      const sum = g.op("ReduceSum", "l2norm/sum", [sq, g.int64("l2norm/axes", [1])], {
        keepdims: { int: 1 },
      });
      const norm = g.op("Sqrt", "l2norm/sqrt", [sum]); // [N, 1, 38, 38]
      const unit = g.op("Div", "l2norm/div", [conv43, norm]);
      const rescale = weight("rescale_factors", [1, 512, 1, 1], param("rescale_factors"));
      return g.op("Mul", "l2norm/rescale", [unit, rescale]);
    },
    // the reference's permute(0, 2, 3, 1).view(N, −1, width): priors by row, column, box
    head: (c, map, _side, priors, width) => {
      const nhwc = g.op("Transpose", `${c.name}/nhwc`, [conv(c, map)], { perm: { ints: [0, 2, 3, 1] } });
      return g.op("Reshape", `${c.name}/reshape`, [nhwc, g.int64(`${c.name}/shape`, [-1, priors, width])]);
    },
    concat: (name, parts) => g.op("Concat", ONNX_OUTPUTS[name], parts, { axis: { int: 1 } }),
  });
  g.output(locs, "float32", ["N", N_PRIORS, 4], ONNX_OUTPUT_DOCS[ONNX_OUTPUTS.locs]);
  g.output(scores, "float32", ["N", N_PRIORS, nClasses], ONNX_OUTPUT_DOCS[ONNX_OUTPUTS.scores]);
  detectionHead(g, locs, scores, input);
  return g;
}

const IMAGE_DOC = "float32 NCHW [N, 3, 300, 300]: RGB resized to 300 × 300 (Pillow BILINEAR), / 255, then " +
  "(x − mean) / std per channel with ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)";

/** The detection outputs of every image (see the module doc). */
function detectionHead(g: OnnxGraphBuilder, locs: string, scores: string, input: SsdOnnxInput): void {
  const { nClasses } = input;
  const d = input.detectDefaults;
  const op = (type: string, name: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}) =>
    g.op(type, name, inputs, attrs);
  const i64 = (name: string, v: number[], dims?: number[]) => g.int64(name, v, dims);

  // scalar inputs, required (onnxruntime-node cannot feed an input that has an initializer as its default)
  g.input(
    ONNX_INPUTS.minScore,
    "float32",
    [],
    `keep boxes whose class score is > this (detect: ${d.minScore})`,
  );
  g.input(
    ONNX_INPUTS.maxOverlap,
    "float32",
    [],
    `NMS suppresses a box whose IoU with a kept box of its class is > this (detect: ${d.maxOverlap})`,
  );
  g.input(
    ONNX_INPUTS.topK,
    "int64",
    [],
    `at most this many detections per image, best first (detect: ${d.topK})`,
  );

  // decode (lib/ssd/boxes.ts decodeOffsets, cxcyToXyxy): [N, 8732, 4] fractional xyxy
  const { centres, sizes } = splitPriors(input.priorsCxcy);
  const pCentre = g.float32("priors/centre", centres, [N_PRIORS, 2]); // (cx, cy)
  const pSize = g.float32("priors/size", sizes, [N_PRIORS, 2]); // (w, h)
  const axis2 = i64("decode/axis", [2]);
  const slice = (name: string, from: number) =>
    op("Slice", name, [locs, i64(`${name}/starts`, [from]), i64(`${name}/ends`, [from + 2]), axis2]);
  const scaled = op("Mul", "decode/centre_offset", [slice("decode/loc_centre", 0), pSize]);
  const centre = op("Add", "decode/centre", [
    op("Div", "decode/centre_scaled", [
      scaled,
      g.float32("decode/center_variance", [CENTER_VARIANCE_DIVISOR]),
    ]),
    pCentre,
  ]);
  const logSize = op("Div", "decode/log_size", [
    slice("decode/loc_size", 2),
    g.float32("decode/size_variance", [SIZE_VARIANCE_FACTOR]),
  ]);
  const size = op("Mul", "decode/size", [op("Exp", "decode/size_ratio", [logSize]), pSize]);
  const half = op("Div", "decode/half_size", [size, g.float32("decode/two", [2])]);
  const boxes = op("Concat", "decode/boxes", [
    op("Sub", "decode/mins", [centre, half]),
    op("Add", "decode/maxs", [centre, half]),
  ], { axis: { int: 2 } });

  // softmax over classes; the foreground classes as NMS wants them: [N, C − 1, 8732]
  const probs = op("Softmax", "detect/softmax", [scores], { axis: { int: 2 } });
  const byClass = op("Transpose", "detect/by_class", [probs], { perm: { ints: [0, 2, 1] } });
  const fg = op("Slice", "detect/foreground", [
    byClass,
    i64("detect/fg_starts", [1]),
    i64("detect/fg_ends", [nClasses]),
    i64("detect/fg_axes", [1]),
  ]);
  // per image and class: score > min_score, greedy NMS at IoU > max_overlap, at most top_k (a class never
  // contributes more than top_k to an image's top_k); rows (image, class − 1, prior), classes in order
  const selected = op("NonMaxSuppression", "detect/nms", [
    boxes,
    fg,
    ONNX_INPUTS.topK,
    ONNX_INPUTS.maxOverlap,
    ONNX_INPUTS.minScore,
  ]); // [K, 3] int64
  const column = (name: string, k: number) =>
    op("Gather", name, [selected, i64(`${name}/column`, [k], [])], { axis: { int: 1 } }); // [K]
  const imageOf = column("detect/image", 0);
  const classOf = op("Add", "detect/class", [column("detect/class_fg", 1), i64("detect/one", [1], [])]);
  const scoreOf = op("GatherND", "detect/score", [fg, selected]); // [K]
  const boxOf = op("GatherND", "detect/box", [
    boxes,
    op("Gather", "detect/image_prior", [selected, i64("detect/image_prior_columns", [0, 2])], {
      axis: { int: 1 },
    }),
  ]); // [K, 4]

  // order: image ascending, then score descending (key = image − score, exact in float64; ties keep NMS order)
  const toDouble = (name: string, x: string) =>
    op("Cast", name, [x], { to: { int: onnxElemType("float64") } });
  const key = op("Sub", "detect/order_key", [
    toDouble("detect/image_f64", imageOf),
    toDouble("detect/score_f64", scoreOf),
  ]);
  const count = op("Shape", "detect/count", [scoreOf]); // [1] = [K]
  const [, order] = g.node(
    "TopK",
    "detect/sort",
    [key, count],
    { largest: { int: 0 }, sorted: { int: 1 } },
    2,
  );
  // rank of each detection within its image: position − the image's first position (counts' exclusive cumsum)
  const sortedImage = op("Gather", "detect/sorted_image", [imageOf, order]);
  const batch = op("Gather", "detect/batch", [
    op("Shape", "detect/locs_shape", [locs]),
    i64("detect/zero", [0], []),
  ]);
  const oneHot = op("OneHot", "detect/image_one_hot", [
    sortedImage,
    batch,
    i64("detect/one_hot_values", [0, 1]),
  ]);
  const perImage = op("ReduceSum", "detect/per_image", [oneHot, i64("detect/rows", [0])], {
    keepdims: { int: 0 },
  });
  const firstOf = op("CumSum", "detect/first_of_image", [perImage, i64("detect/cumsum_axis", [0], [])], {
    exclusive: { int: 1 },
  }); // [N]
  const positions = op("Range", "detect/positions", [
    i64("detect/range_start", [0], []),
    op("Squeeze", "detect/count_scalar", [count, i64("detect/squeeze_axes", [0])]),
    i64("detect/range_step", [1], []),
  ]);
  const rank = op("Sub", "detect/rank", [positions, op("Gather", "detect/first", [firstOf, sortedImage])]);
  const keep = op("Less", "detect/in_top_k", [rank, ONNX_INPUTS.topK]);
  const kept = op("Compress", "detect/kept", [order, keep], { axis: { int: 0 } });

  const pick = (name: string, x: string) => op("Gather", name, [x, kept], { axis: { int: 0 } });
  g.output(pick(ONNX_OUTPUTS.boxes, boxOf), "float32", ["K", 4], ONNX_OUTPUT_DOCS[ONNX_OUTPUTS.boxes]);
  g.output(
    pick(ONNX_OUTPUTS.detectionScores, scoreOf),
    "float32",
    ["K"],
    ONNX_OUTPUT_DOCS[ONNX_OUTPUTS.detectionScores],
  );
  g.output(pick(ONNX_OUTPUTS.classes, classOf), "int64", ["K"], ONNX_OUTPUT_DOCS[ONNX_OUTPUTS.classes]);
  g.output(pick(ONNX_OUTPUTS.imageIndex, imageOf), "int64", ["K"], ONNX_OUTPUT_DOCS[ONNX_OUTPUTS.imageIndex]);
}
