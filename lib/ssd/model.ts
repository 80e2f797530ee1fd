/**
 * SSD300 (VGG16 base, auxiliary convolutions, prediction heads) as plain tf.js ops on NHWC tensors, with the
 * parameters in a Map keyed by the reference's PyTorch names (`base.conv1_1.weight`, …, `rescale_factors`,
 * `aux_convs.*`, `pred_convs.*`).
 *
 * Layouts: images NHWC [B, 300, 300, 3]; conv weights HWIO [kh, kw, in, out]; biases [out];
 * `rescale_factors` [1, 1, 1, 512] (the reference's [1, 512, 1, 1] moved to channels-last).
 * @module
 */
import { mulberry32 } from "../core/rng.ts";
import * as tf from "@tensorflow/tfjs-core";
import { BOXES_PER_LOCATION, N_PRIORS, PRIOR_MAPS, type PriorSetName } from "./priors.ts";
import { SSD_INPUT_SIDE } from "./preprocess.ts";
/** Initial value of the conv4_3 L2-norm rescale factors (the reference's `nn.init.constant_(…, 20)`). */
export const RESCALE_INIT = 20;
/** Channels of conv4_3 (the rescaled map). */
export const CONV4_3_CHANNELS = 512;

/** A convolution of the network, by its reference name prefix (e.g. `base.conv6`). */
export interface ConvSpec {
  /** parameter prefix: weights are `${name}.weight`, bias `${name}.bias` */
  name: string;
  inC: number;
  outC: number;
  /** kernel side */
  k: number;
  stride: number;
  /** symmetric explicit zero padding, as torch's `padding=` */
  pad: number;
  dilation: number;
  /** followed by ReLU in the reference's forward */
  relu: boolean;
}

/**
 * The model: number of classes (incl. background), its parameters by reference name, and the prior set its
 * heads predict offsets against (lib/ssd/priors.ts `PRIOR_SETS`; undefined = "reference"). Every prior set has the
 * same boxes per location, so the parameter shapes do not depend on it.
 */
export interface SsdModel {
  nClasses: number;
  params: Map<string, tf.Variable>;
  priorSet?: PriorSetName;
  /**
   * Class names, background first (nClasses of them): a fine-tuned model's dataset category, e.g.
   * ["background", "car"]. Absent: lib/ssd/classes.ts `classNames(nClasses)` (VOC names, or `person`).
   */
  classNames?: readonly string[];
}

/** Options of one convolution for a {@link ConvFn}. */
export interface ConvOptions {
  stride: number;
  /** symmetric zero padding on both spatial dims (torch semantics) */
  pad: number;
  dilation: number;
  relu: boolean;
}

/**
 * A convolution implementation: x NHWC [B, H, W, in], w HWIO [k, k, in, out], b [out] → NHWC [B, H', W', out]
 * with H' = floor((H + 2·pad − dilation·(k − 1) − 1) / stride) + 1, bias added, then ReLU when `relu`.
 */
export type ConvFn = (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, o: ConvOptions) => tf.Tensor4D;

const conv = (
  name: string,
  inC: number,
  outC: number,
  k: number,
  extra: Partial<ConvSpec> = {},
): ConvSpec => ({
  name,
  inC,
  outC,
  k,
  stride: 1,
  pad: k === 3 ? 1 : 0,
  dilation: 1,
  relu: true,
  ...extra,
});

/** VGG16 base convs in forward order (the reference's `VGGBase`). Pools sit after conv1_2, 2_2, 3_3, 4_3, 5_3. */
export const BASE_CONVS: readonly ConvSpec[] = [
  conv("base.conv1_1", 3, 64, 3),
  conv("base.conv1_2", 64, 64, 3),
  conv("base.conv2_1", 64, 128, 3),
  conv("base.conv2_2", 128, 128, 3),
  conv("base.conv3_1", 128, 256, 3),
  conv("base.conv3_2", 256, 256, 3),
  conv("base.conv3_3", 256, 256, 3),
  conv("base.conv4_1", 256, 512, 3),
  conv("base.conv4_2", 512, 512, 3),
  conv("base.conv4_3", 512, 512, 3),
  conv("base.conv5_1", 512, 512, 3),
  conv("base.conv5_2", 512, 512, 3),
  conv("base.conv5_3", 512, 512, 3),
  conv("base.conv6", 512, 1024, 3, { pad: 6, dilation: 6 }), // atrous fc6
  conv("base.conv7", 1024, 1024, 1), // fc7
];

