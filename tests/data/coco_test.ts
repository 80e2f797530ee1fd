import assert from "node:assert/strict";
import { readJsonArtifact, writeJsonArtifact } from "../../lib/core/mod.ts";
import { CocoGroundTruthSchema, toCocoGroundTruth } from "../../lib/data/mod.ts";
import { fixtureDataset } from "../helpers.ts";

Deno.test("toCocoGroundTruth() exports the test split with bbox [x, y, x_max − x_min, y_max − y_min]", async () => {
  const { ds } = await fixtureDataset();
  const coco = toCocoGroundTruth(ds);
  const test = ds.images.filter((im) => im.split === "test");
  assert.deepEqual(coco.images.map((im) => im.id), test.map((im) => im.id));
  assert.deepEqual(coco.categories, [{ id: 1, name: "person", supercategory: "person" }]);
  const expected = test.flatMap((im) =>
    im.boxes.map(([x0, y0, x1, y1]) => ({
      image_id: im.id,
      category_id: 1,
      bbox: [x0, y0, x1 - x0, y1 - y0],
      area: (x1 - x0) * (y1 - y0),
      iscrowd: 0,
    }))
  );
  assert.deepEqual(coco.annotations.map(({ id: _, ...a }) => a), expected);
  assert.deepEqual(coco.annotations.map((a) => a.id), expected.map((_, i) => i + 1));
  assert.equal(coco.images[0].file_name, test[0].file.split("/").pop());
});

Deno.test("annotations.coco.json round-trips through CocoGroundTruthSchema; a minimal COCO ground truth reads", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { ds } = await fixtureDataset();
    const coco = toCocoGroundTruth(ds, "test");
    await writeJsonArtifact(`${dir}/annotations.coco.json`, CocoGroundTruthSchema, coco);
    assert.deepEqual(await readJsonArtifact(`${dir}/annotations.coco.json`, CocoGroundTruthSchema), coco);
    // what other tools write (the notebook's, pycocotools'): no info, sizes, areas or crowd flags
    const minimal = {
      images: [{ id: 3 }],
      annotations: [{ id: 1, image_id: 3, category_id: 1, bbox: [1, 2, 3, 4] }],
      categories: [{ id: 1, name: "person" }],
    };
    await Deno.writeTextFile(`${dir}/minimal.json`, JSON.stringify(minimal));
    assert.deepEqual(await readJsonArtifact(`${dir}/minimal.json`, CocoGroundTruthSchema), minimal);
    const orphan = { ...minimal, annotations: [{ ...minimal.annotations[0], image_id: 4 }] };
    await Deno.writeTextFile(`${dir}/orphan.json`, JSON.stringify(orphan));
    await assert.rejects(
      () => readJsonArtifact(`${dir}/orphan.json`, CocoGroundTruthSchema),
      /annotations\.0\.image_id: no such image \(got 4\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
