import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import { detectInImage, DetectionsJsonSchema, toPixelDetections } from "../../lib/ssd/mod.ts";
import { decodeImage, sniffImageFormat } from "../../lib/image/codec.ts";
import { CocoResultsSchema, ImagesJsonSchema, listImageInputs } from "../../lib/evaluation/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/model.ts";
import { saveWeights } from "../../lib/interop/mod.ts";
import { classNames } from "../../lib/ssd/mod.ts";
import {
  assertSameDetections,
  comparablePixelDetections,
  detectOneImageArgs,
  FIXTURE_DIR,
  GOLDEN_DIR,
  goldenJson,
  haveGolden,
} from "../helpers.ts";

const ROOT = new URL("../../", import.meta.url);
const FIXTURE_IMAGE = `${FIXTURE_DIR}/PNGImages/FudanPed00001.png`;

async function runDetect(args: string[]): Promise<{ code: number; stderr: string }> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("tasks/detect.ts", ROOT).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stderr } = await cmd.output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("deno task detect on the golden crop image reproduces the reference detections in original pixels", async (t) => {
  if (!haveGolden(t, "ssd300_voc.pth") || !haveGolden(t, "crop_FudanPed00001.png")) return;
  const golden = await goldenJson(t);
  if (!golden) return;
  const dir = await Deno.makeTempDir();
  try {
    const image = new URL("crop_FudanPed00001.png", GOLDEN_DIR).pathname;
    const { code, stderr } = await runDetect([
      "--checkpoint",
      new URL("ssd300_voc.pth", GOLDEN_DIR).pathname,
      "--min-score",
      "0.5",
      "--max-overlap",
      "0.5",
      "--top-k",
      "10",
      ...detectOneImageArgs(dir, image),
    ]);
    assert.deepEqual(code, 0, stderr);
    const out = DetectionsJsonSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/detections.json`)));
    const src = decodeImage(await Deno.readFile(image));
    assert.deepEqual([out.image, out.width, out.height], [image, src.width, src.height]);
    // golden image 2 is this crop; its detections are fractional
    const exp =
      (golden.detections as Record<string, { boxes: number[][]; labels: number[]; scores: number[] }[]>)[
        "min_score=0.5,max_overlap=0.5,top_k=10"
      ][2];
    assert.deepEqual(out.detections.map((d) => d.class_id), exp.labels);
    assert(out.detections.every((d) => d.label === "person"));
    const dims = [src.width, src.height, src.width, src.height];
    out.detections.forEach((d, k) => {
      assert(Math.abs(d.score - exp.scores[k]) < 1e-4, `score ${k}: ${d.score} vs ${exp.scores[k]}`);
      d.box.forEach((v, c) => assert(Math.abs(v - exp.boxes[k][c] * dims[c]) < 0.05, `box ${k}[${c}]: ${v}`));
    });
    const annotated = decodeImage(await Deno.readFile(`${dir}/annotated.png`));
    assert.deepEqual([annotated.width, annotated.height], [src.width, src.height]);
    assert(annotated.data.some((v, i) => v !== src.data[i]), "boxes were drawn");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task detect on a fixture image writes a valid PNG and detections JSON", async (t) => {
  if (!haveGolden(t, "ssd300_voc.pth")) return;
  const dir = await Deno.makeTempDir();
  try {
    const { code, stderr } = await runDetect([
      "--checkpoint",
      new URL("ssd300_voc.pth", GOLDEN_DIR).pathname,
      "--image",
      FIXTURE_IMAGE,
      "--out",
      `${dir}/sub/annotated.png`,
      "--json",
      `${dir}/sub/detections.json`,
    ]);
    assert.deepEqual(code, 0, stderr);
    assert.equal(
      stderr.split("\n").filter((l) => /^engine: .* \(\w+ backend\)$/.test(l)).length,
      1,
      "prints the engine choice once",
    );
    const out = DetectionsJsonSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/sub/detections.json`)));
    const src = decodeImage(await Deno.readFile(FIXTURE_IMAGE));
    assert.deepEqual([out.width, out.height], [src.width, src.height]);
    assert(out.detections.length <= 200);
    for (const d of out.detections) {
      assert(d.score > 0.2 && d.class_id >= 1 && d.class_id <= 20, JSON.stringify(d));
      assert.deepEqual(d.label, classNames(21)[d.class_id]);
      assert(d.box[2] > d.box[0] && d.box[3] > d.box[1]);
    }
    const annotated = decodeImage(await Deno.readFile(`${dir}/sub/annotated.png`));
    assert.deepEqual([annotated.width, annotated.height], [src.width, src.height]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task detect rejects bad arguments with exit code 2 and names the argument", async () => {
  const cases: [string[], RegExp][] = [
    [["--checkpoint", "x.pth", "--image", "a.png", "--out", "o.png"], /--json/],
    [["--image", "a.png", "--out", "o.png", "--json", "o.json"], /--checkpoint, --weights/],
    [
      ["--checkpoint", "x.pth", "--image", "a.png", "--out", "o.png", "--json", "o.json", "--backend", "gpu"],
      /--backend.*gpu/,
    ],
    [
      ["--checkpoint", "x.pth", "--image", "a.png", "--out", "o.png", "--json", "o.json", "--top-k", "1.5"],
      /--top-k/,
    ],
    [
      ["--checkpoint", "x.pth", "--image", "a.png", "--out", "o.png", "--json", "o.json", "--min-score", "2"],
      /--min-score/,
    ],
  ];
  for (const [args, pattern] of cases) {
    const { code, stderr } = await runDetect(args);
    assert.deepEqual(code, 2, `${args.join(" ")}: ${stderr}`);
    assert(pattern.test(stderr), `${args.join(" ")}: ${stderr}`);
  }
});

