/**
 * The WebGPU engine against the reference PyTorch goldens (../shared/golden: README.md there), on whatever adapter
 * there is (Mesa's llvmpipe in CI, slow: sized to about two minutes there):
 * - one SSD300 forward of the 21-class VOC model on golden image 0 against voc_locs/voc_scores;
 * - the start of the 2-class SGD trajectory on the golden batch of 3 images, through the engine's runner (as
 *   `deno task finetune --backend webgpu` trains): the loss and every parameter's gradient statistics of step 1
 *   (micro-batches of one image, hard negatives mined on the device, the loss read back once), one SGD step
 *   (lr 1e-3, momentum 0.9) on the GPU, and the loss before step 2 (one pass over the 3 images) — the first two
 *   losses of `sgd_trajectory_2class`;
 * - no tensor left behind by either.
 * Skipped without an adapter or the goldens; both fail under CI.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initEngine, startRunner } from "../../lib/engine/mod.ts";
import { loadCheckpointFile } from "../../lib/interop/mod.ts";
import {
  buildTargets,
  disposeModel,
  type GroundTruth,
  multiboxLossPart,
  N_PRIORS,
  priorsCxcyFor,
  ssdForward,
} from "../../lib/ssd/mod.ts";
import { Optimizer } from "../../lib/train/optim.ts";
import type { TrainSample } from "../../lib/engine/mod.ts";
import {
  compareArrays,
  GOLDEN_DIR,
  goldenF32,
  goldenJson,
  goldenPersonModel,
  haveGolden,
  requireWebGpu,
  webGpuForTests,
} from "../helpers.ts";

const GPU = await webGpuForTests();

/** Forward tolerances of the WASM path (tests/parity/model_test.ts). Measured on llvmpipe: 2.9e-5, 3.0e-6. */
const FORWARD_MAX_ABS = 1e-3;
const FORWARD_REL_FRO = 1e-5;
/** Loss 1e-5 relative; gradient abs-sum, L2 and sum 1e-3 relative; trajectory 1e-3 (tests/parity/train_test.ts). */
const LOSS_RTOL = 1e-5;
const GRAD_RTOL = 1e-3;
const TRAJ_RTOL = 1e-3;

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** Image i of the golden NCHW batch as HWC [300 * 300 * 3]. */
function goldenImage(nchw: Float32Array, i: number): Float32Array {
  const image = new Float32Array(300 * 300 * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < 300 * 300; p++) image[p * 3 + c] = nchw[(i * 3 + c) * 300 * 300 + p];
  }
  return image;
}

Deno.test({
  name:
    `WebGPU: ssdForward() of ssd300_voc.pth on golden image 0 = voc_locs/voc_scores (max |Δ| ≤ ${FORWARD_MAX_ABS}, ` +
    `rel. Frobenius ≤ ${FORWARD_REL_FRO})`,
  ignore: GPU.ignore,
  fn: async (t) => {
    requireWebGpu(GPU);
    if (!haveGolden(t, "ssd300_voc.pth")) return;
    const [input, locsGold, scoresGold] = await Promise.all(
      ["input_nchw.f32", "voc_locs.f32", "voc_scores.f32"].map((f) => goldenF32(t, f)),
    );
    if (!input || !locsGold || !scoresGold) return;
    await initEngine({ backend: "webgpu", use: "infer" }, null);
    assert.equal(tf.getBackend(), "webgpu");
    const model = await loadCheckpointFile(new URL("ssd300_voc.pth", GOLDEN_DIR).pathname);
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    const x = tf.tensor4d(goldenImage(input, 0), [1, 300, 300, 3]);
    const { locs, scores } = ssdForward(model, x);
    const l = compareArrays(await locs.data(), locsGold.subarray(0, N_PRIORS * 4));
    const s = compareArrays(await scores.data(), scoresGold.subarray(0, N_PRIORS * 21));
    tf.dispose([x, locs, scores]);
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    disposeModel(model);
    console.error(
      `WebGPU forward parity (${((performance.now() - t0) / 1000).toFixed(1)} s): locs max|Δ| ${
        l.maxAbs.toExponential(2)
      } relFro ${l.relFro.toExponential(2)}; scores max|Δ| ${s.maxAbs.toExponential(2)} relFro ${
        s.relFro.toExponential(2)
      }`,
    );
    for (const [what, e] of [["locs", l], ["scores", s]] as const) {
      assert.ok(e.maxAbs <= FORWARD_MAX_ABS, `${what}: max |Δ| ${e.maxAbs}`);
      assert.ok(e.relFro <= FORWARD_REL_FRO, `${what}: relative Frobenius error ${e.relFro}`);
    }
  },
});

