import assert from "node:assert/strict";
import { COCO_FIXTURE, COCO_FIXTURE_CATEGORY, generateCocoFixture } from "../../fixtures/generate.ts";
import {
  buildCocoDataset,
  type CocoGroundTruth,
  DatasetError,
  DatasetSchema,
  openDirectorySource,
  parseCocoInstances,
  toCocoGroundTruth,
} from "../../lib/data/mod.ts";
import { cocoToEvalInputs, evaluateCoco } from "../../lib/evaluation/mod.ts";
import { encodeJpeg } from "../../lib/image/mod.ts";
import { FIXTURE_DIR, fixtureFolderDataset, FIXTURES_ROOT, withTempDir } from "../helpers.ts";

const IMAGES = `${FIXTURE_DIR}/PNGImages`;
const ANN = { path: `${FIXTURES_ROOT}/${COCO_FIXTURE}`, sha256: "0".repeat(64) };

async function fixtureGt(): Promise<CocoGroundTruth> {
  return parseCocoInstances(await Deno.readTextFile(`${FIXTURES_ROOT}/${COCO_FIXTURE}`), ANN.path);
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DatasetError, String(e));
    return e.problems.map((p) => `${p.file}: ${p.message}`);
  }
  assert.fail("expected a DatasetError");
}

Deno.test("generateCocoFixture() is deterministic and the committed coco/instances.json is up to date", async () => {
  const bytes = generateCocoFixture();
  assert.deepEqual(generateCocoFixture(), bytes);
  assert.deepEqual(await Deno.readFile(`${FIXTURES_ROOT}/${COCO_FIXTURE}`), bytes, "run: deno task fixtures");
});

Deno.test("buildCocoDataset() keeps one category's non-crowd boxes as targets and its crowd boxes as regions", async () => {
  const gt = await fixtureGt();
  const source = await openDirectorySource(IMAGES);
  const ds = buildCocoDataset(gt, source, { annotations: ANN, imagesPath: IMAGES, category: "figure" });
  assert.deepEqual(ds.classes, ["background", COCO_FIXTURE_CATEGORY.name]);
  assert.equal(ds.origin.layout, "coco");
  assert.deepEqual(ds.origin.annotations, ANN);
  // the same images and mask boxes as the Penn-Fudan layout of the fixtures, the crowd ones moved aside
  const pf = await fixtureFolderDataset(ds.counts.test);
  const crowdAnns = gt.annotations.filter((a) => a.iscrowd === 1);
  assert.ok(crowdAnns.length > 0);
  assert.equal(ds.images.length, pf.images.length);
  for (const [i, im] of ds.images.entries()) {
    const pfBoxes = pf.images[i].boxes;
    const crowd = (im.crowd ?? []).map((c) => c.box);
    assert.deepEqual([...im.boxes, ...crowd], pfBoxes, im.file);
    assert.equal(im.mask, null);
  }
  assert.equal(ds.images.reduce((s, im) => s + (im.crowd?.length ?? 0), 0), crowdAnns.length);
  assert.equal(ds.counts.boxes, gt.annotations.length - crowdAnns.length);
  // valid as an artifact, and its COCO ground truth gives back the source's bboxes with iscrowd
  DatasetSchema.parse(ds);
  const both = [...toCocoGroundTruth(ds, "train").annotations, ...toCocoGroundTruth(ds, "test").annotations];
  const key = (a: { bbox: number[]; iscrowd?: number }) => `${a.bbox.join(",")}/${a.iscrowd}`;
  assert.deepEqual(both.map(key).sort(), gt.annotations.map(key).sort());
  assert.deepEqual(toCocoGroundTruth(ds).categories.map((c) => c.name), ["figure"]);
});

Deno.test("buildCocoDataset() without a category among several lists them; an unknown one too", async () => {
  const gt = await fixtureGt();
  const source = await openDirectorySource(IMAGES);
  const opts = { annotations: ANN, imagesPath: IMAGES };
  assert.match(problemsOf(() => buildCocoDataset(gt, source, opts))[0], /3:figure, 5:bicycle.*--category/);
  assert.match(
    problemsOf(() => buildCocoDataset(gt, source, { ...opts, category: "dog" }))[0],
    /no usable.*"dog"/,
  );
  // bicycle has no annotation: no image left
  assert.match(
    problemsOf(() => buildCocoDataset(gt, source, { ...opts, category: "bicycle" }))[0],
    /no image/,
  );
});

