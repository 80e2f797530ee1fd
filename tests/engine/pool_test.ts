import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import { benchBoxes } from "../../lib/bench/workload.ts";
import { detectObjects, SSD_INPUT_FLOATS } from "../../lib/ssd/mod.ts";
import { buildTargets } from "../../lib/ssd/loss.ts";
import { mulberry32 } from "../../lib/core/mod.ts";
import { createSsd300, disposeModel, ssdForward } from "../../lib/ssd/model.ts";
import {
  modelParamData,
  poolLossAndGradients,
  shardRanges,
  SsdWorkerPool,
  WorkerError,
} from "../../lib/engine/pool.ts";
import { createPriorsCxcy, N_PRIORS } from "../../lib/ssd/priors.ts";
import { lossAndGradients, type TrainSample } from "../../lib/engine/mod.ts";
import { Optimizer } from "../../lib/train/optim.ts";
import { maxAbsDiffAndScale } from "../helpers.ts";

await initBackend("wasm", null);

function randomImages(n: number, seed: number): Float32Array[] {
  const rand = mulberry32(seed);
  return Array.from(
    { length: n },
    () => Float32Array.from({ length: SSD_INPUT_FLOATS }, () => 4 * rand() - 2),
  );
}

/** Samples with 1, 2 or 3 random person boxes per image. */
function samples(images: Float32Array[]): TrainSample[] {
  const boxes = benchBoxes(images.length, 5);
  return images.map((image, i) => {
    const k = 1 + (i % 3);
    return { image, gt: { boxes: boxes[i].slice(0, 4 * k), labels: new Array(k).fill(1) } };
  });
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  const { num, den } = maxAbsDiffAndScale(a, b);
  return num / Math.max(den, 1e-30);
}

Deno.test("shardRanges() splits contiguously and evenly, omitting empty shards", () => {
  const table: [number, number, [number, number][]][] = [
    [4, 2, [[0, 2], [2, 4]]],
    [5, 2, [[0, 3], [3, 5]]],
    [1, 2, [[0, 1]]],
    [0, 3, []],
    [7, 3, [[0, 3], [3, 5], [5, 7]]],
  ];
  for (const [n, parts, expected] of table) {
    assert.deepEqual(shardRanges(n, parts), expected, `${n}/${parts}`);
  }
  assert.throws(() => shardRanges(3, 0), RangeError);
  assert.throws(() => shardRanges(-1, 2), RangeError);
});

