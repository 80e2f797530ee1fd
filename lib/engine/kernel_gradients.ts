/**
 * Gradient functions for the TF.js kernels that training differentiates through.
 *
 * `@tensorflow/tfjs-core` ships its gradient configs only as side-effect ES modules with extension-less relative
 * imports (`dist/register_all_gradients.js`), which Deno cannot load, and its CommonJS bundle does not include them.
 * So the kernels on the SSD training path (model forward: MaxPool, the conv4_3 L2 norm, reshape/concat; MultiBox
 * loss: log-softmax pieces, abs, masks, sums) get their gradients here, written with public tf ops and matching
 * tfjs-core's semantics — except `Abs`, whose gradient at 0 is 0 as in PyTorch (tfjs uses -1).
 * A kernel that already has a registered gradient is left alone. Call {@link registerTrainingGradients} (idempotent)
 * before differentiating; lib/engine/conv_grad.ts does it on import.
 */
import * as tf from "@tensorflow/tfjs-core";

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => Record<string, () => tf.Tensor>;
interface Config {
  kernelName: string;
  inputsToSave?: string[];
  outputsToSave?: boolean[];
  saveAllInputs?: boolean;
  gradFunc: GradFn;
}

const { assertAndGetBroadcastShape, getReductionAxes } = tf.broadcast_util;

/** Sums a broadcast gradient back to the input's shape. */
function unbroadcast(g: tf.Tensor, shape: number[], outShape: number[]): tf.Tensor {
  const axes = getReductionAxes(shape, outShape);
  return tf.reshape(axes.length > 0 ? tf.sum(g, axes) : g, shape);
}

function binary(kernelName: string, da: GradFn, db: GradFn): Config {
  return {
    kernelName,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved, attrs) => ({ ...da(dy, saved, attrs), ...db(dy, saved, attrs) }),
  };
}

function axesOf(axis: unknown, rank: number): number[] {
  const list = axis == null
    ? [...Array(rank).keys()]
    : Array.isArray(axis)
    ? axis as number[]
    : [axis as number];
  return list.map((a) => (a < 0 ? a + rank : a));
}

