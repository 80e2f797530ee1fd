import assert from "node:assert/strict";
import { buildDataset, DatasetError, openDirectorySource, openZipBytes } from "../../lib/data/mod.ts";
import { decodeMask } from "../../lib/image/mod.ts";
import { FIXTURE_DIR, readFixtureFiles, zipFiles } from "../helpers.ts";

Deno.test("buildDataset() on the fixtures: boxes equal the mask extremes, one annotation warning, 8/4 split", async () => {
  const src = await openDirectorySource(FIXTURE_DIR);
  const ds = buildDataset(src, { origin: { path: FIXTURE_DIR, sha256: null } });
  assert.equal(ds.counts.images, 12);
  assert.deepEqual([ds.counts.train, ds.counts.test], [8, 4]);
  assert.equal(ds.origin.layout, "official");
  assert.equal(ds.origin.root, "");
  for (const im of ds.images) {
    const mask = decodeMask(src.read(im.mask!));
    // Independent extremes: collect coordinates per id, take min/max.
    const xs = new Map<number, number[]>(), ys = new Map<number, number[]>();
    mask.data.forEach((id, i) => {
      if (id === 0) return;
      (xs.get(id) ?? xs.set(id, []).get(id)!).push(i % mask.width);
      (ys.get(id) ?? ys.set(id, []).get(id)!).push(Math.floor(i / mask.width));
    });
    const ids = [...xs.keys()].sort((a, b) => a - b);
    assert.deepEqual(im.instance_ids, ids);
    assert.deepEqual(
      im.boxes,
      ids.map((
        id,
      ) => [
        Math.min(...xs.get(id)!),
        Math.min(...ys.get(id)!),
        Math.max(...xs.get(id)!),
        Math.max(...ys.get(id)!),
      ]),
      im.name,
    );
  }
  assert.equal(ds.counts.boxes, ds.images.reduce((s, im) => s + im.boxes.length, 0));
  // fixtures/generate.ts plants exactly one 3-px disagreement (PennPed00006, object 1).
  assert.equal(ds.warnings.length, 1);
  assert.equal(ds.warnings[0].file, "Annotation/PennPed00006.txt");
  assert.match(ds.warnings[0].message, /object 1: .*differs by 3 px/);
});

Deno.test("buildDataset() keeps the split of the course's pre-split layout", async () => {
  const files = await readFixtureFiles();
  const presplit = new Map<string, Uint8Array>();
  let i = 0;
  for (const [path, bytes] of files) {
    const m = /PNGImages\/(.+)\.png$/.exec(path);
    if (!m) continue;
    const split = i++ % 3 === 0 ? "test" : "train";
    presplit.set(`data/Images/${split}/${m[1]}.png`, bytes);
    presplit.set(
      `data/Masks/${split}/${m[1]}_mask.png`,
      files.get(`PennFudanPed/PedMasks/${m[1]}_mask.png`)!,
    );
  }
  const ds = buildDataset(openZipBytes(zipFiles(presplit), "course.zip"), {
    origin: { path: "/x.zip", sha256: null },
  });
  assert.equal(ds.origin.layout, "presplit");
  assert.equal(ds.split.method, "predefined");
  assert.deepEqual([ds.counts.train, ds.counts.test], [8, 4]);
  for (const im of ds.images) assert.ok(im.file.startsWith(`data/Images/${im.split}/`), im.file);
  assert.deepEqual(ds.warnings, [], "no annotations expected in the pre-split layout");
});

Deno.test("buildDataset() records the seed and gives the same split for the same seed", async () => {
  const src = await openDirectorySource(FIXTURE_DIR);
  const a = buildDataset(src, { origin: { path: "/f", sha256: null }, seed: 5, testSize: 3 });
  const b = buildDataset(src, { origin: { path: "/f", sha256: null }, seed: 5, testSize: 3 });
  assert.deepEqual(a.split, { ...a.split, method: "seeded", seed: 5, test_size: 3, train_size: 9 });
  assert.deepEqual(a.images.map((im) => im.split), b.images.map((im) => im.split));
  assert.throws(
    () => buildDataset(src, { origin: { path: "/f", sha256: null }, testSize: 12 }),
    (e) => e instanceof DatasetError && /test size/.test(e.message),
  );
});
