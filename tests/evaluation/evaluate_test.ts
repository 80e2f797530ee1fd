import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import { ApJsonSchema, CocoResultsSchema, evaluateCocoFiles } from "../../lib/evaluation/coco_files.ts";
import {
  boxesFromMask,
  CocoGroundTruthSchema,
  type Dataset,
  DATASET_VERSION,
  writeDataset,
} from "../../lib/data/mod.ts";
import { saveWeights } from "../../lib/interop/mod.ts";
import type { Detection } from "../../lib/ssd/mod.ts";
import {
  detectBatched,
  detectionsToCocoResults,
  evaluateDetectorOnSplit,
} from "../../lib/evaluation/evaluate_split.ts";
import { decodeImage, decodeMask, type RgbImage } from "../../lib/image/codec.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/model.ts";
import { fixtureFolderDataset, sharedPath } from "../helpers.ts";

const GOLDEN_PATH = sharedPath("golden/");
const TASK = new URL("../../tasks/ap.ts", import.meta.url).pathname;

function haveGolden(): boolean {
  try {
    Deno.statSync(`${GOLDEN_PATH}ssd300_voc.pth`);
    return true;
  } catch (e) {
    if (Deno.env.get("CI")) throw new Error(`${GOLDEN_PATH} is required in CI: ${e}`);
    return false;
  }
}
const golden = haveGolden();

Deno.test("detectionsToCocoResults() keeps one class as category 1, in original-image pixels", () => {
  const dets: Detection[] = [
    { box: [0.25, 0.5, 0.75, 1], classId: 15, score: 0.9 },
    { box: [0, 0, 1, 1], classId: 7, score: 0.8 },
    { box: [-0.1, 0, 0.5, 0.5], classId: 15, score: 0.3 },
  ];
  const before = structuredClone(dets);
  const r = detectionsToCocoResults(dets, 15, { id: 4, width: 200, height: 100 });
  assert.deepEqual(dets, before);
  assert.deepEqual(r, [
    { image_id: 4, category_id: 1, bbox: [50, 50, 100, 50], score: 0.9 },
    // not clipped, as the reference: x = −0.1 × 200 = −20, w = 0.5 × 200 − (−20) = 120
    { image_id: 4, category_id: 1, bbox: [-20, 0, 120, 50], score: 0.3 },
  ]);
});

Deno.test("detectBatched() gives the same detections whatever the batch size and frees its tensors", async () => {
  await initBackend("wasm", null);
  const model = createSsd300(2, 3);
  try {
    const images: RgbImage[] = [0, 1].map((seed) => {
      const w = 64 + seed * 30, h = 48;
      const data = new Uint8Array(w * h * 3);
      for (let i = 0; i < data.length; i++) data[i] = (i * (7 + seed) + seed * 31) % 251;
      return { width: w, height: h, data };
    });
    const opts = { minScore: 0.3, maxOverlap: 0.45, topK: 20 };
    const before = tf.memory().numTensors;
    const batched = await detectBatched(model, 2, (i) => images[i], { ...opts, batchSize: 2 });
    const single = await detectBatched(model, 2, (i) => images[i], { ...opts, batchSize: 1 });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(batched.length, 2);
    for (let i = 0; i < 2; i++) {
      assert.equal(batched[i].length, single[i].length, `image ${i}`);
      batched[i].forEach((d, k) => {
        assert.equal(d.classId, single[i][k].classId);
        assert.ok(Math.abs(d.score - single[i][k].score) < 1e-5);
        d.box.forEach((v, j) => assert.ok(Math.abs(v - single[i][k].box[j]) < 1e-4));
      });
    }
    await assert.rejects(
      () => detectBatched(model, 1, (i) => images[i], { ...opts, batchSize: 0 }),
      /batchSize/,
    );
  } finally {
    disposeModel(model);
  }
});

/** A one-image dataset.json over the golden crop (image + instance mask) in a temporary directory. */
async function goldenCropDataset(dir: string): Promise<{ path: string; width: number; height: number }> {
  const file = "crop_FudanPed00001.png", maskFile = "crop_FudanPed00001_mask.png";
  const img = decodeImage(await Deno.readFile(GOLDEN_PATH + file), file);
  const instances = boxesFromMask(decodeMask(await Deno.readFile(GOLDEN_PATH + maskFile), maskFile));
  const dataset: Dataset = {
    version: DATASET_VERSION,
    origin: {
      kind: "directory",
      path: GOLDEN_PATH.replace(/\/$/, ""),
      url: null,
      sha256: null,
      layout: "official",
      root: "",
    },
    classes: ["background", "person"],
    split: { method: "seeded", seed: 0, algorithm: "test fixture", train_size: 0, test_size: 1 },
    counts: { images: 1, boxes: instances.length, train: 0, test: 1 },
    images: [{
      id: 1,
      name: "crop_FudanPed00001",
      file,
      mask: maskFile,
      annotation: null,
      width: img.width,
      height: img.height,
      split: "test",
      boxes: instances.map((m) => m.box),
      instance_ids: instances.map((m) => m.id),
      mask_areas: instances.map((m) => m.area),
    }],
    warnings: [],
  };
  const path = `${dir}/dataset.json`;
  await writeDataset(path, dataset);
  return { path, width: img.width, height: img.height };
}

