/**
 * SSD300 as a TensorFlow GraphDef for tfjs-converter's `loadGraphModel`: the network of lib/ssd/model.ts
 * `ssdForward` (same conv tables, same pools, the conv4_3 L2 norm with its rescale, the heads reshaped and
 * concatenated in the reference's prior order), plus a detection head that does what lib/ssd/detect.ts
 * `detectObjects` does (decode against the priors, softmax, per-class score threshold and NMS, top-k).
 *
 * Inputs: `image` float32 NHWC [N, 300, 300, 3], already normalised (RGB / 255, ImageNet mean/std), and three
 * optional scalars (`PlaceholderWithDefault`): `min_score`, `max_overlap` (float32) and `top_k` (int32).
 * Outputs: `locs` [N, 8732, 4] offsets and `scores` [N, 8732, n_classes] logits, exactly `ssdForward`'s;
 * `detection_boxes` [K, 4] fractional (x_min, y_min, x_max, y_max), `detection_scores` [K] softmax scores and
 * `detection_classes` [K] int32 class ids (≥ 1) of the FIRST image of the batch, best score first, K ≤ top_k.
 * The detection outputs contain `NonMaxSuppressionV5`, so they need `executeAsync`; `locs`/`scores` run with
 * `execute`/`predict`. TF's NMS suppresses a box at IoU ≥ `max_overlap`, the reference at IoU >: the two
 * differ only on exact ties.
 * @module
 */
import type { ConvSpec } from "../ssd/model.ts";
import { N_PRIORS } from "../ssd/priors.ts";
import { CENTER_VARIANCE_DIVISOR, SIZE_VARIANCE_FACTOR } from "../ssd/boxes.ts";
import type { DetectOptions } from "../ssd/postprocess.ts";
import { SSD_INPUT_SIDE } from "../ssd/preprocess.ts";
import { attr, type AttrValue, type ConstTensor, GraphBuilder, type GraphDef } from "./graphdef.ts";
import { type PoolSpec, splitPriors, torchConvSide, torchPoolSide, walkSsdNetwork } from "./ssd_network.ts";

/** Names of the graph's inputs and outputs (node names; the signature uses the same keys). */
export const GRAPH_INPUTS = {
  image: "image",
  minScore: "min_score",
  maxOverlap: "max_overlap",
  topK: "top_k",
};
export const GRAPH_OUTPUTS = {
  locs: "locs",
  scores: "scores",
  boxes: "detection_boxes",
  detectionScores: "detection_scores",
  classes: "detection_classes",
} as const;

/** `signature` entry of model.json (TensorInfo as JSON). */
export interface TensorInfoJson {
  name: string;
  dtype: "DT_FLOAT" | "DT_INT32";
  tensorShape: { dim?: { size: string }[] };
}

/** What {@link buildSsdGraph} returns: the GraphDef, its constants (weights), and the signature. */
export interface SsdGraph {
  graph: GraphDef;
  constants: ConstTensor[];
  signature: { inputs: Record<string, TensorInfoJson>; outputs: Record<string, TensorInfoJson> };
}

/** The model's values, read out of its variables (our layout: HWIO weights, rescale [1, 1, 1, 512]). */
export interface SsdGraphInput {
  nClasses: number;
  params: ReadonlyMap<string, Float32Array>;
  /** [8732 * 4] fractional (cx, cy, w, h) of the model's prior set */
  priorsCxcy: Float32Array;
  /** defaults of the optional `min_score`, `max_overlap`, `top_k` inputs */
  detectDefaults: DetectOptions;
}

/**
 * TF padding attrs reproducing torch's symmetric `padding=pad` on a `side`×`side` input: "VALID" for pad 0,
 * "SAME" when TF's SAME puts exactly `pad` rows before (and yields the same size), else "EXPLICIT" (e.g.
 * conv9_2: stride 2 on an even side, where SAME would pad only after).
 */
export function convPadding(side: number, c: ConvSpec): Record<string, AttrValue> {
  const out = torchConvSide(side, c);
  if (c.pad === 0) return { padding: attr.string("VALID") };
  const sameOut = Math.ceil(side / c.stride);
  const total = Math.max((sameOut - 1) * c.stride + c.dilation * (c.k - 1) + 1 - side, 0);
  if (sameOut === out && Math.floor(total / 2) === c.pad) return { padding: attr.string("SAME") };
  return {
    padding: attr.string("EXPLICIT"),
    explicit_paddings: attr.ints([0, 0, c.pad, c.pad, c.pad, c.pad, 0, 0]),
  };
}

