import assert from "node:assert/strict";
import { DatasetError, openZipBytes } from "../../lib/data/mod.ts";
import { discoverLayout } from "../../lib/data/layout.ts";
import { readFixtureFiles, zipFiles } from "../helpers.ts";

Deno.test("discoverLayout() finds the official layout and its root inside a zip", async () => {
  const src = openZipBytes(zipFiles(await readFixtureFiles()), "fixtures.zip");
  const scan = discoverLayout(src);
  assert.equal(scan.layout, "official");
  assert.equal(scan.root, "PennFudanPed/");
  assert.equal(scan.items.length, 12);
  assert.deepEqual(scan.problems, []);
  for (const it of scan.items) {
    assert.equal(it.mask, `PennFudanPed/PedMasks/${it.name}_mask.png`);
    assert.equal(it.annotation, `PennFudanPed/Annotation/${it.name}.txt`);
  }
});

Deno.test("discoverLayout() rejects a source without a Penn-Fudan layout", () => {
  const src = openZipBytes(zipFiles(new Map([["photos/a.png", new Uint8Array(4)]])), "other.zip");
  assert.throws(
    () => discoverLayout(src),
    (e) => e instanceof DatasetError && /no Penn-Fudan layout/.test(e.message),
  );
});

Deno.test("discoverLayout() prefers the pre-split layout when a source holds both, with a warning", async () => {
  const files = await readFixtureFiles();
  files.set(
    "PennFudanPed/Images/train/FudanPed00001.png",
    files.get("PennFudanPed/PNGImages/FudanPed00001.png")!,
  );
  files.set(
    "PennFudanPed/Masks/train/FudanPed00001_mask.png",
    files.get("PennFudanPed/PedMasks/FudanPed00001_mask.png")!,
  );
  const scan = discoverLayout(openZipBytes(zipFiles(files), "both.zip"));
  assert.equal(scan.layout, "presplit");
  assert.deepEqual(scan.items.map((i) => [i.name, i.split]), [["FudanPed00001", "train"]]);
  assert.equal(scan.warnings.length, 1);
  assert.match(scan.warnings[0].message, /both/);
});
