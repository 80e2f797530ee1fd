import assert from "node:assert/strict";
import { FIXTURE_DISAGREEMENT, FIXTURE_NAMES, generateFixtures } from "../../fixtures/generate.ts";
import { decodeImage, decodeMask } from "../../lib/image/codec.ts";
import { parseAnnotation } from "../../lib/data/mod.ts";
import { readFixtureFiles } from "../helpers.ts";

Deno.test("generateFixtures() is deterministic and the committed fixtures are up to date", async () => {
  const a = generateFixtures();
  const b = generateFixtures();
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [path, bytes] of a) assert.deepEqual(b.get(path), bytes, path);
  const committed = await readFixtureFiles();
  assert.deepEqual(
    [...committed.keys()].sort(),
    [...a.keys()].sort(),
    "run: deno run -A fixtures/generate.ts",
  );
  for (const [path, bytes] of a) {
    assert.ok(
      committed.get(path)!.length === bytes.length && committed.get(path)!.every((v, i) => v === bytes[i]),
      path,
    );
  }
});

Deno.test("generateFixtures() makes small images (96–160 px) with instance masks and annotations of the release's format", () => {
  const files = generateFixtures();
  assert.equal(FIXTURE_NAMES.length, 12);
  for (const name of FIXTURE_NAMES) {
    const img = decodeImage(files.get(`PennFudanPed/PNGImages/${name}.png`)!);
    const mask = decodeMask(files.get(`PennFudanPed/PedMasks/${name}_mask.png`)!);
    assert.ok(img.width >= 96 && img.width <= 160 && img.height >= 96 && img.height <= 160, name);
    assert.deepEqual([mask.width, mask.height], [img.width, img.height], name);
    const ids = [...new Set(mask.data)].filter((v) => v > 0).sort();
    assert.ok(ids.length >= 1 && ids.length <= 3, name);
    const ann = parseAnnotation(files.get(`PennFudanPed/Annotation/${name}.txt`)!, name);
    assert.equal(ann.objects.length, ids.length, name);
    assert.deepEqual(ann.imageSize, { width: img.width, height: img.height, channels: 3 });
  }
  assert.ok(FIXTURE_NAMES.includes(FIXTURE_DISAGREEMENT.name));
});
