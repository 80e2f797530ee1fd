import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/engine/backend.ts";
import { convOutSize, convWithGrad, FILTER_GRAD_CONV_MIN_POSITIONS } from "../../lib/engine/conv_grad.ts";
import type { ConvOptions } from "../../lib/ssd/model.ts";
import { maxAbsDiffAndScale, randomArray } from "../helpers.ts";

/**
 * The reference's own gradient: tfjs-core's Conv2D gradient (not loadable under Deno, see lib/engine/kernel_gradients.ts),
 * re-registered here with the backend's Conv2DBackpropInput / Conv2DBackpropFilter kernels (CPU backend only).
 */
if (tf.getGradient("Conv2D") == null) {
  tf.registerGradient({
    kernelName: "Conv2D",
    inputsToSave: ["x", "filter"],
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x, filter] = saved;
      const { strides, pad, dataFormat, dimRoundingMode } = attrs;
      const common = { strides, pad, dataFormat, dimRoundingMode };
      return {
        x: () =>
          tf.engine().runKernel("Conv2DBackpropInput", { dy, filter }, {
            ...common,
            inputShape: x.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        filter: () =>
          tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
            ...common,
            filterShape: filter.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      };
    },
  } as unknown as tf.GradConfig);
}

interface Case {
  name: string;
  x: [number, number, number, number];
  k: number;
  cout: number;
  o: Omit<ConvOptions, "relu">;
}

// Every convolution configuration SSD300 uses (see lib/ssd/model.ts / the reference's VGGBase, AuxiliaryConvolutions).
/** A case: input NHWC shape `x`, k×k kernel to `cout` channels, stride/pad/dilation. */
const conv = (
  name: string,
  x: Case["x"],
  k: number,
  cout: number,
  [stride, pad, dilation]: [number, number, number],
): Case => ({ name, x, k, cout, o: { stride, pad, dilation } });

const CASES: Case[] = [
  conv("3x3 pad 1 stride 1", [2, 7, 6, 5], 3, 4, [1, 1, 1]),
  conv("1x1 pad 0", [2, 5, 4, 6], 1, 3, [1, 0, 1]),
  conv("3x3 stride 2 pad 1, odd size (19→10)", [2, 19, 19, 3], 3, 4, [2, 1, 1]),
  conv("3x3 stride 2 pad 1, even size (10→5)", [2, 10, 10, 3], 3, 4, [2, 1, 1]),
  conv("3x3 pad 0 (valid)", [2, 5, 5, 4], 3, 3, [1, 0, 1]),
  conv("3x3 dilation 6 pad 6", [1, 19, 19, 3], 3, 4, [1, 6, 6]),
  // ≥ FILTER_GRAD_CONV_MIN_POSITIONS output positions: dW through the (batch ↔ channel)-swapped conv2d
  conv("3x3 pad 1, large map (conv dW)", [2, 100, 100, 2], 3, 3, [1, 1, 1]),
  conv("3x3 stride 2, large odd map (conv dW)", [1, 201, 201, 2], 3, 2, [2, 1, 1]),
  conv("3x3 dilation 6, large map (conv dW)", [1, 100, 100, 2], 3, 2, [1, 6, 6]),
];

interface Grads {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array;
}

/** Output y and the gradients of L = Σ y·r for a case, (relu), input x, kernel w (HWIO), bias b and r. */
type GradsFn = (
  c: Case,
  relu: boolean,
  xa: Float32Array,
  wa: Float32Array,
  ba: Float32Array,
  ra: Float32Array,
) => Grads;

/**
 * Reference on the CPU backend: tf.conv2d + bias (+ relu) and TF.js's own gradients (Conv2DBackpropFilter /
 * Conv2DBackpropInput). TF.js refuses dilation > 1 in gradients, so a dilated conv is expressed as an undilated one
 * with a zero-inserted kernel, whose gradient is then read back at the dilated taps.
 */
const referenceGrads: GradsFn = (c, relu, xa, wa, ba, ra) => {
  const { k, cout, o } = c;
  const cin = c.x[3];
  const kd = (k - 1) * o.dilation + 1;
  const wd = new Float32Array(kd * kd * cin * cout); // dilated kernel, HWIO
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      for (let t = 0; t < cin * cout; t++) {
        wd[((i * o.dilation) * kd + j * o.dilation) * cin * cout + t] = wa[(i * k + j) * cin * cout + t];
      }
    }
  }
  return tf.tidy(() => {
    const x = tf.tensor4d(xa, c.x);
    const w = tf.tensor4d(wd, [kd, kd, cin, cout]);
    const b = tf.tensor1d(ba);
    const p = o.pad;
    const f = (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) => {
      const lin = tf.add(tf.conv2d(x, w, o.stride, [[0, 0], [p, p], [p, p], [0, 0]]), b);
      return relu ? tf.relu(lin) : lin;
    };
    const y = f(x, w, b);
    const r = tf.tensor(ra, y.shape);
    const [dx, dwd, db] = tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(f(x as tf.Tensor4D, w as tf.Tensor4D, b as tf.Tensor1D), r))
    )([x, w, b]);
    const dwdA = dwd.dataSync();
    const dw = new Float32Array(k * k * cin * cout);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        for (let t = 0; t < cin * cout; t++) {
          dw[(i * k + j) * cin * cout + t] = dwdA[((i * o.dilation) * kd + j * o.dilation) * cin * cout + t];
        }
      }
    }
    return {
      y: y.dataSync() as Float32Array,
      dx: dx.dataSync() as Float32Array,
      dw,
      db: db.dataSync() as Float32Array,
    };
  });
};