/**
 * TF padding of a torch max-pool on a `side`×`side` input: "VALID" without padding or ceil mode, else "SAME",
 * which equals torch's here (pool3: ceil mode, SAME pads one row after; pool5: 3×3, stride 1, SAME pads one on
 * each side; padding never wins a max).
 * @throws Error for a pool that SAME does not reproduce
 */
export function poolPadding(side: number, p: PoolSpec): "VALID" | "SAME" {
  if (p.pad === 0 && !p.ceilMode) return "VALID";
  const out = Math.ceil(side / p.stride);
  const before = Math.floor(Math.max((out - 1) * p.stride + p.k - side, 0) / 2);
  if (out !== torchPoolSide(side, p) || before !== p.pad) {
    throw new Error(`internal: ${p.name} on ${side}×${side} is not TF's SAME`);
  }
  return "SAME";
}

const F32 = attr.dtype("float32");
const I32 = attr.dtype("int32");

/**
 * Builds the SSD300 graph (see the module doc) from the model's parameter values and priors.
 * @throws RangeError when a parameter is missing or has the wrong size
 */
export function buildSsdGraph(input: SsdGraphInput): SsdGraph {
  const { nClasses, params } = input;
  const g = new GraphBuilder();
  const weight = (name: string, shape: number[]): string => {
    const data = params.get(name);
    if (!data) throw new RangeError(`buildSsdGraph: no parameter '${name}'`);
    return g.constant(name, "float32", shape, data, true);
  };
  const int32 = (name: string, values: number[], shape = [values.length]) =>
    g.constant(name, "int32", shape, values, false);
  const float32 = (name: string, value: number) => g.constant(name, "float32", [], [value], false);

  const conv = (c: ConvSpec, x: string, side: number): string => {
    const w = weight(`${c.name}.weight`, [c.k, c.k, c.inC, c.outC]);
    const b = weight(`${c.name}.bias`, [c.outC]);
    return g.op(c.name, "_FusedConv2D", [x, w, b], {
      T: F32,
      strides: attr.ints([1, c.stride, c.stride, 1]),
      ...convPadding(side, c),
      data_format: attr.string("NHWC"),
      dilations: attr.ints([1, c.dilation, c.dilation, 1]),
      use_cudnn_on_gpu: attr.bool(true),
      fused_ops: attr.strings(c.relu ? ["BiasAdd", "Relu"] : ["BiasAdd"]),
      num_args: attr.int(1),
      epsilon: attr.float(0),
    });
  };
  const pool = (p: PoolSpec, x: string, side: number): string =>
    g.op(p.name, "MaxPool", [x], {
      T: F32,
      ksize: attr.ints([1, p.k, p.k, 1]),
      strides: attr.ints([1, p.stride, p.stride, 1]),
      padding: attr.string(poolPadding(side, p)),
      data_format: attr.string("NHWC"),
    });

  // --- the network (ssdForward) ---
  const image = g.placeholder(GRAPH_INPUTS.image, "float32", [-1, SSD_INPUT_SIDE, SSD_INPUT_SIDE, 3]);
  let axis1: string | undefined; // made at the first concat, after the weights (model.json keeps that order)
  const { locs, scores } = walkSsdNetwork(nClasses, image, {
    conv,
    pool,
    l2norm: (conv43) => {
      // conv4_3 L2-normalised over channels, times the learned per-channel rescale
      const sq = g.op("l2norm/square", "Square", [conv43], { T: F32 });
      const sum = g.op("l2norm/sum", "Sum", [sq, int32("l2norm/axis", [3])], {
        T: F32,
        Tidx: I32,
        keep_dims: attr.bool(true),
      }); // [N, 38, 38, 1]
      const norm = g.op("l2norm/sqrt", "Sqrt", [sum], { T: F32 });
      const unit = g.op("l2norm/div", "RealDiv", [conv43, norm], { T: F32 });
      return g.op("l2norm/rescale", "Mul", [unit, weight("rescale_factors", [1, 1, 1, 512])], { T: F32 });
    },
    // NHWC is the reference's permute(0, 2, 3, 1): reshaping orders priors by row, column, box
    head: (c, map, side, priors, width) =>
      g.op(
        `${c.name}/reshape`,
        "Reshape",
        [conv(c, map, side), int32(`${c.name}/shape`, [-1, priors, width])],
        { T: F32, Tshape: I32 },
      ), // [N, H·W·boxes, width]
    concat: (name, parts) =>
      g.op(GRAPH_OUTPUTS[name], "ConcatV2", [...parts, axis1 ??= int32("concat/axis", [1], [])], {
        T: F32,
        Tidx: I32,
        N: attr.int(parts.length),
      }), // [N, 8732, 4 | C]
  });

  // --- detections of image 0 (detectObjects) ---
  const d = input.detectDefaults;
  const minScore = g.placeholderWithDefault(GRAPH_INPUTS.minScore, "float32", d.minScore);
  const maxOverlap = g.placeholderWithDefault(GRAPH_INPUTS.maxOverlap, "float32", d.maxOverlap);
  const topK = g.placeholderWithDefault(GRAPH_INPUTS.topK, "int32", d.topK);
  const boxes = decodeBoxes(g, locs, input.priorsCxcy); // [8732, 4] xyxy
  const gather0 = (name: string, t: string, indices: string) =>
    g.op(name, "GatherV2", [t, indices, int32(`${name}/axis`, [0], [])], {
      Tparams: F32,
      Tindices: I32,
      Taxis: I32,
      batch_dims: attr.int(0),
    });
  const first = int32("detect/first_image", [0], []);
  const logits0 = gather0("detect/logits", scores, first); // [8732, C]
  const probs = g.op("detect/softmax", "Softmax", [logits0], { T: F32 }); // [8732, C]
  const perClass = g.op("detect/per_class", "Unpack", [probs], {
    T: F32,
    num: attr.int(nClasses),
    axis: attr.int(1),
  });
  const maxOut = int32("detect/max_per_class", [N_PRIORS], []);
  const softSigma = float32("detect/soft_nms_sigma", 0);
  const classBoxes: string[] = [], classScores: string[] = [], classIds: string[] = [];
  for (let c = 1; c < nClasses; c++) {
    const prefix = `detect/class_${c}`;
    const nms = g.op(`${prefix}/nms`, "NonMaxSuppressionV5", [
      boxes,
      `${perClass}:${c}`,
      maxOut,
      maxOverlap,
      minScore,
      softSigma,
    ], { T: F32, pad_to_max_output_size: attr.bool(false) });
    classBoxes.push(gather0(`${prefix}/boxes`, boxes, `${nms}:0`)); // [k_c, 4]
    classScores.push(`${nms}:1`); // [k_c]
    const count = g.op(`${prefix}/count`, "Shape", [`${nms}:0`], { T: I32, out_type: I32 }); // [1] = [k_c]
    classIds.push(g.op(`${prefix}/classes`, "Fill", [count, int32(`${prefix}/id`, [c], [])], {
      T: I32,
      index_type: I32,
    })); // [k_c] int32
  }
  const join = (name: string, parts: string[], dtype: AttrValue) =>
    parts.length === 1
      ? g.op(name, "Identity", parts, { T: dtype })
      : g.op(name, "ConcatV2", [...parts, int32(`${name}/axis`, [0], [])], {
        T: dtype,
        Tidx: I32,
        N: attr.int(parts.length),
      });
  const allBoxes = join("detect/all_boxes", classBoxes, F32); // [K, 4], classes in order
  const allScores = join("detect/all_scores", classScores, F32); // [K]
  const allClasses = join("detect/all_classes", classIds, I32); // [K]
  const total = g.op("detect/total", "Size", [allScores], { T: F32, out_type: I32 });
  const k = g.op("detect/k", "Minimum", [total, topK], { T: I32 });
  const top = g.op("detect/top_k", "TopKV2", [allScores, k], { T: F32, sorted: attr.bool(true) });
  g.op(GRAPH_OUTPUTS.boxes, "GatherV2", [allBoxes, `${top}:1`, int32("detect/boxes_axis", [0], [])], {
    Tparams: F32,
    Tindices: I32,
    Taxis: I32,
    batch_dims: attr.int(0),
  });
  g.op(GRAPH_OUTPUTS.detectionScores, "Identity", [`${top}:0`], { T: F32 });
  g.op(GRAPH_OUTPUTS.classes, "GatherV2", [allClasses, `${top}:1`, int32("detect/classes_axis", [0], [])], {
    Tparams: I32,
    Tindices: I32,
    Taxis: I32,
    batch_dims: attr.int(0),
  });

  const info = (name: string, dtype: TensorInfoJson["dtype"], dims: number[]): TensorInfoJson => ({
    name: `${name}:0`,
    dtype,
    tensorShape: { dim: dims.map((s) => ({ size: String(s) })) },
  });
  return {
    graph: g.graphDef(),
    constants: g.constants,
    signature: {
      inputs: { [GRAPH_INPUTS.image]: info(image, "DT_FLOAT", [-1, SSD_INPUT_SIDE, SSD_INPUT_SIDE, 3]) },
      outputs: {
        [GRAPH_OUTPUTS.locs]: info(GRAPH_OUTPUTS.locs, "DT_FLOAT", [-1, N_PRIORS, 4]),
        [GRAPH_OUTPUTS.scores]: info(GRAPH_OUTPUTS.scores, "DT_FLOAT", [-1, N_PRIORS, nClasses]),
        [GRAPH_OUTPUTS.boxes]: info(GRAPH_OUTPUTS.boxes, "DT_FLOAT", [-1, 4]),
        [GRAPH_OUTPUTS.detectionScores]: info(GRAPH_OUTPUTS.detectionScores, "DT_FLOAT", [-1]),
        [GRAPH_OUTPUTS.classes]: info(GRAPH_OUTPUTS.classes, "DT_INT32", [-1]),
      },
    },
  };
}

