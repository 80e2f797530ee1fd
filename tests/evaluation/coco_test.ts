import assert from "node:assert/strict";
import { ArtifactError, readJsonArtifact, writeJsonArtifact } from "../../lib/core/mod.ts";
import {
  ApJsonSchema,
  evaluateCocoFiles,
  fractionalXyxyToPixelXywh,
  parseCocoGtFile,
  parseCocoResults,
  pixelXyxyToXywh,
  readCocoGtFile,
  readCocoResults,
  selectCategory,
  xywhToPixelXyxy,
} from "../../lib/evaluation/coco_files.ts";
import { evaluateCoco } from "../../lib/evaluation/ap.ts";
import { type CocoGroundTruth, CocoGroundTruthSchema } from "../../lib/data/mod.ts";
import { CocoResultsSchema } from "../../lib/evaluation/mod.ts";

const GT: CocoGroundTruth = {
  images: [{ id: 1, width: 100, height: 50 }, { id: 2, width: 80, height: 80 }],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 30], area: 600, iscrowd: 0 },
    { id: 2, image_id: 2, category_id: 1, bbox: [0, 0, 40, 40] },
    { id: 3, image_id: 2, category_id: 2, bbox: [50, 50, 10, 10] },
  ],
  categories: [{ id: 1, name: "person" }, { id: 2, name: "dog" }],
};

Deno.test("parseCocoResults() names the entry, the field and the bad value", () => {
  const entries = Array.from(
    { length: 18 },
    () => ({ image_id: 1, category_id: 1, bbox: [1, 2, 3, 4], score: 0.5 }),
  );
  entries[17] = { ...entries[17], bbox: [1, 2, 3] };
  assert.throws(
    () => parseCocoResults("detections.coco.json", entries),
    (e: unknown) => {
      assert.ok(e instanceof ArtifactError);
      assert.equal(e.message, "detections.coco.json: entry 17 field bbox: expected 4 numbers (got [1,2,3])");
      return true;
    },
  );
  assert.throws(
    () => parseCocoResults("d.json", [{ image_id: 1, category_id: 1, bbox: [0, 0, -1, 2], score: 1 }]),
    /entry 0 field bbox: expected width and height ≥ 0/,
  );
  assert.throws(
    () => parseCocoResults("d.json", [{ image_id: 1, category_id: 1, bbox: [0, 0, 1, 2] }]),
    /entry 0 field score/,
  );
  assert.throws(() => parseCocoResults("d.json", { results: [] }), /d\.json: \(root\)/);
});

Deno.test("parseCocoResults() rejects detections on images the ground truth does not have", () => {
  const dets = [{ image_id: 9, category_id: 1, bbox: [0, 0, 1, 1], score: 0.3 }];
  assert.throws(
    () => parseCocoResults("d.json", dets, new Set([1, 2])),
    /entry 0 field image_id: .*\(got 9\)/,
  );
  assert.equal(parseCocoResults("d.json", dets).length, 1);
});

Deno.test("parseCocoGtFile() validates entries and cross-references", () => {
  assert.deepEqual(parseCocoGtFile("gt.json", GT), GT);
  const badCrowd = structuredClone(GT) as unknown as { annotations: { iscrowd: number }[] };
  badCrowd.annotations[1].iscrowd = 3;
  assert.throws(
    () => parseCocoGtFile("gt.json", badCrowd),
    /gt\.json: annotations entry 1 field iscrowd: .*\(got 3\)/,
  );
  const orphan = structuredClone(GT);
  orphan.annotations[0].image_id = 7;
  assert.throws(
    () => parseCocoGtFile("gt.json", orphan),
    /annotations entry 0 field image_id: no such image \(got 7\)/,
  );
  assert.throws(() => parseCocoGtFile("gt.json", { images: [], annotations: [] }), /field categories/);
});

Deno.test("selectCategory() picks by name, id, the only one, or person", () => {
  assert.deepEqual(selectCategory(GT), { id: 1, name: "person" });
  assert.deepEqual(selectCategory(GT, { name: "dog" }), { id: 2, name: "dog" });
  assert.deepEqual(selectCategory(GT, { id: 2 }), { id: 2, name: "dog" });
  assert.throws(() => selectCategory(GT, { name: "cat" }), /1:person, 2:dog/);
  const dogs = { ...GT, categories: [{ id: 2, name: "dog" }, { id: 3, name: "cat" }] };
  assert.throws(() => selectCategory(dogs), /cannot choose/);
});