Deno.test("buildCocoDataset() lists EVERY problem by file: missing image, wrong size, bbox outside, bad bytes", async () => {
  await withTempDir(async (dir) => {
    const img = { width: 20, height: 10, data: new Uint8Array(600).fill(128) };
    await Deno.writeFile(`${dir}/a.jpg`, encodeJpeg(img));
    await Deno.writeFile(`${dir}/b.jpg`, encodeJpeg(img));
    await Deno.writeFile(`${dir}/c.png`, new Uint8Array([1, 2, 3]));
    await Deno.writeFile(`${dir}/d.jpg`, encodeJpeg(img));
    const gt = parseCocoInstances(
      JSON.stringify({
        images: [
          { id: 1, file_name: "a.jpg", width: 20, height: 10 },
          { id: 2, file_name: "b.jpg", width: 30, height: 10 },
          { id: 3, file_name: "c.png" },
          { id: 4, file_name: "missing.jpg" },
          { id: 5, file_name: "d.jpg" },
        ],
        annotations: [
          { id: 1, image_id: 1, category_id: 7, bbox: [1, 1, 5, 5] },
          { id: 2, image_id: 1, category_id: 7, bbox: [10, 2, 15, 5] },
          { id: 3, image_id: 5, category_id: 7, bbox: [0.5, 0, 19.9, 10.4] },
        ],
        categories: [{ id: 7, name: "car" }],
      }),
      `${dir}/ann.json`,
    );
    const source = await openDirectorySource(dir);
    const opts = { annotations: { path: `${dir}/ann.json`, sha256: "0".repeat(64) }, imagesPath: dir };
    const problems = problemsOf(() => buildCocoDataset(gt, source, opts));
    assert.equal(problems.length, 4, problems.join("\n"));
    assert.match(
      problems.find((p) => p.includes("a.jpg"))!,
      /annotation id 2: bbox \[10, 2, 15, 5\] outside/,
    );
    assert.match(problems.find((p) => p.includes("b.jpg"))!, /20×10 but .* says 30×10/);
    assert.ok(problems.some((p) => p.includes("c.png")));
    assert.match(problems.find((p) => p.includes("missing.jpg"))!, /missing/);
    // within the 1 px tolerance a bbox is clipped to its image (d.jpg is fine)
    gt.annotations.splice(1, 1);
    gt.images.splice(1, 3);
    const ds = buildCocoDataset(gt, source, { ...opts, testSize: 1 });
    assert.deepEqual(ds.images.find((im) => im.file === "d.jpg")!.boxes, [[0.5, 0, 20, 10]]);
  });
});

Deno.test("parseCocoInstances() names the file and the bad field", () => {
  assert.throws(() => parseCocoInstances("{", "x.json"), /x\.json: not JSON/);
  assert.throws(
    () =>
      parseCocoInstances(JSON.stringify({ images: [], annotations: [{ id: 1 }], categories: [] }), "y.json"),
    (e: unknown) => e instanceof DatasetError && e.problems.every((p) => p.file === "y.json"),
  );
});

Deno.test("a crowd region of the dataset is ignored in AP as pycocotools: detections on it are not false positives", async () => {
  const gt = await fixtureGt();
  const ds = buildCocoDataset(gt, await openDirectorySource(IMAGES), {
    annotations: ANN,
    imagesPath: IMAGES,
    category: "figure",
  });
  const coco = toCocoGroundTruth(ds, "train");
  const crowd = coco.annotations.find((a) => a.iscrowd === 1)!;
  const real = coco.annotations.filter((a) => a.iscrowd === 0);
  const perfect = real.map((a) => ({ image_id: a.image_id, category_id: 1, bbox: a.bbox, score: 0.9 }));
  const onCrowd = { image_id: crowd.image_id, category_id: 1, bbox: crowd.bbox, score: 0.95 };
  const score = (dets: typeof perfect) => {
    const { imageIds, gts, dets: d } = cocoToEvalInputs(coco, dets, 1);
    return evaluateCoco(gts, d, { imageIds }).ap75;
  };
  assert.equal(score(perfect), 1);
  assert.equal(score([...perfect, onCrowd]), 1); // ignored, not a false positive ranked first
  const asReal = { ...onCrowd, bbox: [0, 0, 3, 3] as [number, number, number, number] };
  assert.ok(score([...perfect, asReal]) < 1); // the same detection elsewhere is one
});
