import assert from "node:assert/strict";
import { ArtifactError, sha256Hex } from "../../lib/core/mod.ts";
import {
  ANNOTATION_TOLERANCE_PX,
  AnnotationError,
  boxesFromMask,
  buildDataset,
  crossCheckAnnotation,
  type Dataset,
  DatasetError,
  discoverLayout,
  fractionalBoxes,
  type MaskInstance,
  openDatasetSource,
  parseAnnotation,
  readDataset,
  toCocoGroundTruth,
  writeDataset,
} from "../../lib/data/mod.ts";
import { decodeMask } from "../../lib/image/codec.ts";
import { openDirectorySource, openZipBytes, SourceError } from "../../lib/data/source.ts";
import { FIXTURE_DIR, readFixtureFiles, zipFiles } from "../helpers.ts";
import { ignoreWithoutShared, sharedPath } from "../helpers.ts";

const enc = new TextEncoder();

// ---------------------------------------------------------------------------------------------------------------
// boxesFromMask

const MASK_CASES: { name: string; width: number; rows: number[][]; expected: MaskInstance[] }[] = [
  {
    name: "a single pixel",
    width: 3,
    rows: [[0, 0, 0], [0, 1, 0]],
    expected: [{ id: 1, box: [1, 1, 1, 1], area: 1 }],
  },
  {
    name: "two instances with inclusive extremes, ids ascending",
    width: 4,
    rows: [[2, 2, 0, 0], [0, 2, 0, 1], [0, 0, 0, 1]],
    expected: [{ id: 1, box: [3, 1, 3, 2], area: 2 }, { id: 2, box: [0, 0, 1, 1], area: 3 }],
  },
  {
    name: "non-contiguous ids and a non-convex instance",
    width: 3,
    rows: [[7, 0, 7], [0, 0, 0], [0, 7, 0]],
    expected: [{ id: 7, box: [0, 0, 2, 2], area: 3 }],
  },
  { name: "no instance", width: 2, rows: [[0, 0], [0, 0]], expected: [] },
];
for (const c of MASK_CASES) {
  Deno.test(`boxesFromMask() handles ${c.name}`, () => {
    const mask = { width: c.width, height: c.rows.length, data: Uint8Array.from(c.rows.flat()) };
    assert.deepEqual(boxesFromMask(mask), c.expected);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// parseAnnotation / crossCheckAnnotation

const ANNOTATION = `# Compatible with PASCAL Annotation Version 1.00
Image filename : "PennFudanPed/PNGImages/FudanPed00001.png"
Image size (X x Y x C) : 559 x 536 x 3
Database : "The Penn-Fudan-Pedestrian Database"
Objects with ground truth : 2 { "PASpersonWalking" "PASpersonWalking" }
# Top left pixel co-ordinates : (1, 1)
# Details for pedestrian 1 ("PASpersonWalking")
Original label for object 1 "PASpersonWalking" : "PennFudanPed"
Bounding box for object 1 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (160, 182) - (302, 431)
Pixel mask for object 1 "PASpersonWalking" : "PennFudanPed/PedMasks/FudanPed00001_mask.png"

# Details for pedestrian 2 ("PASpersonWalking")
Bounding box for object 2 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (420, 171) - (535, 486)\r
`;

Deno.test("parseAnnotation() reads image size, object count and 1-based boxes (CRLF tolerated)", () => {
  const a = parseAnnotation(enc.encode(ANNOTATION), "a.txt");
  assert.deepEqual(a.imageSize, { width: 559, height: 536, channels: 3 });
  assert.equal(a.declaredObjects, 2);
  assert.deepEqual(a.objects, [
    { index: 1, label: "PASpersonWalking", box1Based: [160, 182, 302, 431] },
    { index: 2, label: "PASpersonWalking", box1Based: [420, 171, 535, 486] },
  ]);
});

const BAD_ANNOTATIONS: { name: string; bytes: Uint8Array; pattern: RegExp }[] = [
  {
    name: "binary data",
    bytes: Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0, 0, 0xff, 0xfe),
    pattern: /UTF-8|binary/,
  },
  {
    name: "no box line",
    bytes: enc.encode("# Compatible with PASCAL Annotation Version 1.00\n"),
    pattern: /no 'Bounding box/,
  },
  {
    name: "a malformed box line",
    bytes: enc.encode(ANNOTATION.replace("(160, 182)", "(160; 182)")),
    pattern: /line 9: malformed/,
  },
  {
    name: "a count that disagrees with the boxes",
    bytes: enc.encode(ANNOTATION.replace("ground truth : 2", "ground truth : 3")),
    pattern: /declares 3 objects but has 2/,
  },
];
for (const c of BAD_ANNOTATIONS) {
  Deno.test(`parseAnnotation() rejects ${c.name} with an AnnotationError naming the file`, () => {
    assert.throws(
      () => parseAnnotation(c.bytes, "Annotation/x.txt"),
      (e) => e instanceof AnnotationError && e.file === "Annotation/x.txt" && c.pattern.test(e.message),
    );
  });
}

Deno.test(`crossCheckAnnotation() accepts ≤ ${ANNOTATION_TOLERANCE_PX} px and reports larger disagreements`, () => {
  const a = parseAnnotation(enc.encode(ANNOTATION), "a.txt");
  const size = { width: 559, height: 536 };
  const exact: MaskInstance[] = [
    { id: 1, box: [159, 181, 301, 430], area: 1 },
    { id: 2, box: [420, 170, 534, 485], area: 1 }, // x_min off by 1 px: tolerated
  ];
  assert.deepEqual(crossCheckAnnotation(a, exact, size), []);
  const off: MaskInstance[] = [{ id: 1, box: [159, 181, 299, 430], area: 1 }, {
    id: 3,
    box: [0, 0, 1, 1],
    area: 1,
  }];
  const messages = crossCheckAnnotation(a, off, { width: 560, height: 536 });
  assert.equal(messages.length, 4, messages.join("\n"));
  assert.match(messages[0], /image size 559×536, image is 560×536/);
  assert.match(messages[1], /object 1: .*differs by 2 px/);
  assert.match(messages[2], /object 2 .*no mask instance with id 2/);
  assert.match(messages[3], /mask instance 3 has no annotation box/);
});

// ---------------------------------------------------------------------------------------------------------------
// discoverLayout / buildDataset on the fixtures

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

Deno.test("buildDataset() on the fixtures: boxes equal the mask extremes, one annotation warning, 8/4 split", async () => {
  const src = await openDirectorySource(FIXTURE_DIR);
  const ds = buildDataset(src, { source: { path: FIXTURE_DIR, sha256: null } });
  assert.equal(ds.counts.images, 12);
  assert.deepEqual([ds.counts.train, ds.counts.test], [8, 4]);
  assert.equal(ds.source.layout, "official");
  assert.equal(ds.source.root, "");
  for (const im of ds.images) {
    const mask = decodeMask(src.read(im.mask));
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
    source: { path: "/x.zip", sha256: null },
  });
  assert.equal(ds.source.layout, "presplit");
  assert.equal(ds.split.method, "predefined");
  assert.deepEqual([ds.counts.train, ds.counts.test], [8, 4]);
  for (const im of ds.images) assert.ok(im.file.startsWith(`data/Images/${im.split}/`), im.file);
  assert.deepEqual(ds.warnings, [], "no annotations expected in the pre-split layout");
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

Deno.test("buildDataset() records the seed and gives the same split for the same seed", async () => {
  const src = await openDirectorySource(FIXTURE_DIR);
  const a = buildDataset(src, { source: { path: "/f", sha256: null }, seed: 5, testSize: 3 });
  const b = buildDataset(src, { source: { path: "/f", sha256: null }, seed: 5, testSize: 3 });
  assert.deepEqual(a.split, { ...a.split, method: "seeded", seed: 5, test_size: 3, train_size: 9 });
  assert.deepEqual(a.images.map((im) => im.split), b.images.map((im) => im.split));
  assert.throws(
    () => buildDataset(src, { source: { path: "/f", sha256: null }, testSize: 12 }),
    (e) => e instanceof DatasetError && /test size/.test(e.message),
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Artifacts, source re-opening, COCO

async function fixtureDataset(): Promise<{ ds: Dataset; zip: Uint8Array }> {
  const zip = zipFiles(await readFixtureFiles());
  const ds = buildDataset(openZipBytes(zip, "fixtures.zip"), {
    source: { path: "fixtures.zip", sha256: await sha256Hex(zip) },
  });
  return { ds, zip };
}

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
    const invalid = { ...ds, classes: ["background", "pedestrian"] } as unknown as Dataset;
    await assert.rejects(() => writeDataset(`${dir}/never.json`, invalid), ArtifactError);
    await assert.rejects(() => Deno.stat(`${dir}/never.json`), Deno.errors.NotFound);
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

// ---------------------------------------------------------------------------------------------------------------
// Against the reference on the real release

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