/** Auxiliary convs in forward order (the reference's `AuxiliaryConvolutions`). */
export const AUX_CONVS: readonly ConvSpec[] = [
  conv("aux_convs.conv8_1", 1024, 256, 1),
  conv("aux_convs.conv8_2", 256, 512, 3, { stride: 2, pad: 1 }), // 19 → 10
  conv("aux_convs.conv9_1", 512, 128, 1),
  conv("aux_convs.conv9_2", 128, 256, 3, { stride: 2, pad: 1 }), // 10 → 5
  conv("aux_convs.conv10_1", 256, 128, 1),
  conv("aux_convs.conv10_2", 128, 256, 3, { pad: 0 }), // 5 → 3
  conv("aux_convs.conv11_1", 256, 128, 1),
  conv("aux_convs.conv11_2", 128, 256, 3, { pad: 0 }), // 3 → 1
];

/**
 * Channels of the six feature maps the heads predict from, in PRIOR_MAPS order (conv4_3, conv7, conv8_2,
 * conv9_2, conv10_2, conv11_2).
 */
export const FEATURE_MAP_CHANNELS: readonly number[] = [512, 1024, 512, 256, 256, 256];

/** Prediction convs (`PredictionConvolutions`): loc_* then cl_*, in the reference's registration order. */
export function predConvs(nClasses: number): ConvSpec[] {
  const loc = PRIOR_MAPS.map((m, i) =>
    conv(`pred_convs.loc_${m.name}`, FEATURE_MAP_CHANNELS[i], BOXES_PER_LOCATION[i] * 4, 3, { relu: false })
  );
  const cl = PRIOR_MAPS.map((m, i) =>
    conv(`pred_convs.cl_${m.name}`, FEATURE_MAP_CHANNELS[i], BOXES_PER_LOCATION[i] * nClasses, 3, {
      relu: false,
    })
  );
  return [...loc, ...cl];
}

/** Every conv of the model, in the reference's state_dict order (base, aux_convs, pred_convs). */
export function allConvs(nClasses: number): ConvSpec[] {
  return [...BASE_CONVS, ...AUX_CONVS, ...predConvs(nClasses)];
}

/**
 * Parameter names and shapes in OUR layout (HWIO weights, [1, 1, 1, 512] rescale), in the reference's
 * state_dict order (`rescale_factors` first: a module's own parameters precede its children's).
 */
export function paramShapes(nClasses: number): Map<string, number[]> {
  const shapes = new Map<string, number[]>([["rescale_factors", [1, 1, 1, CONV4_3_CHANNELS]]]);
  for (const c of allConvs(nClasses)) {
    shapes.set(`${c.name}.weight`, [c.k, c.k, c.inC, c.outC]);
    shapes.set(`${c.name}.bias`, [c.outC]);
  }
  return shapes;
}

/** Deterministic 31-bit seeds derived from one seed and a parameter's index. */
function subSeed(seed: number, i: number): number {
  let h = (seed ^ 0x9e3779b9) + Math.imul(i + 1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 1;
}

/**
 * Xavier-uniform (Glorot) weights in HWIO, as `nn.init.xavier_uniform_`: U(−a, a), a = √(6 / (fan_in + fan_out)),
 * fan_in = k·k·in, fan_out = k·k·out.
 */
export function xavierUniformHwio(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  const [kh, kw, inC, outC] = shape;
  const a = Math.sqrt(6 / (kh * kw * (inC + outC)));
  const rand = mulberry32(seed);
  const data = new Float32Array(kh * kw * inC * outC);
  for (let i = 0; i < data.length; i++) data[i] = (2 * rand() - 1) * a;
  return tf.tensor4d(data, shape);
}

/** He-normal (Kaiming, fan_in, ReLU gain) weights in HWIO: N(0, 2 / (k·k·in)), Box–Muller from a seeded PRNG. */
export function heNormalHwio(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  const [kh, kw, inC, outC] = shape;
  const std = Math.sqrt(2 / (kh * kw * inC));
  const rand = mulberry32(seed);
  const data = new Float32Array(kh * kw * inC * outC);
  for (let i = 0; i < data.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand())) * std;
    const phi = 2 * Math.PI * rand();
    data[i] = r * Math.cos(phi);
    if (i + 1 < data.length) data[i + 1] = r * Math.sin(phi);
  }
  return tf.tensor4d(data, shape);
}

