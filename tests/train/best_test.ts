/**
 * train()'s best epoch, early stopping and --epochs extension, with scripted validation curves and a fake
 * gradient engine on a one-parameter model (no SSD300 passes), so that every case is exact and fast.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/engine/backend.ts";
import type { SsdModel } from "../../lib/ssd/mod.ts";
import {
  type BestEpoch,
  chooseRunWeights,
  improves,
  learningRateAt,
  type ResumeState,
  scheduleOf,
  train,
  type TrainConfig,
  trainingLogCsv,
  type TrainItem,
} from "../../lib/train/mod.ts";
import type { TrainSample } from "../../lib/engine/mod.ts";
import { withTempDir } from "../helpers.ts";

await initBackend("wasm", null);

const CFG: TrainConfig = {
  epochs: 6,
  batchSize: 2,
  microBatch: 2,
  optimizer: "sgd",
  lr: 0.1,
  momentum: 0,
  weightDecay: 0,
  schedule: "constant",
  warmup: 0,
  freeze: "none",
  augment: false,
  shuffle: true,
  seed: 3,
  valFraction: 0.5,
  select: "ap75",
  patience: null,
};

const item = (id: number): TrainItem => ({
  id,
  width: 4,
  height: 4,
  boxes: [[0, 0, 2, 3]],
  load: () => ({ width: 4, height: 4, data: new Uint8Array(48).fill(id * 10) }),
});
const TRAIN = [item(1), item(2), item(3)], VAL = [item(4)];

/** A one-parameter model whose value after each update is visible; gradient = the batch's first image id. */
function tinyModel(w = [1, 2]): SsdModel {
  return { nClasses: 2, params: new Map([["w", tf.variable(tf.tensor1d(w))]]) };
}
const fakeGradients = (batch: readonly TrainSample[]) => {
  const g = tf.fill([2], batch[0].image[0] + batch.length);
  return Promise.resolve({ loss: 1, conf: 1, loc: 0, nPositives: 1, grads: new Map([["w", g]]) });
};

/**
 * Runs train() with validation values `curve` (by epoch: ap75 = ap = curve, loss = 1 - curve); a resumed run
 * starts from `from`'s state and weights.
 */
async function run(cfg: TrainConfig, curve: number[], from?: { states: ResumeState[]; last: number[] }) {
  const resume = from?.states.at(-1);
  const model = tinyModel(from?.last);
  let epoch = resume?.epoch ?? 0;
  const bestWeights: { best: BestEpoch; w: number[] }[] = [];
  const states: ResumeState[] = [];
  try {
    const result = await train(model, TRAIN, VAL, cfg, {
      gradients: fakeGradients,
      validate: () => {
        const v = curve[epoch++];
        return { loss: 1 - v, ap75: v, ap: v };
      },
      resume,
      onBest: (best) => {
        bestWeights.push({ best, w: [...model.params.get("w")!.dataSync()] });
        return Promise.resolve();
      },
      saveResumeState: (s) => {
        states.push(s);
        return Promise.resolve();
      },
    });
    return { result, bestWeights, states, last: [...model.params.get("w")!.dataSync()] };
  } finally {
    model.params.get("w")!.dispose();
  }
}

Deno.test("improves() is strict (a tie keeps the earlier epoch), lower is better only for loss", () => {
  const b = (metric: BestEpoch["metric"], value: number): BestEpoch => ({ epoch: 1, metric, value });
  assert.equal(improves("ap75", 0.5, null), true);
  assert.equal(improves("ap75", 0.5, b("ap75", 0.5)), false);
  assert.equal(improves("ap", 0.6, b("ap", 0.5)), true);
  assert.equal(improves("loss", 0.4, b("loss", 0.5)), true);
  assert.equal(improves("loss", 0.6, b("loss", 0.5)), false);
  assert.equal(improves("ap75", NaN, null), false);
});

Deno.test("train() keeps the best epoch by --select when validation peaks early; its weights differ from the last", async () => {
  for (const select of ["ap75", "ap", "loss"] as const) {
    const { result, bestWeights, last } = await run({ ...CFG, epochs: 4, select }, [0.2, 0.7, 0.4, 0.5]);
    assert.deepEqual(result.best, { epoch: 2, metric: select, value: select === "loss" ? 1 - 0.7 : 0.7 });
    assert.deepEqual(bestWeights.map((b) => b.best.epoch), [1, 2], select);
    assert.equal(result.stopReason, "epochs");
    assert.equal(result.epochsDone, 4);
    assert.notDeepEqual(bestWeights.at(-1)!.w, last, "best epoch's weights are not the last epoch's");
  }
});

