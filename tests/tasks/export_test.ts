/**
 * `deno task export` as a user runs it: a model fine-tuned by `deno task finetune` (one step on the fixtures,
 * base and aux frozen) exports, scores itself with --evaluate, loads with tf.loadGraphModel, equals our
 * forward on
 * the golden input and `deno task detect` on a fixture image; bad inputs fail with one message and leave
 * nothing.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { loadGraphModel } from "@tensorflow/tfjs-converter";
import {
  assertSameDetections,
  comparablePixelDetections,
  compareArrays,
  detectOneImageArgs,
  FIXTURE_DIR,
  fixtureFolderDataset,
  goldenF32,
  runTaskScript,
} from "../helpers.ts";
import { writeDataset } from "../../lib/data/mod.ts";
import { initBackend } from "../../lib/engine/mod.ts";
import { ApJsonSchema } from "../../lib/evaluation/mod.ts";
import { GRAPH_OUTPUTS, loadDetector } from "../../lib/export/mod.ts";
import { decodeImage } from "../../lib/image/mod.ts";
import { loadWeights, saveWeights } from "../../lib/interop/mod.ts";
import { createSsd300, DetectionsJsonSchema, disposeModel, ssdForward } from "../../lib/ssd/mod.ts";

await initBackend("wasm", null);

const IMAGE = `${FIXTURE_DIR}/PNGImages/FudanPed00002.png`;

const task = runTaskScript;

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("deno task export: a finetune model exports, evaluates, equals forward and detect", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "export_task_" });
  try {
    const dataset = await fixtureFolderDataset(10);
    await writeDataset(`${dir}/dataset.json`, dataset);
    const start = createSsd300(2, 5);
    await saveWeights(`${dir}/start.json`, start);
    disposeModel(start);
    const ft = await task("finetune", [
      `--dataset=${dir}/dataset.json`,
      `--weights=${dir}/start.json`,
      `--out=${dir}/ft`,
      "--epochs=1",
      "--batch-size=2",
      "--freeze=base+aux",
      "--no-augment",
      "--val-fraction=0",
      "--backend=wasm",
    ]);
    assert.deepEqual(ft.code, 0, ft.stderr);
    const weights = `${dir}/ft/weights.json`;

    const ex = await task("export", [
      "--weights",
      weights,
      "--out",
      `${dir}/model`,
      "--evaluate",
      `${dir}/dataset.json`,
      "--limit",
      "1",
      "--backend",
      "wasm",
    ]);
    assert.deepEqual(ex.code, 0, ex.stderr);
    assert(/model\.json: \d+ nodes, \d+ weights in \d+ shards/.test(ex.stdout), ex.stdout);
    const files = await entries(`${dir}/model`);
    assert(files.includes("model.json") && files.includes("ap.json"), files.join(" "));
    assert(files.some((f) => /^group1-shard1of\d+\.bin$/.test(f)), files.join(" "));
    const ap = ApJsonSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/model/ap.json`)));
    assert.deepEqual([ap.n_images, ap.settings.mode, ap.settings.quantization], [1, "detector", "none"]);
    assert(!(await entries(dir)).some((n) => n.includes(".partial-")), "no temporary folder left");

    const model = await loadWeights(weights);
    try {
      const input = await goldenF32(t, "input_nchw.f32");
      if (input) {
        // the golden input's first image, NCHW → NHWC
        const image = tf.tidy(() =>
          tf.transpose(tf.tensor4d(input.subarray(0, 3 * 300 * 300), [1, 3, 300, 300]), [0, 2, 3, 1])
        );
        const gm = await loadGraphModel(`file://${dir}/model/model.json`);
        const [locs, scores] = gm.execute(image, [GRAPH_OUTPUTS.locs, GRAPH_OUTPUTS.scores]) as tf.Tensor[];
        const ours = ssdForward(model, image as tf.Tensor4D);
        for (const [a, b, what] of [[locs, ours.locs, "locs"], [scores, ours.scores, "scores"]] as const) {
          const { relFro } = compareArrays(a.dataSync(), b.dataSync());
          assert(relFro <= 1e-4, `${what}: relative Frobenius ${relFro}`);
        }
        tf.dispose([image, locs, scores, ours.locs, ours.scores]);
        gm.dispose();
      }
    } finally {
      disposeModel(model);
    }

    const det = await task("detect", ["--weights", weights, ...detectOneImageArgs(dir, IMAGE)]);
    assert.deepEqual(det.code, 0, det.stderr);
    const expected = DetectionsJsonSchema.parse(
      JSON.parse(await Deno.readTextFile(`${dir}/detections.json`)),
    );
    assert(expected.detections.length > 0, "the fine-tuned model finds something");
    const detector = await loadDetector(`${dir}/model`);
    const found = await detector.detect(decodeImage(await Deno.readFile(IMAGE)));
    detector.dispose();
    assertSameDetections(
      found,
      comparablePixelDetections(expected.detections),
      0.999,
      1e-4,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task export: bad weights, unknown class count, non-empty --out: one line, nothing written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "export_task_bad_" });
  try {
    await Deno.writeTextFile(`${dir}/garbage.pth`, "not a checkpoint");
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify({ format: "something else" }));
    const three = createSsd300(3, 1);
    await saveWeights(`${dir}/three.json`, three);
    disposeModel(three);
    await Deno.mkdir(`${dir}/full`);
    await Deno.writeTextFile(`${dir}/full/keep.txt`, "mine");
    const cases: [string[], number, RegExp][] = [
      [
        ["--checkpoint", `${dir}/garbage.pth`, "--out", `${dir}/o1`],
        1,
        /--checkpoint .*garbage\.pth: cannot load: not a PyTorch checkpoint/,
      ],
      [
        ["--weights", `${dir}/bad.json`, "--out", `${dir}/o2`],
        1,
        /--weights .*bad\.json: cannot load: .*field format/s,
      ],
      [["--weights", `${dir}/missing.json`, "--out", `${dir}/o3`], 1, /missing\.json: cannot load/],
      [["--weights", `${dir}/three.json`, "--out", `${dir}/o4`], 1, /unknown class count 3 .*--class-names/],
      [["--weights", `${dir}/three.json`, "--out", `${dir}/o5`, "--class-names", "bg,a"], 1, /has 3 classes/],
      [
        ["--weights", `${dir}/three.json`, "--out", `${dir}/full`],
        1,
        /--out .*full: exists and is not empty/,
      ],
      [["--out", `${dir}/o6`], 2, /give exactly one of --weights, --checkpoint/],
      [["--weights", "w.json"], 2, /--out DIR is required/],
      [
        ["--weights", "w.json", "--out", `${dir}/o7`, "--quantize", "int4"],
        2,
        /--quantize: expected one of none, float16, uint8/,
      ],
    ];
    for (const [args, code, re] of cases) {
      const r = await task("export", args);
      assert.deepEqual(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert(re.test(r.stderr), `${args.join(" ")}: ${r.stderr}`);
      assert(!/^\s+at /m.test(r.stderr), `no stack: ${r.stderr}`);
    }
    assert.deepEqual(await entries(dir), ["bad.json", "full", "garbage.pth", "three.bin", "three.json"]);
    assert.deepEqual(await entries(`${dir}/full`), ["keep.txt"]);
    const named = await task("export", [
      "--weights",
      `${dir}/three.json`,
      "--out",
      `${dir}/o8`,
      "--class-names",
      "background,cat,dog",
      "--quantize",
      "float16",
    ]);
    assert.deepEqual(named.code, 0, named.stderr);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/o8/model.json`));
    assert.deepEqual(json.userDefinedMetadata.ssd300.classes, ["background", "cat", "dog"]);
    assert.deepEqual(json.weightsManifest[0].weights[0].quantization, {
      dtype: "float16",
      original_dtype: "float32",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