/**
 * A freshly initialised SSD300. Auxiliary and prediction convs: xavier-uniform weights, zero biases (the
 * reference's `init_conv2d`); `rescale_factors` = 20. The VGG base (normally ImageNet weights, see
 * `importTorchvisionVgg16` in lib/interop/vgg16.ts) gets He-normal weights and zero biases here.
 * @param nClasses classes including background (21 VOC, 2 person)
 * @param seed deterministic initialisation seed
 */
export function createSsd300(nClasses: number, seed = 0): SsdModel {
  if (!Number.isInteger(nClasses) || nClasses < 2) {
    throw new RangeError(`nClasses must be an integer ≥ 2, got ${nClasses}`);
  }
  const params = new Map<string, tf.Variable>();
  params.set(
    "rescale_factors",
    tf.variable(tf.fill([1, 1, 1, CONV4_3_CHANNELS], RESCALE_INIT), true),
  );
  const baseNames = new Set(BASE_CONVS.map((c) => c.name));
  allConvs(nClasses).forEach((c, i) => {
    const shape: [number, number, number, number] = [c.k, c.k, c.inC, c.outC];
    const w = tf.tidy(() =>
      baseNames.has(c.name)
        ? heNormalHwio(shape, subSeed(seed, i))
        : xavierUniformHwio(shape, subSeed(seed, i))
    );
    params.set(`${c.name}.weight`, tf.variable(w, true));
    w.dispose();
    params.set(`${c.name}.bias`, tf.variable(tf.zeros([c.outC]), true));
  });
  return { nClasses, params };
}

/** Deep copy of a model (new variables with the same trainable flags, same prior set). */
export function cloneModel(model: SsdModel): SsdModel {
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of model.params) params.set(name, tf.variable(v.clone(), v.trainable));
  return {
    nClasses: model.nClasses,
    params,
    ...(model.priorSet === undefined ? {} : { priorSet: model.priorSet }),
    ...(model.classNames === undefined ? {} : { classNames: model.classNames }),
  };
}

/** Disposes every variable of the model. */
export function disposeModel(model: SsdModel): void {
  for (const v of model.params.values()) v.dispose();
  model.params.clear();
}

/**
 * The default (inference) convolution: one fused conv2d + bias + ReLU kernel with explicit symmetric padding.
 * Differentiable through tf.js's own gradients where the backend has them (not Conv2DBackpropFilter on WASM).
 */
export const fusedConv: ConvFn = (x, w, b, o) =>
  tf.fused.conv2d({
    x,
    filter: w,
    bias: b,
    strides: o.stride,
    pad: o.pad,
    dilations: o.dilation,
    activation: o.relu ? "relu" : "linear",
  });

function param(model: SsdModel, name: string): tf.Variable {
  const p = model.params.get(name);
  if (!p) throw new RangeError(`model has no parameter '${name}'`);
  return p;
}

function applyConv(model: SsdModel, c: ConvSpec, x: tf.Tensor4D, convFn: ConvFn): tf.Tensor4D {
  return convFn(
    x,
    param(model, `${c.name}.weight`) as tf.Tensor4D,
    param(model, `${c.name}.bias`) as tf.Tensor1D,
    {
      stride: c.stride,
      pad: c.pad,
      dilation: c.dilation,
      relu: c.relu,
    },
  );
}

/** Options of {@link ssdForward}. */
export interface ForwardOptions {
  /** convolution implementation (default {@link fusedConv}); the trainer passes one with fast gradients */
  conv?: ConvFn;
}

/**
 * SSD300 forward pass (the reference's `SSD300_.forward`), differentiable with tf.js ops apart from `conv`.
 * @param images NHWC [B, 300, 300, 3], preprocessed (ImageNet mean/std)
 * @returns locs [B, 8732, 4] predicted offsets; scores [B, 8732, nClasses] class logits (before softmax);
 *   priors ordered map by map, then row, column, box — the reference's permute(0, 2, 3, 1).view(B, −1, ·) order
 */