Deno.test("train() --patience stops a run whose validation does not improve, and a resumed one at once", async () => {
  const curve = [0.5, 0.6, 0.6, 0.55, 0.3, 0.9, 0.9];
  const { result, states, last } = await run({ ...CFG, epochs: 7, patience: 2 }, curve);
  assert.equal(result.stopReason, "patience");
  assert.equal(result.epochsDone, 4, "best at epoch 2, no improvement in epochs 3 and 4");
  assert.deepEqual(result.best, { epoch: 2, metric: "ap75", value: 0.6 });
  assert.equal(result.log.epochs.length, 4);
  // the same run resumed from its last state stops before training anything
  const again = await run({ ...CFG, epochs: 7, patience: 2 }, curve, { states, last });
  assert.equal(again.result.stopReason, "patience");
  assert.equal(again.result.imagesTrained, 0);
  // a larger patience continues it; epoch 6 then improves
  const more = await run({ ...CFG, epochs: 7, patience: 5 }, curve, { states, last });
  assert.equal(more.result.epochsDone, 7);
  assert.equal(more.result.best?.epoch, 6);
});

Deno.test("train() with a larger --epochs continues a finished run: constant schedule equals the longer run, cosine follows the new horizon", async () => {
  const curve = [0.1, 0.2, 0.3, 0.4];
  for (const schedule of ["constant", "cosine"] as const) {
    const cfg = { ...CFG, schedule, epochs: 2 };
    const short = await run(cfg, curve);
    const extended = await run({ ...cfg, epochs: 4 }, curve, short);
    const long = await run({ ...cfg, epochs: 4 }, curve);
    assert.deepEqual(extended.result.log.epochs.slice(0, 2), short.result.log.epochs);
    // the documented rule: every update uses learningRateAt(step, schedule of the current --epochs)
    const stepsPerEpoch = scheduleOf(cfg, TRAIN.length).stepsPerEpoch;
    const lrOld = learningRateAt(2 * stepsPerEpoch - 1, scheduleOf(cfg, TRAIN.length));
    const lrNew = learningRateAt(4 * stepsPerEpoch - 1, scheduleOf({ ...cfg, epochs: 4 }, TRAIN.length));
    assert.equal(extended.result.log.epochs[1].lr, lrOld, `${schedule}: epoch 2 ran under the old horizon`);
    assert.equal(extended.result.log.epochs[3].lr, lrNew, `${schedule}: epoch 4 under the new one`);
    if (schedule === "constant") assert.deepEqual(extended.last, long.last, "same weights as the longer run");
    else assert.notDeepEqual(extended.last, long.last, "cosine: the first epochs' lr differed");
  }
});

Deno.test("trainingLogCsv() writes one row per epoch with empty cells for missing values", () => {
  const csv = trainingLogCsv({
    steps: [],
    epochs: [
      { epoch: 1, train_loss: 2.5, val_loss: 1.5, val_ap75: 0.25, val_ap: 0.125, lr: 0.001, seconds: 3 },
      { epoch: 2, train_loss: 2, val_loss: null, val_ap75: null }, // no validation, older log
    ],
  });
  assert.equal(
    csv,
    "epoch,train_loss,val_loss,val_ap75,val_ap,lr,seconds\n1,2.5,1.5,0.25,0.125,0.001,3\n2,2,,,,,\n",
  );
});

Deno.test("chooseRunWeights() picks a run's best/ unless --last, names the best epoch, leaves other files alone", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/weights.json`, "{}");
    assert.deepEqual(await chooseRunWeights(`${dir}/weights.json`, false), {
      file: `${dir}/weights.json`,
      which: "given",
      note: `using ${dir}/weights.json`,
    });
    await Deno.mkdir(`${dir}/best`);
    await Deno.writeTextFile(`${dir}/best/weights.json`, "{}");
    await Deno.writeTextFile(`${dir}/other.json`, "{}");
    const best = await chooseRunWeights(`${dir}/weights.json`, false);
    assert.equal(best.file, `${dir}/best/weights.json`);
    assert.equal(best.which, "best");
    assert.match(best.note, /--last/);
    assert.equal((await chooseRunWeights(`${dir}/weights.json`, true)).which, "last");
    assert.equal((await chooseRunWeights(`${dir}/other.json`, false)).which, "given");
    assert.equal((await chooseRunWeights(`${dir}/best/weights.json`, false)).which, "given");
  });
});