Deno.test({
  name: "deno task ap (mode B) scores the VOC checkpoint's person class like the reference detect_objects",
  ignore: !golden,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const ds = await goldenCropDataset(dir);
      // The golden detections were made with min_score 0.2, max_overlap 0.45, top_k 200 on this crop (image 2).
      const cmd = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          TASK,
          "--dataset",
          ds.path,
          "--checkpoint",
          `${GOLDEN_PATH}ssd300_voc.pth`,
          "--min-score",
          "0.2",
          "--max-overlap",
          "0.45",
          "--top-k",
          "200",
          "--batch-size",
          "1",
          "--backend",
          "wasm",
          "--out",
          `${dir}/out`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(cmd.stderr);
      assert.equal(cmd.code, 0, stderr);
      assert.match(stderr, /detect test: 1\/1 img 100% [\d.]+ img\/s done in/);
      const read = async (f: string) => JSON.parse(await Deno.readTextFile(`${dir}/out/${f}`));
      const gt = CocoGroundTruthSchema.parse(await read("gt.coco.json"));
      const dets = CocoResultsSchema.parse(await read("detections.coco.json"));
      const ap = ApJsonSchema.parse(await read("ap.json"));

      const g = JSON.parse(await Deno.readTextFile(`${GOLDEN_PATH}golden.json`));
      const ref = g.detections["min_score=0.2,max_overlap=0.45,top_k=200"][2];
      const refPerson = ref.boxes
        .map((b: number[], i: number) => ({ box: b, label: ref.labels[i], score: ref.scores[i] }))
        .filter((d: { label: number }) => d.label === 15);
      // Forward outputs agree with torch to ~1e-4 relative, so a detection near the NMS or top-k boundary may
      // differ; require nearly all reference person boxes to be found with the same score and box.
      let found = 0;
      for (const r of refPerson) {
        const px = [
          r.box[0] * ds.width,
          r.box[1] * ds.height,
          (r.box[2] - r.box[0]) * ds.width,
          (r.box[3] - r.box[1]) * ds.height,
        ];
        const hit = dets.find((d) =>
          Math.abs(d.score - r.score) < 1e-3 && d.bbox.every((v, j) => Math.abs(v - px[j]) < 0.05)
        );
        if (hit) found++;
      }
      assert.ok(refPerson.length > 10, `reference has ${refPerson.length} person detections`);
      assert.ok(
        found >= 0.95 * refPerson.length &&
          Math.abs(dets.length - refPerson.length) <= 0.05 * refPerson.length,
        `${found} of ${refPerson.length} reference person detections reproduced; we have ${dets.length}`,
      );
      assert.ok(dets.every((d) => d.category_id === 1 && d.image_id === 1));
      // ap.json is what mode A computes from the two files written next to it.
      const again = evaluateCocoFiles(gt, dets, { id: 1, name: "person" }, { mode: "detector" });
      assert.deepEqual([ap.ap50, ap.ap75, ap.ap, ap.ar100], [again.ap50, again.ap75, again.ap, again.ar100]);
      assert.equal(ap.n_images, 1);
      assert.equal(ap.n_gt, 1);
      assert.equal(ap.n_detections, dets.length);
      assert.equal(ap.settings.class_index, 15);
      assert.equal(ap.settings.n_classes, 21);
      // Mode B writes the bootstrap intervals too; with one test image every resample is that image.
      assert.equal(ap.bootstrap?.resamples, 1000);
      assert.deepEqual([ap.ap50_ci, ap.ap75_ci, ap.ap_ci], [[ap.ap50, ap.ap50], [ap.ap75, ap.ap75], [
        ap.ap,
        ap.ap,
      ]]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("evaluateDetectorOnSplit() scores our 2-class weights on a split, person = class 1", async () => {
  const dir = await Deno.makeTempDir();
  await initBackend("wasm", null);
  const model = createSsd300(2, 11);
  try {
    const dataset = await fixtureFolderDataset(4);
    await writeDataset(`${dir}/dataset.json`, dataset);
    await saveWeights(`${dir}/weights.json`, model);
    const base = { datasetPath: `${dir}/dataset.json`, weights: `${dir}/weights.json`, backend: "wasm" };
    await assert.rejects(
      evaluateDetectorOnSplit({ ...base, className: "dog", minScore: 0.01, maxOverlap: 0.45, topK: 200 }),
      /class "dog" is not a class of .*weights\.json \(classes: background, person\)/,
    );
    const before = tf.memory().numTensors;
    const r = await evaluateDetectorOnSplit({
      ...base,
      split: "test",
      limit: 2,
      batchSize: 2,
      minScore: 0.01,
      maxOverlap: 0.45,
      topK: 50,
    });
    assert.equal(tf.memory().numTensors, before);
    const testImages = dataset.images.filter((im) => im.split === "test").slice(0, 2);
    assert.deepEqual(r.groundTruth.images.map((im) => im.id), testImages.map((im) => im.id));
    assert.equal(r.groundTruth.annotations.length, testImages.reduce((s, im) => s + im.boxes.length, 0));
    assert.equal(r.ap.settings.class_index, 1);
    assert.equal(r.ap.settings.n_classes, 2);
    assert.equal(r.ap.n_images, 2);
    assert.equal(r.ap.n_detections, r.detections.length);
    assert.ok(r.detections.length > 0 && r.detections.length <= 2 * 50);
    // Pixels of the original images, not fractions: boxes are tens of pixels in these ~100-160 px images.
    assert.ok(r.detections.some((d) => d.bbox[2] > 2 && d.bbox[3] > 2));
    assert.ok(
      r.detections.every((d) => d.category_id === 1 && testImages.some((im) => im.id === d.image_id)),
    );
  } finally {
    disposeModel(model);
    await Deno.remove(dir, { recursive: true });
  }
});