Deno.test("SsdWorkerPool: forward/detect match the in-process model, gradients sum to the full-batch gradient", async (t) => {
  const model = createSsd300(2, 3);
  const pool = await SsdWorkerPool.create({ workers: 2, nClasses: 2, params: await modelParamData(model) });
  try {
    const images = randomImages(3, 11); // shards of 2 and 1 images
    const before = tf.memory().numTensors;

    await t.step("forward() returns locs/scores in batch order, equal to ssdForward", async () => {
      const { locs, scores } = await pool.forward(images);
      const x = tf.tensor4d(
        images.reduce(
          (acc, im, i) => (acc.set(im, i * SSD_INPUT_FLOATS), acc),
          new Float32Array(3 * SSD_INPUT_FLOATS),
        ),
        [3, 300, 300, 3],
      );
      const ref = ssdForward(model, x);
      const refLocs = ref.locs.dataSync() as Float32Array, refScores = ref.scores.dataSync() as Float32Array;
      tf.dispose([x, ref.locs, ref.scores]);
      assert.equal(locs.length, 3 * N_PRIORS * 4);
      assert.equal(scores.length, 3 * N_PRIORS * 2);
      // same backend and kernels, batch composition only: equal up to float reassociation
      assert.ok(maxRelDiff(locs, refLocs) < 1e-5, `locs rel diff ${maxRelDiff(locs, refLocs)}`);
      assert.ok(maxRelDiff(scores, refScores) < 1e-5, `scores rel diff ${maxRelDiff(scores, refScores)}`);

      const opts = { minScore: 0.2, maxOverlap: 0.45, topK: 50 };
      const dets = await pool.detect(images, opts);
      assert.equal(dets.length, 3);
      for (let i = 0; i < 3; i++) {
        const expected = detectObjects(
          locs.subarray(i * N_PRIORS * 4, (i + 1) * N_PRIORS * 4),
          scores.subarray(i * N_PRIORS * 2, (i + 1) * N_PRIORS * 2),
          2,
          opts,
        );
        assert.equal(dets[i].length, expected.length, `image ${i} detection count`);
        dets[i].forEach((d, k) => {
          assert.equal(d.classId, expected[k].classId);
          assert.ok(Math.abs(d.score - expected[k].score) < 1e-5);
        });
      }
    });

    await t.step(
      "gradients() sum over shards to lossAndGradients' full-batch gradient (incl. micro-batches)",
      async () => {
        const batch = samples(images);
        const priorsCxcy = createPriorsCxcy();
        // the heads, the last aux conv and the conv4_3 rescale: backprop through L2 norm, heads and hard negatives
        const trainable = [...model.params.keys()].filter((k) =>
          k.startsWith("pred_convs.") || k.startsWith("aux_convs.conv11_") || k === "rescale_factors"
        );
        const full = lossAndGradients(model, batch, { priorsCxcy, trainable });
        const fullGrads = new Map([...full.grads].map(([k, g]) => [k, g.dataSync() as Float32Array]));
        tf.dispose([...full.grads.values()]);
        for (const microBatch of [undefined, 1]) {
          const r = await poolLossAndGradients(pool, batch, { priorsCxcy, trainable, microBatch });
          assert.equal(r.nPositives, full.nPositives);
          for (const k of ["loss", "conf", "loc"] as const) {
            assert.ok(Math.abs(r[k] - full[k]) <= 1e-4 * Math.abs(full[k]), `${k} ${r[k]} vs ${full[k]}`);
          }
          assert.deepEqual([...r.grads.keys()], [...fullGrads.keys()]);
          for (const [k, g] of r.grads) {
            const d = maxRelDiff(g.dataSync() as Float32Array, fullGrads.get(k)!);
            assert.ok(d < 1e-4, `${k} (microBatch ${microBatch}): rel diff ${d}`);
            assert.deepEqual(g.shape, model.params.get(k)!.shape);
          }
          tf.dispose([...r.grads.values()]);
        }
        assert.equal(tf.memory().numTensors, before, "main-thread tensors leaked");
      },
    );

    await t.step("setWeights() changes every replica; worker tensor counts stay constant", async () => {
      const name = "pred_convs.cl_conv11_2.bias"; // [4 boxes × 2 classes]: the last 8 scores of each image
      const old = model.params.get(name)!.dataSync() as Float32Array;
      const two = images.slice(1); // one image per worker
      const tails = (scores: Float32Array) =>
        [1, 2].map((i) => scores.slice(i * N_PRIORS * 2 - 8, i * N_PRIORS * 2));
      const before = tails((await pool.forward(two)).scores);
      const counts = [...pool.workerTensorCounts];
      await pool.setWeights(new Map([[name, new Float32Array(8).fill(5)]]));
      const after = tails((await pool.forward(two)).scores);
      after.forEach((a, w) =>
        a.forEach((v, i) => assert.ok(Math.abs(v - before[w][i] - (5 - old[i])) < 1e-4))
      );
      await pool.setWeights(new Map([[name, { shape: [8], data: old }]]));
      const restored = tails((await pool.forward(two)).scores);
      restored.forEach((a, w) => a.forEach((v, i) => assert.ok(Math.abs(v - before[w][i]) < 1e-5)));
      assert.deepEqual(pool.workerTensorCounts, counts, "worker tensors leaked");
    });

    await t.step("a failing worker rejects with its message and the pool keeps working", async () => {
      await assert.rejects(pool.failForTest(1, "boom in worker"), (e: unknown) => {
        assert.ok(e instanceof WorkerError);
        assert.equal(e.workerIndex, 1);
        assert.match(e.message, /worker 1: boom in worker/);
        return true;
      });
      await assert.rejects(
        pool.gradients(
          images.slice(0, 2),
          buildTargets(samples(images.slice(0, 2)).map((x) => x.gt), createPriorsCxcy()).targets,
          { nPositivesTotal: 17, trainable: ["nope"] },
        ),
        /worker \d: gradients: unknown parameter 'nope'/,
      );
      await assert.rejects(pool.forward([new Float32Array(10)]), RangeError);
      const { locs } = await pool.forward(images.slice(0, 1));
      assert.equal(locs.length, N_PRIORS * 4);
    });
  } finally {
    await pool.close();
    disposeModel(model);
  }
  await assert.rejects(pool.forward([]), /closed/);
});