interface Golden {
  multibox_loss_2class: number;
  grads_2class: Record<string, { sum: number; abs_sum: number; l2: number }>;
  sgd_trajectory_2class: { losses_before_each_step: number[] };
  gt_boxes_fractional: number[][][];
}

Deno.test({
  name: `WebGPU: the runner's loss, gradients and SGD match the first two steps of the golden trajectory ` +
    `(loss ${LOSS_RTOL}, gradients ${GRAD_RTOL}, trajectory ${TRAJ_RTOL} relative)`,
  ignore: GPU.ignore,
  fn: async (t) => {
    requireWebGpu(GPU);
    if (!haveGolden(t, "ssd300_voc.pth") || !haveGolden(t, "person_heads.pth")) return;
    const golden = await goldenJson(t) as Golden | undefined;
    const input = await goldenF32(t, "input_nchw.f32");
    if (!golden || !input) return;
    const engine = await initEngine({ backend: "webgpu", use: "train" }, null);
    const model = goldenPersonModel();
    const samples: TrainSample[] = golden.gt_boxes_fractional.map((boxes, i) => {
      const gt: GroundTruth = { boxes: new Float32Array(boxes.flat()), labels: boxes.map(() => 1) };
      return { image: goldenImage(input, i), gt };
    });
    const names = [...model.params.keys()];
    const before = tf.memory().numTensors;
    const runner = await startRunner(model, engine, { microBatch: 1 });
    const sgd = new Optimizer({ kind: "sgd", momentum: 0.9 });
    const expected = golden.sgd_trajectory_2class.losses_before_each_step;
    try {
      const t0 = performance.now();
      const first = await runner.gradients(samples, names);
      const secs = (performance.now() - t0) / 1000;
      const lossErr = rel(first.loss, golden.multibox_loss_2class);
      let worst = 0;
      const failures: string[] = [];
      assert.deepEqual(new Set(first.grads.keys()), new Set(names), "every parameter has a gradient");
      for (const name of names) {
        const d = await first.grads.get(name)!.data();
        let sum = 0, absSum = 0, sq = 0;
        for (const v of d) (sum += v, absSum += Math.abs(v), sq += v * v);
        const e = golden.grads_2class[name];
        const errs = [rel(absSum, e.abs_sum), rel(Math.sqrt(sq), e.l2), Math.abs(sum - e.sum) / e.abs_sum];
        worst = Math.max(worst, ...errs);
        if (errs.some((x) => x > GRAD_RTOL)) failures.push(`${name}: ${errs.map((x) => x.toExponential(2))}`);
      }
      sgd.step(model.params, first.grads, 1e-3);
      tf.dispose([...first.grads.values()]);
      // the loss before step 2: one forward pass over the batch, the loss on this thread (as validation does)
      const t1 = performance.now();
      const after = await runner.forward(samples.map((s) => s.image));
      const { targets, nPositivesTotal } = buildTargets(samples.map((s) => s.gt), priorsCxcyFor(undefined));
      const lossTensor = tf.tidy(() =>
        multiboxLossPart(
          tf.tensor3d(after.locs, [3, N_PRIORS, 4]),
          tf.tensor3d(after.scores, [3, N_PRIORS, 2]),
          targets,
          nPositivesTotal,
        ).loss
      );
      const loss2 = (await lossTensor.data())[0];
      lossTensor.dispose();
      const secs2 = (performance.now() - t1) / 1000;
      const trajErr = [lossErr, rel(loss2, expected[1])];
      console.error(
        `WebGPU training: step 1 (3 images, micro-batch 1) ${
          secs.toFixed(1)
        } s, loss ${first.loss} vs ${golden.multibox_loss_2class} (rel ${
          lossErr.toExponential(2)
        }); gradients of ${names.length} params: worst rel ${
          worst.toExponential(2)
        }; loss before step 2 ${loss2} vs ${expected[1]} (rel ${trajErr[1].toExponential(2)}, ${
          secs2.toFixed(1)
        } s)`,
      );
      assert.ok(lossErr <= LOSS_RTOL, `loss relative error ${lossErr}`);
      assert.deepEqual(failures, []);
      assert.ok(rel(first.loss, expected[0]) <= TRAJ_RTOL, "loss before step 1");
      assert.ok(trajErr[1] <= TRAJ_RTOL, `loss before step 2: relative error ${trajErr[1]}`);
    } finally {
      sgd.dispose();
      await runner.close();
      disposeModel(model);
    }
    assert.ok(tf.memory().numTensors <= before - names.length, "no tensor left behind");
  },
});