const CONFIGS: Config[] = [
  binary(
    "Add",
    (dy, [a, b]) => ({ a: () => unbroadcast(dy, a.shape, assertAndGetBroadcastShape(a.shape, b.shape)) }),
    (dy, [a, b]) => ({ b: () => unbroadcast(dy, b.shape, assertAndGetBroadcastShape(a.shape, b.shape)) }),
  ),
  binary(
    "Sub",
    (dy, [a, b]) => ({ a: () => unbroadcast(dy, a.shape, assertAndGetBroadcastShape(a.shape, b.shape)) }),
    (dy, [a, b]) => ({
      b: () => tf.neg(unbroadcast(dy, b.shape, assertAndGetBroadcastShape(a.shape, b.shape))),
    }),
  ),
  binary(
    "Multiply",
    (dy, [a, b]) => ({
      a: () => unbroadcast(tf.mul(dy, b), a.shape, assertAndGetBroadcastShape(a.shape, b.shape)),
    }),
    (dy, [a, b]) => ({
      b: () => unbroadcast(tf.mul(dy, a), b.shape, assertAndGetBroadcastShape(a.shape, b.shape)),
    }),
  ),
  binary(
    "RealDiv",
    (dy, [a, b]) => ({
      a: () => unbroadcast(tf.div(dy, b), a.shape, assertAndGetBroadcastShape(a.shape, b.shape)),
    }),
    (dy, [a, b]) => ({
      b: () =>
        tf.neg(tf.div(
          unbroadcast(tf.mul(dy, a), b.shape, assertAndGetBroadcastShape(a.shape, b.shape)),
          tf.square(b),
        )),
    }),
  ),
  {
    kernelName: "AddN",
    saveAllInputs: true,
    gradFunc: (dy, saved) => Object.fromEntries(saved.map((_, i) => [String(i), () => dy.clone()])),
  },
  { kernelName: "Neg", gradFunc: (dy) => ({ x: () => tf.neg(dy) }) },
  { kernelName: "Identity", gradFunc: (dy) => ({ x: () => dy.clone() }) },
  { kernelName: "Cast", gradFunc: (dy) => ({ x: () => dy.clone() }) },
  {
    kernelName: "Square",
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy, tf.mul(x, 2)) }),
  },
  // d sqrt(x) = dy / (2 sqrt(x)), from the saved output
  {
    kernelName: "Sqrt",
    outputsToSave: [true],
    gradFunc: (dy, [y]) => ({ x: () => tf.div(dy, tf.mul(y, 2)) }),
  },
  // PyTorch: d|x| = sign(x), 0 at 0
  { kernelName: "Abs", inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy, tf.sign(x)) }) },
  { kernelName: "Exp", outputsToSave: [true], gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy, y) }) },
  { kernelName: "Log", inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => tf.div(dy, x) }) },
  { kernelName: "Relu", inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy, tf.step(x)) }) },
  {
    kernelName: "Sum",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const shape = x.shape.slice();
      for (const a of axesOf(attrs.axis, x.rank)) shape[a] = 1;
      return { x: () => tf.mul(tf.reshape(dy, shape), tf.ones(x.shape)) };
    },
  },
  {
    kernelName: "Mean",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const axes = axesOf(attrs.axis, x.rank);
      const shape = x.shape.slice();
      let count = 1;
      for (const a of axes) {
        count *= shape[a];
        shape[a] = 1;
      }
      return { x: () => tf.mul(tf.reshape(dy, shape), tf.fill(x.shape, 1 / count)) };
    },
  },
  {
    kernelName: "Reshape",
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy, x.shape) }),
  },
  {
    kernelName: "Transpose",
    gradFunc: (dy, _saved, attrs) => {
      const perm = attrs.perm as number[];
      const undo = perm.map((_, i) => perm.indexOf(i));
      return { x: () => tf.transpose(dy, undo) };
    },
  },
  {
    kernelName: "Concat",
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const axis = axesOf(attrs.axis, saved[0].rank)[0];
      const parts = tf.split(dy, saved.map((t) => t.shape[axis]), axis);
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
    },
  },
  {
    kernelName: "Pack",
    saveAllInputs: true,
    gradFunc: (dy, _saved, attrs) => {
      const parts = tf.unstack(dy, attrs.axis as number);
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
    },
  },
  {
    kernelName: "SplitV",
    gradFunc: (dy, _saved, attrs) => ({
      x: () => tf.concat(dy as unknown as tf.Tensor[], attrs.axis as number),
    }),
  },
  {
    kernelName: "Slice",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const [begin, size] = tf.slice_util.parseSliceParams(
        x,
        attrs.begin as number[],
        attrs.size as number[],
      );
      const paddings = x.shape.map((n, i) => [begin[i], n - begin[i] - size[i]] as [number, number]);
      return { x: () => tf.pad(dy, paddings) };
    },
  },
  {
    kernelName: "PadV2",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const begin = (attrs.paddings as [number, number][]).map((p) => p[0]);
      return { x: () => tf.slice(dy, begin, x.shape) };
    },
  },
  {
    kernelName: "MaxPool",
    inputsToSave: ["x"],
    outputsToSave: [true],
    gradFunc: (dy, [x, y], attrs) => ({
      x: () =>
        tf.engine().runKernel("MaxPoolGrad", { dy, input: x, output: y }, {
          filterSize: attrs.filterSize,
          strides: attrs.strides,
          pad: attrs.pad,
          dimRoundingMode: attrs.dimRoundingMode,
        } as tf.NamedAttrMap) as tf.Tensor,
    }),
  },
];

let registered = false;

/** Registers the gradients above for every kernel that has none yet. Idempotent. */
export function registerTrainingGradients(): void {
  if (registered) return;
  for (const c of CONFIGS) {
    if (tf.getGradient(c.kernelName) == null) tf.registerGradient(c as unknown as tf.GradConfig);
  }
  registered = true;
}

/** Kernel names this module can supply a gradient for. */
export const TRAINING_GRADIENT_KERNELS: readonly string[] = CONFIGS.map((c) => c.kernelName);