Deno.test("SsdWorkerPool({ oneDnn }): oneDNN convolutions give the WASM pool's outputs and gradients", async (t) => {
  const model = createSsd300(2, 4);
  const params = await modelParamData(model);
  const images = randomImages(2, 21);
  const batch = samples(images);
  const priorsCxcy = createPriorsCxcy();
  // dW of the atrous conv6, the 1×1 conv7, the stride-2 conv8_2 and the conv11 pair; dX through all of them
  const trainable = [
    "base.conv6.weight",
    "base.conv7.weight",
    "aux_convs.conv8_2.weight",
    "aux_convs.conv11_2.bias",
  ];
  const pools = await Promise.all(
    [false, true].map((oneDnn) => SsdWorkerPool.create({ workers: 1, nClasses: 2, params, oneDnn })),
  );
  try {
    if (!pools[1].conv.startsWith("onednn")) {
      if (Deno.env.get("CI") && Deno.env.get("SSD_REQUIRE_DNNL")) throw new Error(pools[1].conv);
      console.warn(`skipping ${t.name}: ${pools[1].conv}`);
      return;
    }
    assert.equal(pools[0].conv, "wasm");
    const [a, b] = await Promise.all(pools.map((p) => p.forward(images)));
    assert.ok(maxRelDiff(b.locs, a.locs) < 1e-4, `locs ${maxRelDiff(b.locs, a.locs)}`);
    assert.ok(maxRelDiff(b.scores, a.scores) < 1e-4, `scores ${maxRelDiff(b.scores, a.scores)}`);
    const [ga, gb] = await Promise.all(
      pools.map((p) => poolLossAndGradients(p, batch, { priorsCxcy, trainable })),
    );
    assert.ok(Math.abs(gb.loss - ga.loss) <= 1e-4 * ga.loss, `loss ${gb.loss} vs ${ga.loss}`);
    for (const [k, g] of ga.grads) {
      const d = maxRelDiff(gb.grads.get(k)!.dataSync() as Float32Array, g.dataSync() as Float32Array);
      assert.ok(d < 1e-3, `${k}: rel diff ${d}`);
    }
    tf.dispose([...ga.grads.values(), ...gb.grads.values()]);
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    disposeModel(model);
  }
});

for (
  const hyper of [
    { momentum: 0.9, weightDecay: 1e-3 },
    { momentum: 0.9, weightDecay: 0 },
    { momentum: 0, weightDecay: 0 },
  ]
) {
  Deno.test(`SsdWorkerPool.sgdStep() updates the shared weights as Optimizer.step does: ${JSON.stringify(hyper)}`, async () => {
    const model = createSsd300(2, 6);
    const params = await modelParamData(model);
    const priorsCxcy = createPriorsCxcy();
    // parameters of both kinds and sizes, so the workers' shares cut through some of them
    const trainable = [
      "base.conv7.weight",
      "base.conv7.bias",
      "aux_convs.conv8_2.weight",
      "pred_convs.cl_conv7.weight",
      "pred_convs.cl_conv11_2.bias",
    ];
    const lrs = [1e-3, 5e-4, 2e-4];
    // batches of 3 (shards of 2 and 1), 3 again (momentum and weight decay on every parameter), then 1 (one shard)
    const batches = [
      samples(randomImages(3, 31)),
      samples(randomImages(3, 32)),
      samples(randomImages(1, 33)),
    ];
    const [host, engine] = await Promise.all(
      [0, 1].map(() => SsdWorkerPool.create({ workers: 2, nClasses: 2, params, oneDnn: true })),
    );
    const opt = new Optimizer({ kind: "sgd", ...hyper });
    const before = tf.memory().numTensors;
    try {
      for (const [i, batch] of batches.entries()) {
        // the reference: gradients back on this thread, Optimizer over the model's variables, weights sent back
        const r = await poolLossAndGradients(host, batch, { priorsCxcy, trainable });
        opt.step(model.params, r.grads, lrs[i]);
        tf.dispose([...r.grads.values()]);
        await host.setWeights(
          new Map(trainable.map((k) => [k, model.params.get(k)!.dataSync() as Float32Array])),
        );
        // the pool's own step
        const { targets, nPositivesTotal } = buildTargets(batch.map((s) => s.gt), priorsCxcy, {});
        const e = await engine.gradients(batch.map((s) => s.image), targets, {
          nPositivesTotal,
          trainable,
          keep: true,
        });
        assert.equal(e.grads.size, 0, "kept gradients are not returned");
        assert.equal(e.loss, r.loss, `step ${i + 1}: loss`);
        await engine.sgdStep({ lr: lrs[i], ...hyper });
      }
      const weights = await engine.readWeights(trainable);
      const momentum = engine.momentumBuffers();
      const state = await opt.exportState();
      assert.deepEqual([...momentum.keys()].sort(), [...state.buf1.keys()].sort());
      assert.equal(momentum.size, hyper.momentum > 0 ? trainable.length : 0);
      for (const k of trainable) {
        // the same float32 operations in the same order: equal
        assert.deepEqual(weights.get(k), model.params.get(k)!.dataSync(), `${k}: weights`);
        assert.deepEqual(momentum.get(k), state.buf1.get(k), `${k}: momentum`);
      }
      await assert.rejects(engine.sgdStep({ lr: 1e-3, ...hyper }), /no gradients kept/);
      // this thread holds the reference optimiser's momentum buffers, nothing else
      assert.equal(tf.memory().numTensors, before + state.buf1.size, "tensors leaked on this thread");
    } finally {
      opt.dispose();
      await Promise.all([host.close(), engine.close()]);
      disposeModel(model);
    }
  });
}