export function ssdForward(
  model: SsdModel,
  images: tf.Tensor4D,
  opts: ForwardOptions = {},
): { locs: tf.Tensor3D; scores: tf.Tensor3D } {
  const convFn = opts.conv ?? fusedConv;
  const [batch, h, w, ch] = images.shape;
  if (h !== SSD_INPUT_SIDE || w !== SSD_INPUT_SIDE || ch !== 3) {
    throw new RangeError(`ssdForward: images must be [B, 300, 300, 3], got [${images.shape.join(", ")}]`);
  }
  return tf.tidy(() => {
    const base = (name: string, x: tf.Tensor4D) =>
      applyConv(model, BASE_CONVS.find((c) => c.name === `base.${name}`)!, x, convFn);
    let x = images;
    x = base("conv1_1", x);
    x = base("conv1_2", x);
    x = tf.maxPool(x, 2, 2, "valid"); // 300 → 150
    x = base("conv2_1", x);
    x = base("conv2_2", x);
    x = tf.maxPool(x, 2, 2, "valid"); // 150 → 75
    x = base("conv3_1", x);
    x = base("conv3_2", x);
    x = base("conv3_3", x);
    // pool3 has ceil_mode=True: 75 → 38. 'same' pads one row/column at the bottom/right only, excluded from the
    // max exactly like torch's ceil-mode overhang.
    x = tf.maxPool(x, 2, 2, "same");
    x = base("conv4_1", x);
    x = base("conv4_2", x);
    const conv43 = base("conv4_3", x); // [B, 38, 38, 512]
    x = tf.maxPool(conv43, 2, 2, "valid"); // 38 → 19
    x = base("conv5_1", x);
    x = base("conv5_2", x);
    x = base("conv5_3", x);
    x = tf.maxPool(x, 3, 1, "same"); // pool5: 3×3, stride 1, padding 1 → 19
    x = base("conv6", x);
    const conv7 = base("conv7", x); // [B, 19, 19, 1024]

    // conv4_3 L2-normalised over channels, times the learnable per-channel rescale
    const norm = tf.sqrt(tf.sum(tf.square(conv43), 3, true)); // [B, 38, 38, 1]
    const conv43n = tf.mul(tf.div(conv43, norm), param(model, "rescale_factors")) as tf.Tensor4D; // [B, 38, 38, 512]

    const featureMaps: tf.Tensor4D[] = [conv43n, conv7];
    x = conv7;
    for (let i = 0; i < AUX_CONVS.length; i += 2) {
      x = applyConv(model, AUX_CONVS[i], x, convFn);
      x = applyConv(model, AUX_CONVS[i + 1], x, convFn);
      featureMaps.push(x); // conv8_2 [B,10,10,512], conv9_2 [B,5,5,256], conv10_2 [B,3,3,256], conv11_2 [B,1,1,256]
    }

    const heads = predConvs(model.nClasses);
    const locParts: tf.Tensor3D[] = [];
    const scoreParts: tf.Tensor3D[] = [];
    featureMaps.forEach((map, i) => {
      const loc = applyConv(model, heads[i], map, convFn); // [B, H, W, boxes·4]
      const cl = applyConv(model, heads[i + featureMaps.length], map, convFn); // [B, H, W, boxes·C]
      // NHWC is already the reference's permute(0, 2, 3, 1): reshaping orders priors by row, column, box
      locParts.push(tf.reshape(loc, [batch, -1, 4])); // [B, H·W·boxes, 4]
      scoreParts.push(tf.reshape(cl, [batch, -1, model.nClasses])); // [B, H·W·boxes, C]
    });
    const locs = tf.concat(locParts, 1) as tf.Tensor3D; // [B, 8732, 4]
    const scores = tf.concat(scoreParts, 1) as tf.Tensor3D; // [B, 8732, C]
    if (locs.shape[1] !== N_PRIORS) {
      throw new Error(`internal: ${locs.shape[1]} priors, expected ${N_PRIORS}`);
    }
    return { locs, scores };
  });
}
