import assert from "node:assert/strict";
import { validateArtifact } from "../../lib/core/mod.ts";
import {
  buildDataset,
  checkImagesDecode,
  type Dataset,
  DatasetError,
  DatasetSchema,
  MIN_BOX_SIDE_PX,
  MIN_INSTANCE_PIXELS,
  openDatasetSource,
  openZipBytes,
  writeDataset,
} from "../../lib/data/mod.ts";
import { decodeMask, encodeGrayPng } from "../../lib/image/mod.ts";
import { pngFromParts, readFixtureFiles, withTempDir, zipFiles } from "../helpers.ts";

const MASK = "PennFudanPed/PedMasks/FudanPed00001_mask.png";

/** The fixture files with FudanPed00001's mask given one stray pixel of a new instance id 9 at (3, 4). */
async function filesWithStrayPixel(): Promise<Map<string, Uint8Array>> {
  const files = await readFixtureFiles();
  const mask = decodeMask(files.get(MASK)!, MASK);
  assert.ok(!mask.data.includes(9));
  mask.data[4 * mask.width + 3] = 9;
  files.set(MASK, encodeGrayPng(mask));
  return files;
}

const build = (files: Map<string, Uint8Array>, dropDegenerate = false) =>
  buildDataset(openZipBytes(zipFiles(files), "x.zip"), {
    origin: { path: "x.zip", sha256: null },
    dropDegenerate,
  });

Deno.test("buildDataset() refuses a one-pixel instance naming the mask and the instance", async () => {
  const files = await filesWithStrayPixel();
  assert.throws(() => build(files), (e: unknown) => {
    assert.ok(e instanceof DatasetError);
    assert.equal(e.problems.length, 1);
    assert.equal(e.problems[0].file, MASK);
    assert.match(e.problems[0].message, /^instance 9 \(1 px\): degenerate box \(3, 4, 3, 4\): width 0/);
    assert.match(e.problems[0].message, /--drop-degenerate/);
    return true;
  });
});

Deno.test("buildDataset({ dropDegenerate }) drops it with a warning and keeps the other instances", async () => {
  const files = await filesWithStrayPixel();
  const reference = build(await readFixtureFiles());
  const ds = build(files, true);
  const warning = ds.warnings.find((w) => w.file === MASK && w.message.startsWith("dropped instance 9"));
  assert.ok(warning, JSON.stringify(ds.warnings));
  assert.deepEqual(ds.images[0].boxes, reference.images[0].boxes);
});

Deno.test("DatasetSchema refuses a box with a side under MIN_BOX_SIDE_PX or too few pixels, naming the image and the box", async () => {
  const ds = build(await readFixtureFiles());
  const bad = structuredClone(ds) as Dataset;
  const [x0, y0] = bad.images[1].boxes[0];
  bad.images[1].boxes[0] = [x0, y0, x0 + MIN_BOX_SIDE_PX - 1, y0 + 40];
  bad.images[2].mask_areas[0] = MIN_INSTANCE_PIXELS - 1;
  assert.throws(() => validateArtifact("dataset.json", DatasetSchema, bad), (e: unknown) => {
    const m = (e as Error).message;
    assert.match(m, /field images\.1\.boxes\.0: image FudanPed00002: degenerate box/);
    assert.match(
      m,
      /field images\.2\.boxes\.0: image FudanPed00003: degenerate instance: .* of 3 mask pixels/,
    );
    return true;
  });
});

Deno.test("openDatasetSource() refuses dataset.json sizes that differ from the image headers, naming both", async () => {
  await withTempDir(async (dir) => {
    const zip = zipFiles(await readFixtureFiles());
    await Deno.writeFile(`${dir}/x.zip`, zip);
    const ds = buildDataset(openZipBytes(zip, "x.zip"), { origin: { path: "x.zip", sha256: null } });
    const { width, height } = ds.images[2];
    ds.images[2].width = 10000;
    await writeDataset(`${dir}/dataset.json`, ds);
    await assert.rejects(() => openDatasetSource(ds, `${dir}/dataset.json`), (e: unknown) => {
      assert.ok(e instanceof DatasetError);
      assert.deepEqual(e.problems.map((p) => p.file), [ds.images[2].file, ds.images[2].mask]);
      assert.match(
        e.problems[0].message,
        new RegExp(`header says ${width}×${height} but .* says 10000×${height}`),
      );
      return true;
    });
  });
});

Deno.test("checkImagesDecode() lists every image that does not decode, before any use", async () => {
  const files = await readFixtureFiles();
  const zip = zipFiles(files);
  const ds = buildDataset(openZipBytes(zip, "x.zip"), { origin: { path: "x.zip", sha256: null } });
  const broken = ds.images.slice(0, 2).map((im) => im.file);
  for (const [i, file] of broken.entries()) {
    const { width, height } = ds.images[i];
    // right size and CRCs, an invalid deflate stream: passes prepare's structure check, not a decode
    files.set(file, pngFromParts(width, height, Uint8Array.of(0x78, 0x9c, 0xff, 0xff, 0xff, 0x00)));
  }
  const source = openZipBytes(zipFiles(files), "y.zip");
  await assert.rejects(() => checkImagesDecode(source, ds.images, { quiet: true }), (e: unknown) => {
    assert.ok(e instanceof DatasetError);
    assert.deepEqual(e.problems.map((p) => p.file), broken);
    assert.ok(e.problems.every((p) => /not a valid PNG/.test(p.message)));
    return true;
  });
  await checkImagesDecode(openZipBytes(zip, "x.zip"), ds.images, { quiet: true });
});
