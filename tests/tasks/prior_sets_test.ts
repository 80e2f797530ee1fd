/**
 * Prior sets end to end: the pedestrian set's matching advantage on Penn-Fudan-shaped boxes, and
 * `deno task finetune --priors pedestrian` → weights that say so → `deno task ap` decoding with those priors.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { initBackend } from "../../lib/engine/backend.ts";
import type { CocoResult } from "../../lib/evaluation/coco_files.ts";
import { fractionalBoxes, openDatasetSource, writeDataset } from "../../lib/data/mod.ts";
import { detectInImage, detectObjects } from "../../lib/ssd/mod.ts";
import { detectionsToCocoResults, EVAL_DETECT_DEFAULTS } from "../../lib/evaluation/evaluate_split.ts";
import { preprocessForSsd } from "../../lib/ssd/mod.ts";
import { matchPriors, multiboxLoss } from "../../lib/ssd/loss.ts";
import { mulberry32 } from "../../lib/core/mod.ts";
import { createSsd300, disposeModel, ssdForward, type SsdModel } from "../../lib/ssd/model.ts";
import { modelParamData, SsdWorkerPool } from "../../lib/engine/pool.ts";
import { SSD_INPUT_FLOATS } from "../../lib/ssd/mod.ts";
import { createPriorsCxcy, N_PRIORS, type PriorSetName } from "../../lib/ssd/priors.ts";
import { decodeResumeState, type TrainingLog } from "../../lib/train/mod.ts";
import { loadWeights } from "../../lib/interop/mod.ts";
import { fixtureFolderDataset, withTempDir } from "../helpers.ts";

const FINETUNE = new URL("../../tasks/finetune.ts", import.meta.url).pathname;
const AP = new URL("../../tasks/ap.ts", import.meta.url).pathname;
/** The permissions of `deno task finetune` / `deno task ap` (deno.json). */
const TASK_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys"];

await initBackend("wasm", null);

const PRIORS: Record<PriorSetName, Float32Array> = {
  reference: createPriorsCxcy("reference"),
  pedestrian: createPriorsCxcy("pedestrian"),
};

/** Positive priors (IoU ≥ 0.5, plus the one each object is forced onto) of one box alone, per prior set. */
function positives(box: Float32Array): Record<PriorSetName, number> {
  const count = (p: Float32Array) => matchPriors({ boxes: box, labels: [1] }, p).nPositives;
  return { reference: count(PRIORS.reference), pedestrian: count(PRIORS.pedestrian) };
}

function fixtureDataset(testSize: number) {
  return fixtureFolderDataset(testSize);
}

Deno.test("matchPriors() on the pedestrian priors gives Penn-Fudan-shaped (tall) boxes more positives than the reference's; wide boxes fewer", async () => {
  const dataset = await fixtureDataset(2);
  let tall = 0, reference = 0, pedestrian = 0;
  for (const im of dataset.images) {
    const boxes = fractionalBoxes(im); // fractional xyxy
    for (let i = 0; i < boxes.length; i += 4) {
      const box = boxes.slice(i, i + 4);
      const ratio = (box[2] - box[0]) / (box[3] - box[1]); // w/h in the squashed 300×300 input
      if (ratio > 0.5) continue;
      const n = positives(box);
      assert.ok(n.pedestrian >= n.reference, `box ${i / 4} of image ${im.id}: ${JSON.stringify(n)}`);
      tall++;
      reference += n.reference;
      pedestrian += n.pedestrian;
    }
  }
  assert.ok(tall >= 20, `${tall} tall fixture boxes`);
  // measured on the fixtures: 242 vs 115 positives over 24 boxes
  assert.ok(pedestrian >= 1.5 * reference, `pedestrian ${pedestrian} vs reference ${reference} positives`);
  // the trade-off: a wide box (w/h = 2, e.g. a car) matches the reference's ratio-2 priors, not the tall set
  const wide = positives(new Float32Array([0.3, 0.4, 0.7, 0.6]));
  assert.ok(wide.reference > wide.pedestrian, JSON.stringify(wide));
});

