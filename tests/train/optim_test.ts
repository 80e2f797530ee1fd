import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/engine/backend.ts";
import { learningRateAt, Optimizer, type ScheduleConfig } from "../../lib/train/optim.ts";

await initBackend("wasm", null);

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
};

function params(values: number[]): Map<string, tf.Variable> {
  return new Map([["w", tf.variable(tf.tensor1d(values))]]);
}

Deno.test("Optimizer sgd follows torch.optim.SGD (momentum buffer starts at the first gradient, L2 weight decay)", () => {
  const p = params([1, -2]);
  const opt = new Optimizer({ kind: "sgd", momentum: 0.9, weightDecay: 0.1 });
  const lr = 0.5;
  // reference in float64: g' = g + wd·p; buf = g' then 0.9·buf + g'; p -= lr·buf
  let ref = [1, -2], buf: number[] | null = null;
  const grads = [[0.3, 0.1], [-0.2, 0.4], [0.05, -0.5]];
  for (const g of grads) {
    const gt = tf.tensor1d(g);
    opt.step(p, new Map([["w", gt]]), lr);
    gt.dispose();
    const gd = g.map((v, i) => v + 0.1 * ref[i]);
    buf = buf ? buf.map((b, i) => 0.9 * b + gd[i]) : gd;
    ref = ref.map((v, i) => v - lr * buf![i]);
    close(p.get("w")!.dataSync(), ref, 1e-6, "sgd");
  }
  assert.equal(opt.steps, 3);
  opt.dispose();
  p.get("w")!.dispose();
});

Deno.test("Optimizer adam follows torch.optim.Adam (bias corrections, eps outside the sqrt, L2 weight decay)", () => {
  const p = params([0.5, -1, 2]);
  const opt = new Optimizer({ kind: "adam", weightDecay: 0.01 });
  const lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  let ref = [0.5, -1, 2], m = [0, 0, 0], v = [0, 0, 0];
  const grads = [[0.1, -0.3, 0.2], [0.4, 0.1, -0.2], [-0.1, 0.2, 0.3], [0, 0.5, -0.5]];
  grads.forEach((g, k) => {
    const t = k + 1;
    const gt = tf.tensor1d(g);
    opt.step(p, new Map([["w", gt]]), lr);
    gt.dispose();
    const gd = g.map((x, i) => x + 0.01 * ref[i]);
    m = m.map((x, i) => b1 * x + (1 - b1) * gd[i]);
    v = v.map((x, i) => b2 * x + (1 - b2) * gd[i] * gd[i]);
    const bc1 = 1 - b1 ** t, bc2 = 1 - b2 ** t;
    ref = ref.map((x, i) => x - (lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps));
    close(p.get("w")!.dataSync(), ref, 1e-5, `adam step ${t}`);
  });
  opt.dispose();
  p.get("w")!.dispose();
});

Deno.test("Optimizer exportState()/importState() continue exactly like an uninterrupted optimiser", async () => {
  for (const kind of ["sgd", "adam"] as const) {
    const a = params([1, 2, 3]), b = params([1, 2, 3]);
    const oa = new Optimizer({ kind }), ob = new Optimizer({ kind });
    const g1 = new Map([["w", tf.tensor1d([0.1, -0.2, 0.3])]]),
      g2 = new Map([["w", tf.tensor1d([0.5, 0.1, -0.1])]]);
    oa.step(a, g1, 0.01);
    ob.step(b, g1, 0.01);
    const state = await ob.exportState();
    ob.dispose();
    const oc = new Optimizer({ kind });
    oc.importState(state, b);
    oa.step(a, g2, 0.01);
    oc.step(b, g2, 0.01);
    assert.deepEqual(a.get("w")!.dataSync(), b.get("w")!.dataSync(), kind);
    assert.throws(
      () => new Optimizer({ kind: kind === "sgd" ? "adam" : "sgd" }).importState(state, b),
      /state is for/,
    );
    tf.dispose([...g1.values(), ...g2.values(), a.get("w")!, b.get("w")!]);
    oa.dispose();
    oc.dispose();
  }
});

Deno.test("Optimizer rejects bad hyper-parameters and unknown parameters", () => {
  assert.throws(() => new Optimizer({ kind: "sgd", momentum: -1 }), /momentum/);
  assert.throws(() => new Optimizer({ kind: "adam", beta1: 1 }), /beta1/);
  const p = params([1]);
  const g = new Map([["nope", tf.tensor1d([1])]]);
  assert.throws(() => new Optimizer({ kind: "sgd" }).step(p, g, 0.1), /unknown parameter 'nope'/);
  assert.throws(() => new Optimizer({ kind: "sgd" }).step(p, g, NaN), /learning rate/);
  tf.dispose([...g.values(), p.get("w")!]);
});

Deno.test("learningRateAt() implements constant, per-step cosine (CosineAnnealingLR), step decay and warm-up", () => {
  const base: ScheduleConfig = { kind: "constant", baseLr: 0.01, totalSteps: 100, stepsPerEpoch: 10 };
  assert.equal(learningRateAt(57, base), 0.01);
  const cos = { ...base, kind: "cosine" as const };
  assert.equal(learningRateAt(0, cos), 0.01);
  assert.ok(Math.abs(learningRateAt(50, cos) - 0.005) < 1e-12);
  assert.ok(Math.abs(learningRateAt(100, cos)) < 1e-12);
  assert.ok(Math.abs(learningRateAt(25, cos) - 0.01 * (1 + Math.cos(Math.PI / 4)) / 2) < 1e-12);
  const step = { ...base, kind: "step" as const, stepEpochs: 3, gamma: 0.1 };
  assert.equal(learningRateAt(29, step), 0.01); // epoch index 2
  assert.ok(Math.abs(learningRateAt(30, step) - 0.001) < 1e-15); // epoch index 3
  assert.ok(Math.abs(learningRateAt(65, step) - 0.0001) < 1e-15);
  const warm = { ...base, warmupSteps: 4 };
  assert.deepEqual([0, 1, 2, 3, 4].map((s) => learningRateAt(s, warm)), [0.0025, 0.005, 0.0075, 0.01, 0.01]);
});
