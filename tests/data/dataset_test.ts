import assert from "node:assert/strict";
import { ArtifactError } from "../../lib/core/mod.ts";
import {
  boxesFromMask,
  type Dataset,
  DATASET_VERSION,
  fractionalBoxes,
  openDatasetSource,
  openZipBytes,
  readDataset,
  SourceError,
  writeDataset,
} from "../../lib/data/mod.ts";
import { decodeMask } from "../../lib/image/mod.ts";
import { fixtureDataset, ignoreWithoutShared, sharedPath } from "../helpers.ts";

Deno.test("writeDataset() and readDataset() round-trip; readDataset() names the bad field of a tampered file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { ds } = await fixtureDataset();
    await writeDataset(`${dir}/dataset.json`, ds);
    assert.deepEqual(await readDataset(`${dir}/dataset.json`), ds);
    const tampered = JSON.parse(await Deno.readTextFile(`${dir}/dataset.json`));
    tampered.images[2].boxes[0][2] = tampered.images[2].width + 5;
    tampered.counts.boxes += 1;
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify(tampered));
    await assert.rejects(() => readDataset(`${dir}/bad.json`), (e) => {
      assert.ok(e instanceof ArtifactError);
      assert.match(e.message, /bad\.json/);
      assert.match(e.message, /images\.2\.boxes\.0.*outside/);
      assert.match(e.message, /counts\.boxes/);
      return true;
    });
    const invalid = { ...ds, classes: ["background", "background"] } as unknown as Dataset;
    await assert.rejects(() => writeDataset(`${dir}/never.json`, invalid), ArtifactError);
    await assert.rejects(() => Deno.stat(`${dir}/never.json`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readDataset() reads version-1 (`source` for `origin`) and version-2 dataset.json files as version 3", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { ds } = await fixtureDataset();
    const { version: _, origin, ...rest } = ds;
    const version1 = { version: 1, source: origin, ...rest }; // the shape `deno task prepare` wrote before
    await Deno.writeTextFile(`${dir}/old.json`, JSON.stringify(version1));
    const read = await readDataset(`${dir}/old.json`);
    assert.equal(read.version, DATASET_VERSION);
    assert.deepEqual(read, ds);
    await writeDataset(`${dir}/new.json`, read);
    const rewritten = JSON.parse(await Deno.readTextFile(`${dir}/new.json`));
    assert.deepEqual([rewritten.version, "source" in rewritten, rewritten.origin], [3, false, origin]);
    await Deno.writeTextFile(`${dir}/v2.json`, JSON.stringify({ ...ds, version: 2 }));
    assert.deepEqual(await readDataset(`${dir}/v2.json`), ds);
    assert.deepEqual(ds.classes, ["background", "person"]);
    const broken = { ...version1, source: { ...origin, kind: "tarball" } };
    await Deno.writeTextFile(`${dir}/broken.json`, JSON.stringify(broken));
    await assert.rejects(() => readDataset(`${dir}/broken.json`), /origin\.kind/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDatasetSource() reads the referenced files (relative source path) and refuses a changed zip", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { ds, zip } = await fixtureDataset();
    await Deno.writeFile(`${dir}/fixtures.zip`, zip);
    const src = await openDatasetSource(ds, `${dir}/dataset.json`);
    const img = src.readImage(ds.images[0]);
    const mask = src.readMask(ds.images[0]);
    assert.deepEqual([img.width, img.height], [ds.images[0].width, ds.images[0].height]);
    assert.deepEqual(boxesFromMask(mask).map((i) => i.box), ds.images[0].boxes);
    const changed = zip.slice();
    changed[changed.length - 1] ^= 1; // last byte of the zip comment length/end record
    await Deno.writeFile(`${dir}/fixtures.zip`, changed);
    await assert.rejects(
      () => openDatasetSource(ds, `${dir}/dataset.json`),
      (e) => e instanceof SourceError && /SHA-256/.test(e.message),
    );
    await Deno.remove(`${dir}/fixtures.zip`);
    await assert.rejects(() => openDatasetSource(ds, `${dir}/dataset.json`), SourceError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "fractionalBoxes() of FudanPed00001 and FudanPed00058 match golden gt_boxes_fractional (|Δ| ≤ 1e-7)",
  ignore: ignoreWithoutShared("data/PennFudanPed.zip", "golden/golden.json"),
  async fn() {
    const golden = JSON.parse(await Deno.readTextFile(sharedPath("golden/golden.json")));
    const zip = openZipBytes(await Deno.readFile(sharedPath("data/PennFudanPed.zip")), "PennFudanPed.zip");
    for (const [k, name] of [[0, "FudanPed00001"], [1, "FudanPed00058"]] as const) {
      const mask = decodeMask(zip.read(`PennFudanPed/PedMasks/${name}_mask.png`));
      const instances = boxesFromMask(mask);
      const image = {
        width: mask.width,
        height: mask.height,
        boxes: instances.map((i) => i.box),
      } as Parameters<typeof fractionalBoxes>[0];
      const ours = fractionalBoxes(image);
      const expected = (golden.gt_boxes_fractional[k] as number[][]).flat();
      assert.equal(ours.length, expected.length, name);
      ours.forEach((v, i) =>
        assert.ok(Math.abs(v - expected[i]) <= 1e-7, `${name}[${i}]: ${v} vs ${expected[i]}`)
      );
    }
  },
});