async function run(task: string, args: string[]): Promise<{ ok: boolean; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_PERMISSIONS, task, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { ok: out.success, stderr: new TextDecoder().decode(out.stderr) };
}

/** Class-1 COCO results of `model` on one image, decoded against `priors` (as lib/evaluation/evaluate_split.ts does). */
function cocoResults(
  model: SsdModel,
  image: Float32Array,
  priors: Float32Array,
  meta: { id: number; width: number; height: number },
): CocoResult[] {
  const { locs, scores } = tf.tidy(() => ssdForward(model, tf.tensor4d(image, [1, 300, 300, 3])));
  const l = locs.dataSync() as Float32Array, s = scores.dataSync() as Float32Array;
  tf.dispose([locs, scores]);
  return detectionsToCocoResults(detectObjects(l, s, 2, EVAL_DETECT_DEFAULTS, priors), 1, meta);
}

Deno.test({
  name:
    "finetune --priors pedestrian trains on those priors and saves them; ap decodes with them; resume refuses other priors",
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (dir) => {
      const dataset = await fixtureDataset(10); // 2 train, 10 test images
      await writeDataset(`${dir}/dataset.json`, dataset);
      const out = `${dir}/run`;
      const finetuneArgs = (priorSet: PriorSetName) => [
        `--dataset=${dir}/dataset.json`,
        "--from-scratch",
        `--out=${out}`,
        "--epochs=1",
        "--batch-size=2",
        "--no-augment",
        "--no-shuffle",
        "--val-fraction=0",
        "--freeze=base+aux",
        "--seed=0",
        "--backend=wasm",
        `--priors=${priorSet}`,
      ];
      const ft = await run(FINETUNE, finetuneArgs("pedestrian"));
      assert.ok(ft.ok, ft.stderr);
      assert.match(ft.stderr, /pedestrian priors/);
      const manifest = JSON.parse(await Deno.readTextFile(`${out}/weights.json`));
      assert.equal(manifest.prior_set, "pedestrian");
      const runJson = JSON.parse(await Deno.readTextFile(`${out}/run.json`));
      assert.equal(runJson.settings.priorSet, "pedestrian");
      const resume = decodeResumeState(await Deno.readFile(`${out}/resume.bin`));
      assert.equal(resume.settings.priorSet, "pedestrian");
      disposeModel(resume.model);

      // the logged loss of step 1 is the start model's loss against the pedestrian priors, not the reference's
      const source = await openDatasetSource(dataset, `${dir}/dataset.json`);
      const trainImages = dataset.images.filter((im) => im.split === "train");
      const start = createSsd300(2, 0); // --from-scratch --seed 0
      const gts = trainImages.map((im) => ({ boxes: fractionalBoxes(im), labels: im.boxes.map(() => 1) }));
      const losses = tf.tidy(() => {
        const images = tf.tensor4d(
          Float32Array.from(trainImages.flatMap((im) => [...preprocessForSsd(source.readImage(im))])),
          [trainImages.length, 300, 300, 3],
        );
        const { locs, scores } = ssdForward(start, images);
        return {
          pedestrian: multiboxLoss(locs, scores, gts, PRIORS.pedestrian).loss.dataSync()[0],
          reference: multiboxLoss(locs, scores, gts, PRIORS.reference).loss.dataSync()[0],
        };
      });
      disposeModel(start);
      const log: TrainingLog = JSON.parse(await Deno.readTextFile(`${out}/train-log.json`));
      const logged = log.steps[0].loss;
      assert.ok(
        Math.abs(logged - losses.pedestrian) / losses.pedestrian < 1e-4,
        `${logged} vs ${losses.pedestrian}`,
      );
      assert.ok(
        Math.abs(logged - losses.reference) / losses.reference > 1e-2,
        `${logged} vs ${losses.reference}`,
      );

      // deno task ap on the first test image: ap.json records the prior set; boxes are decoded with pedestrian priors
      const ap = await run(AP, [
        `--dataset=${dir}/dataset.json`,
        `--weights=${out}/weights.json`,
        "--limit=1",
        "--batch-size=1",
        "--backend=wasm",
        `--out=${dir}/ap`,
      ]);
      assert.ok(ap.ok, ap.stderr);
      const apJson = JSON.parse(await Deno.readTextFile(`${dir}/ap/ap.json`));
      assert.equal(apJson.settings.priorSet, "pedestrian");
      const dets: CocoResult[] = JSON.parse(await Deno.readTextFile(`${dir}/ap/detections.coco.json`));
      const testImage = dataset.images.find((im) => im.split === "test")!;
      const trained = await loadWeights(`${out}/weights.json`);
      assert.equal(trained.priorSet, "pedestrian");
      const input = preprocessForSsd(source.readImage(testImage));
      const expected = cocoResults(trained, input, PRIORS.pedestrian, testImage);
      const withReference = cocoResults(trained, input, PRIORS.reference, testImage);
      disposeModel(trained);
      assert.ok(
        expected.length > 0 && dets.length === expected.length,
        `${dets.length} vs ${expected.length}`,
      );
      const maxDiff = (a: CocoResult[], b: CocoResult[]) =>
        Math.max(...a.map((d, i) => Math.max(...d.bbox.map((v, k) => Math.abs(v - b[i].bbox[k])))));
      assert.ok(
        maxDiff(dets, expected) < 1e-2,
        `ap boxes differ from pedestrian decoding by ${maxDiff(dets, expected)} px`,
      );
      assert.ok(
        maxDiff(dets.slice(0, withReference.length), withReference) > 1,
        "reference decoding differs",
      );

      // a resume with other priors is refused, naming them
      const again = await run(FINETUNE, finetuneArgs("reference"));
      assert.equal(again.ok, false);
      assert.match(again.stderr, /priorSet: "pedestrian"/);
    }, "prior_sets_test_"),
});