/**
 * Offsets of image 0 decoded against the priors and turned into corners (`gcxgcy_to_cxcy`, `cxcy_to_xy`), in
 * the operation order of lib/ssd/boxes.ts: c = l_c · p_wh / 10 + p_c, wh = exp(l_wh / 5) · p_wh, then c ∓ wh
 * / 2.
 * @returns the node of the [8732, 4] fractional (x_min, y_min, x_max, y_max) boxes
 */
function decodeBoxes(g: GraphBuilder, locs: string, priorsCxcy: Float32Array): string {
  const { centres, sizes } = splitPriors(priorsCxcy);
  const int32 = (name: string, values: number[], shape = [values.length]) =>
    g.constant(name, "int32", shape, values, false);
  const scalar = (name: string, v: number) => g.constant(name, "float32", [], [v], false);
  const pCentre = g.constant("priors/centre", "float32", [N_PRIORS, 2], centres, false); // (cx, cy)
  const pSize = g.constant("priors/size", "float32", [N_PRIORS, 2], sizes, false); // (w, h)
  const loc0 = g.op("decode/offsets", "GatherV2", [
    locs,
    int32("decode/first_image", [0], []),
    int32("decode/axis", [0], []),
  ], {
    Tparams: F32,
    Tindices: I32,
    Taxis: I32,
    batch_dims: attr.int(0),
  }); // [8732, 4]
  const slice = (name: string, begin: number) =>
    g.op(name, "Slice", [loc0, int32(`${name}/begin`, [0, begin]), int32(`${name}/size`, [-1, 2])], {
      T: F32,
      Index: I32,
    }); // [8732, 2]
  const op2 = (name: string, op: string, a: string, b: string) => g.op(name, op, [a, b], { T: F32 });
  const centre = op2(
    "decode/centre",
    "AddV2",
    op2(
      "decode/centre_scaled",
      "RealDiv",
      op2("decode/centre_offset", "Mul", slice("decode/loc_centre", 0), pSize),
      scalar("decode/center_variance", CENTER_VARIANCE_DIVISOR),
    ),
    pCentre,
  );
  const logSize = op2(
    "decode/log_size",
    "RealDiv",
    slice("decode/loc_size", 2),
    scalar("decode/size_variance", SIZE_VARIANCE_FACTOR),
  );
  const size = op2("decode/size", "Mul", g.op("decode/size_ratio", "Exp", [logSize], { T: F32 }), pSize);
  const half = op2("decode/half_size", "RealDiv", size, scalar("decode/two", 2));
  const mins = op2("decode/mins", "Sub", centre, half);
  const maxs = op2("decode/maxs", "AddV2", centre, half);
  return g.op("decode/boxes", "ConcatV2", [mins, maxs, int32("decode/concat_axis", [1], [])], {
    T: F32,
    Tidx: I32,
    N: attr.int(2),
  });
}