Deno.test("box conversions: pixel and fractional xyxy to COCO xywh (no +1) and back", () => {
  assert.deepEqual(pixelXyxyToXywh([10, 20, 30, 60]), [10, 20, 20, 40]);
  assert.deepEqual(xywhToPixelXyxy([10, 20, 20, 40]), [10, 20, 30, 60]);
  // fractional × [W, H, W, H]: 0.25 * 200 = 50, 0.5 * 100 = 50, 0.75 * 200 = 150, 1 * 100 = 100.
  assert.deepEqual(fractionalXyxyToPixelXywh([0.25, 0.5, 0.75, 1], 200, 100), [50, 50, 100, 50]);
});

Deno.test("evaluateCocoFiles() evaluates only the chosen category and fills a valid ap.json", () => {
  const results = [
    { image_id: 1, category_id: 1, bbox: [10, 10, 20, 30] as [number, number, number, number], score: 0.9 },
    { image_id: 2, category_id: 2, bbox: [50, 50, 10, 10] as [number, number, number, number], score: 0.8 },
    { image_id: 2, category_id: 1, bbox: [60, 60, 10, 10] as [number, number, number, number], score: 0.7 },
  ];
  const ap = evaluateCocoFiles(GT, results, { id: 1, name: "person" }, { mode: "coco-files" });
  ApJsonSchema.parse(ap);
  const direct = evaluateCoco(
    [{ image_id: 1, bbox: [10, 10, 20, 30], area: 600 }, { image_id: 2, bbox: [0, 0, 40, 40] }],
    [results[0], results[2]],
    { imageIds: [1, 2] },
  );
  assert.deepEqual([ap.ap50, ap.ap75, ap.ap, ap.ar100], [direct.ap50, direct.ap75, direct.ap, direct.ar100]);
  assert.equal(ap.n_gt, 2);
  assert.equal(ap.n_detections, 2);
  assert.equal(ap.n_images, 2);
  assert.equal(ap.pr_curve_75.length, 101);
  assert.deepEqual(ap.settings.category, { id: 1, name: "person" });
  const dog = evaluateCocoFiles(GT, results, { id: 2, name: "dog" }, { mode: "coco-files" });
  assert.equal(dog.n_gt, 1);
  assert.ok(dog.ap50 > 0.99);
});

Deno.test("ap.json, detections.coco.json and gt.coco.json round-trip through their schemas; other writers' shapes read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const results = [{
      image_id: 1,
      category_id: 1,
      bbox: [10, 10, 20, 30] as [number, number, number, number],
      score: 0.9,
    }];
    const ap = evaluateCocoFiles(GT, results, { id: 1, name: "person" }, {
      mode: "coco-files",
      annotations: "gt.json",
    });
    await writeJsonArtifact(`${dir}/ap.json`, ApJsonSchema, ap);
    assert.deepEqual(await readJsonArtifact(`${dir}/ap.json`, ApJsonSchema), ap);
    // settings this version does not write (a detector run's parameters, a future field) are kept, not refused
    const other = { ...ap, settings: { ...ap.settings, mode: "detector", limit: 3, backend: "wasm" } };
    await Deno.writeTextFile(`${dir}/other.json`, JSON.stringify(other));
    assert.deepEqual(await readJsonArtifact(`${dir}/other.json`, ApJsonSchema), other);

    await writeJsonArtifact(`${dir}/detections.coco.json`, CocoResultsSchema, results);
    assert.deepEqual(await readCocoResults(`${dir}/detections.coco.json`, new Set([1, 2])), results);
    // pycocotools' loadRes output adds id and area to each result
    const loaded = results.map((r, i) => ({ ...r, id: i + 1, area: 600 }));
    await Deno.writeTextFile(`${dir}/loadres.json`, JSON.stringify(loaded));
    assert.deepEqual(await readCocoResults(`${dir}/loadres.json`), loaded);

    await writeJsonArtifact(`${dir}/gt.coco.json`, CocoGroundTruthSchema, GT);
    assert.deepEqual(await readCocoGtFile(`${dir}/gt.coco.json`), GT);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