Deno.test({
  name: "detectInImage() and SsdWorkerPool.detect() decode against the model's prior set",
  sanitizeResources: false,
  fn: async () => {
    const model = createSsd300(2, 3);
    model.priorSet = "pedestrian";
    const pool = await SsdWorkerPool.create({
      workers: 1,
      nClasses: 2,
      priorSet: model.priorSet,
      params: await modelParamData(model),
    });
    try {
      const rand = mulberry32(5);
      const rgb = {
        width: 300,
        height: 300,
        data: Uint8Array.from({ length: 300 * 300 * 3 }, () => rand() * 256),
      };
      const images = [preprocessForSsd(rgb)]; // the network input detectInImage builds from rgb
      assert.equal(images[0].length, SSD_INPUT_FLOATS);
      const { locs, scores } = await pool.forward(images);
      const opts = { minScore: 0.2, maxOverlap: 0.45, topK: 20 };
      const [dets] = await pool.detect(images, opts);
      const inProcess = await detectInImage(model, rgb, opts);
      const decode = (a: PriorSetName) => detectObjects(locs, scores, 2, opts, PRIORS[a]);
      const [pedestrian, reference] = [decode("pedestrian"), decode("reference")];
      assert.equal(locs.length, N_PRIORS * 4);
      assert.ok(dets.length > 0 && dets.length === pedestrian.length);
      // largest coordinate difference over the common prefix of two detection lists
      const diff = (a: typeof dets, b: typeof dets) =>
        Math.max(
          ...a.slice(0, b.length).map((d, i) => Math.max(...d.box.map((v, k) => Math.abs(v - b[i].box[k])))),
        );
      assert.ok(diff(dets, pedestrian) < 1e-5, `pool vs pedestrian decoding: ${diff(dets, pedestrian)}`);
      assert.ok(inProcess.length === pedestrian.length, `${inProcess.length} vs ${pedestrian.length}`);
      assert.ok(
        diff(inProcess, pedestrian) < 1e-4,
        `detectInImage vs pedestrian: ${diff(inProcess, pedestrian)}`,
      );
      // (the top boxes may come from ratio-1 priors, which both sets share)
      assert.ok(diff(dets, reference) > 1e-3, "reference decoding would give other boxes");
    } finally {
      await pool.close();
      disposeModel(model);
    }
  },
});