Deno.test("detectInImage() leaves no tensors behind; toPixelDetections() names 2-class detections `person`", async () => {
  await initBackend("wasm", null);
  const model = createSsd300(2, 4);
  const img = decodeImage(await Deno.readFile(FIXTURE_IMAGE));
  const before = tf.memory().numTensors;
  const dets = await detectInImage(model, img, { minScore: 0.01, maxOverlap: 0.45, topK: 5 });
  assert.deepEqual(tf.memory().numTensors, before, "no tensor leaks across a detect call");
  assert(dets.length >= 1 && dets.length <= 5);
  const px = toPixelDetections(
    [...dets, { box: [0.1, 0.2, 0.5, 1], classId: 1, score: 0.5 }, {
      box: [0, 0, 1, 1],
      classId: 0,
      score: 0,
    }],
    200,
    100,
    classNames(2),
  );
  assert(px.every((d) => d.label === "person" && d.class_id === 1), "placeholder background box dropped");
  assert.deepEqual(px.at(-1)!.box, [20, 20, 100, 100]);
  disposeModel(model);
});

Deno.test("deno task detect --weights (our format, 2 classes) labels every detection `person`", async () => {
  await initBackend("wasm", null);
  const dir = await Deno.makeTempDir();
  try {
    const model = createSsd300(2, 9);
    await saveWeights(`${dir}/person.json`, model);
    disposeModel(model);
    const { code, stderr } = await runDetect([
      "--weights",
      `${dir}/person.json`,
      "--min-score",
      "0.3",
      "--top-k",
      "7",
      ...detectOneImageArgs(dir, FIXTURE_IMAGE, "a.png", "d.json"),
    ]);
    assert.deepEqual(code, 0, stderr);
    assert(/^engine: .* on this thread, .* \(wasm backend\)$/m.test(stderr), stderr);
    const out = DetectionsJsonSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/d.json`)));
    assert(out.detections.length >= 1 && out.detections.length <= 7, `${out.detections.length} detections`);
    assert(out.detections.every((d) => d.label === "person" && d.class_id === 1 && d.score > 0.3));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task detect --images (glob, batches of 2) equals per-image detect; --out x.jpg writes a JPEG", async () => {
  await initBackend("wasm", null);
  const dir = await Deno.makeTempDir();
  try {
    const model = { ...createSsd300(2, 9), classNames: ["background", "figure"] };
    await saveWeights(`${dir}/w.json`, model);
    disposeModel(model);
    const common = [
      "--weights",
      `${dir}/w.json`,
      "--min-score",
      "0.05",
      "--top-k",
      "15",
      "--backend",
      "wasm",
    ];
    const many = await runDetect([
      ...common,
      ...[
        "--images",
        `${FIXTURE_DIR}/PNGImages/FudanPed0000[1-3].png`,
        "--batch-size",
        "2",
        "--out",
        `${dir}/many`,
      ],
    ]);
    assert.deepEqual(many.code, 0, many.stderr);
    const info = ImagesJsonSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/many/images.json`)));
    const results = CocoResultsSchema.parse(
      JSON.parse(await Deno.readTextFile(`${dir}/many/detections.coco.json`)),
    );
    assert.deepEqual(info.images.map((im) => [im.id, im.file_name]), [
      [1, "FudanPed00001.png"],
      [2, "FudanPed00002.png"],
      [3, "FudanPed00003.png"],
    ]);
    assert.deepEqual(info.categories, [{ id: 1, name: "figure" }]);
    for (const im of info.images) {
      const one = await runDetect([
        ...common,
        ...["--image", im.path, "--out", `${dir}/${im.id}.jpg`, "--json", `${dir}/${im.id}.json`],
      ]);
      assert.deepEqual(one.code, 0, one.stderr);
      const out = DetectionsJsonSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/${im.id}.json`)));
      assert.deepEqual([out.width, out.height], [im.width, im.height]);
      assert(out.detections.length > 0 && out.detections.every((d) => d.label === "figure"));
      const batched = results.filter((r) => r.image_id === im.id)
        .map((r) => ({ class: "figure", score: r.score, bbox: r.bbox }));
      assertSameDetections(batched, comparablePixelDetections(out.detections), 0.999, 1e-5, im.file_name);
      const jpg = await Deno.readFile(`${dir}/${im.id}.jpg`);
      assert.deepEqual(sniffImageFormat(jpg), "jpeg");
      assert.deepEqual(decodeImage(jpg).width, im.width);
      const annotated = decodeImage(await Deno.readFile(`${dir}/many/${im.annotated}`));
      assert.deepEqual([annotated.width, annotated.height], [im.width, im.height]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listImageInputs() reads a folder, a glob and a list file; names the spec when nothing matches", async () => {
  const all = await listImageInputs(`${FIXTURE_DIR}/PNGImages`);
  assert.deepEqual(all.length, 12);
  assert.deepEqual(all[0].fileName, "FudanPed00001.png");
  const glob = await listImageInputs(`${FIXTURE_DIR}/**/Penn*[0-9].png`);
  assert.deepEqual(
    glob.map((g) => g.fileName),
    [1, 2, 3, 4, 5, 6].map((i) => `PNGImages/PennPed0000${i}.png`),
  );
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/list.txt`, `# two\n${all[3].path}\n\n${all[0].path}\n`);
    assert.deepEqual((await listImageInputs(`${dir}/list.txt`)).map((i) => i.path), [
      all[3].path,
      all[0].path,
    ]);
    await assert.rejects(() => listImageInputs(`${dir}/*.png`), /no PNG or JPEG image found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