const ourGrads: GradsFn = (c, relu, xa, wa, ba, ra) => {
  const cin = c.x[3];
  return tf.tidy(() => {
    const x = tf.tensor4d(xa, c.x);
    const w = tf.tensor4d(wa, [c.k, c.k, cin, c.cout]);
    const b = tf.tensor1d(ba);
    const o = { ...c.o, relu };
    const y = convWithGrad(x, w, b, o);
    const r = tf.tensor(ra, y.shape);
    const [dx, dw, db] = tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(convWithGrad(x as tf.Tensor4D, w as tf.Tensor4D, b as tf.Tensor1D, o), r))
    )([x, w, b]);
    return {
      y: y.dataSync() as Float32Array,
      dx: dx.dataSync() as Float32Array,
      dw: dw.dataSync() as Float32Array,
      db: db.dataSync() as Float32Array,
    };
  });
};

/** max |a - b| / max |b|: relative to the tensor's scale, so near-zero entries do not blow it up. */
function relMaxError(a: Float32Array, b: Float32Array): number {
  const { num, den } = maxAbsDiffAndScale(a, b);
  return den === 0 ? num : num / den;
}

const TOLERANCE = 1e-4; // float32 accumulation-order differences only

for (const c of CASES) {
  for (const relu of [false, true]) {
    Deno.test(`convWithGrad() matches the CPU backend's conv2d gradients: ${c.name}${relu ? " + relu" : ""}`, async () => {
      const cin = c.x[3];
      const ho = convOutSize(c.x[1], c.k, c.o), wo = convOutSize(c.x[2], c.k, c.o);
      const xa = randomArray(c.x.reduce((a, b) => a * b), 1);
      const wa = randomArray(c.k * c.k * cin * c.cout, 2);
      const ba = randomArray(c.cout, 3).map((v) => v * 0.5);
      const ra = randomArray(c.x[0] * ho * wo * c.cout, 4);
      await initBackend("cpu", null);
      const ref = referenceGrads(c, relu, xa, wa, ba, ra);
      await initBackend("wasm", null);
      const before = tf.memory().numTensors;
      const ours = ourGrads(c, relu, xa, wa, ba, ra);
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
      assert.equal(ours.y.length, c.x[0] * ho * wo * c.cout);
      if (c.name.includes("conv dW")) {
        assert.ok(ho * wo >= FILTER_GRAD_CONV_MIN_POSITIONS, "case must take the conv path");
      }
      if (relu) {
        assert.ok(ref.y.some((v) => v === 0) && ref.y.some((v) => v > 0), "relu case must mask something");
      }
      for (const key of ["y", "dx", "dw", "db"] as const) {
        const err = relMaxError(ours[key], ref[key]);
        assert.ok(err <= TOLERANCE, `${key}: relative error ${err.toExponential(2)} > ${TOLERANCE}`);
      }
    });
  }
}

Deno.test("convWithGrad() runs no backprop kernels and skips dX when only weights are differentiated", async () => {
  await initBackend("wasm", null);
  const x = tf.tensor4d(randomArray(2 * 8 * 8 * 4, 5), [2, 8, 8, 4]);
  const w = tf.variable(tf.tensor4d(randomArray(3 * 3 * 4 * 6, 6), [3, 3, 4, 6]));
  const b = tf.variable(tf.zeros([6]) as tf.Tensor1D);
  const o = { stride: 1, pad: 1, dilation: 1, relu: true };
  const before = tf.memory().numTensors;
  const profile = await tf.profile(() => {
    const { grads, value } = tf.variableGrads(() =>
      tf.sum(convWithGrad(x, w as tf.Tensor4D, b as tf.Tensor1D, o))
    );
    value.dispose();
    Object.values(grads).forEach((g) => g.dispose());
  });
  const names = new Set(profile.kernels.map((k) => k.name));
  assert.ok(names.has("FusedConv2D"), `forward kernel missing: ${[...names]}`);
  assert.ok(names.has("BatchMatMul"), "dW must use matMul");
  for (const slow of ["Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"]) {
    assert.ok(!names.has(slow), `unexpected kernel ${slow} (kernels: ${[...names].join(", ")})`);
  }
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  tf.dispose([x, w, b]);
});

Deno.test("convWithGrad() rejects mismatched channels and bad options", async () => {
  await initBackend("wasm", null);
  tf.tidy(() => {
    const x = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
    const w = tf.zeros([3, 3, 2, 5]) as tf.Tensor4D;
    const b = tf.zeros([5]) as tf.Tensor1D;
    assert.throws(
      () => convWithGrad(x, w, b, { stride: 1, pad: 1, dilation: 1, relu: false }),
      /channel mismatch/,
    );
    const w3 = tf.zeros([3, 3, 3, 5]) as tf.Tensor4D;
    assert.throws(() => convWithGrad(x, w3, b, { stride: 0, pad: 1, dilation: 1, relu: false }), /stride/);
    assert.throws(
      () => convWithGrad(x, w3, b, { stride: 2, pad: 1, dilation: 2, relu: false }),
      /not supported/,
    );
  });
});
