/**
 * Exported graph models loaded by the unmodified `tf.loadGraphModel` (tfjs-converter 4.22) from file: URLs:
 * raw outputs equal `ssdForward`, the NMS outputs equal `detectObjects`, `loadDetector` equals
 * `detectInImage` in pixels without leaking tensors; the golden VOC checkpoint against the golden tensors and
 * detections; the quantised exports' manifests and weights.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { type GraphModel, loadGraphModel } from "@tensorflow/tfjs-converter";
import { assertSameDetections, FIXTURE_DIR } from "../helpers.ts";
import { initBackend } from "../../lib/engine/mod.ts";
import {
  exportClassNames,
  exportGraphModel,
  fractionalXyxyToBbox,
  GRAPH_OUTPUTS,
  loadDetector,
  type ModelJson,
  quantizeUint8,
} from "../../lib/export/mod.ts";
import { decodeImage } from "../../lib/image/mod.ts";
import { preprocessForSsd } from "../../lib/ssd/mod.ts";
import {
  createSsd300,
  detectObjects,
  disposeModel,
  N_PRIORS,
  priorsCxcyFor,
  ssdForward,
} from "../../lib/ssd/mod.ts";

import { assertRelClose, comparable, DEFAULTS, goldenVocTest } from "./compare.ts";
await initBackend("wasm", null);

const OUTPUTS = [
  GRAPH_OUTPUTS.locs,
  GRAPH_OUTPUTS.scores,
  GRAPH_OUTPUTS.boxes,
  GRAPH_OUTPUTS.detectionScores,
  GRAPH_OUTPUTS.classes,
];

function fileUrl(dir: string): string {
  return `file://${Deno.realPathSync(dir)}/model.json`;
}

/** The graph's detection outputs as comparable fractional boxes. */
async function graphDetections(boxes: tf.Tensor, scores: tf.Tensor, classes: tf.Tensor) {
  const [b, s, c] = await Promise.all([boxes.data(), scores.data(), classes.data()]);
  return Array.from(s, (score, k) => ({
    class: c[k],
    score,
    bbox: fractionalXyxyToBbox(b.subarray(k * 4, k * 4 + 4), 1, 1),
  }));
}

Deno.test("exported 2-class model (pedestrian priors) = ssdForward, detectObjects, detectInImage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "export_test_" });
  const model = createSsd300(2, 3);
  model.priorSet = "pedestrian";
  try {
    const out = `${dir}/model`;
    const summary = await exportGraphModel(model, out, {
      quantize: "none",
      classNames: exportClassNames(2, "random"),
      source: "random",
    });
    assert(summary.files.every((f) => f.bytes <= 4 * 2 ** 20), "shards ≤ 4 MiB");
    const json: ModelJson = JSON.parse(await Deno.readTextFile(`${out}/model.json`));
    assert.deepEqual(json.format, "graph-model");
    assert.deepEqual(json.userDefinedMetadata.ssd300.prior_set, "pedestrian");
    assert.deepEqual(Object.keys(json.signature.outputs), OUTPUTS);

    const gm: GraphModel = await loadGraphModel(fileUrl(out));
    const img = decodeImage(await Deno.readFile(`${FIXTURE_DIR}/PNGImages/FudanPed00001.png`));
    const input = tf.tensor4d(preprocessForSsd(img), [1, 300, 300, 3]);
    const [locs, scores, boxes, dScores, classes] = await gm.executeAsync(
      { image: input },
      OUTPUTS,
    ) as tf.Tensor[];
    assert.deepEqual(locs.shape, [1, N_PRIORS, 4]);
    assert.deepEqual(scores.shape, [1, N_PRIORS, 2]);
    const ours = ssdForward(model, input);
    const ourLocs = ours.locs.dataSync() as Float32Array, ourScores = ours.scores.dataSync() as Float32Array;
    assertRelClose(locs.dataSync(), ourLocs, 1e-4, "locs");
    assertRelClose(scores.dataSync(), ourScores, 1e-4, "scores");
    const expected = detectObjects(ourLocs, ourScores, 2, DEFAULTS, priorsCxcyFor("pedestrian"));
    assert(expected.length > 10, `${expected.length} detections`);
    assertSameDetections(await graphDetections(boxes, dScores, classes), comparable(expected), 0.9999, 1e-4);
    tf.dispose([input, locs, scores, boxes, dScores, classes, ours.locs, ours.scores]);
    gm.dispose();

    const detector = await loadDetector(out);
    const before = tf.memory().numTensors;
    const found = await detector.detect(img);
    assert.deepEqual(tf.memory().numTensors, before, "detect() leaks no tensor");
    assert.deepEqual(detector.classes, ["background", "person"]);
    assertSameDetections(
      found,
      comparable(expected, img.width, img.height).map((d) => ({ ...d, class: "person" })),
      0.999,
      1e-4,
      "loadDetector",
    );
    const top3 = await detector.detect(img, { maxBoxes: 3 });
    assert.deepEqual(
      top3,
      [...found].sort((a, b) => b.score - a.score).slice(0, 3),
      "maxBoxes keeps the best",
    );
    const afterDetect = tf.memory().numTensors;
    detector.dispose();
    assert(tf.memory().numTensors < afterDetect, "dispose() frees the weights");
  } finally {
    disposeModel(model);
    await Deno.remove(dir, { recursive: true });
  }
});

goldenVocTest(
  "the golden ssd300_voc.pth exports; raw outputs equal the golden tensors, detections equal golden.json",
  async ({ golden, input, locs: goldLocs, scores: goldScores, model, dir }) => {
    for (const quantize of ["none", "float16", "uint8"] as const) {
      await exportGraphModel(model, `${dir}/${quantize}`, {
        quantize,
        classNames: exportClassNames(21, "voc"),
        source: "ssd300_voc.pth",
      });
    }
    const sizes = Object.fromEntries(
      await Promise.all(["none", "float16", "uint8"].map(async (q) => {
        let bytes = 0;
        for await (const e of Deno.readDir(`${dir}/${q}`)) {
          bytes += (await Deno.stat(`${dir}/${q}/${e.name}`)).size;
        }
        return [q, bytes];
      })),
    );
    assert(sizes.float16 < 0.51 * sizes.none && sizes.uint8 < 0.26 * sizes.none, JSON.stringify(sizes));

    // quantised weights: the manifest record of the converter, dequantised by tfjs as q · scale + min
    const conv11 = model.params.get("base.conv1_1.weight")!.dataSync() as Float32Array;
    for (const quantize of ["float16", "uint8"] as const) {
      const gm = await loadGraphModel(fileUrl(`${dir}/${quantize}`));
      const w = gm.weights["base.conv1_1.weight"][0].dataSync();
      const q = quantize === "uint8" ? quantizeUint8(conv11) : undefined;
      for (let i = 0; i < w.length; i += 97) {
        const exp = q ? Math.fround(q.values[i] * q.scale + q.min) : Math.f16round(conv11[i]);
        assert.deepEqual(w[i], exp, `${quantize} weight ${i}`);
      }
      assert.deepEqual([...gm.weights["priors/size"][0].dataSync().slice(0, 4)], [
        ...priorsCxcyFor().slice(2, 4),
        ...priorsCxcyFor().slice(6, 8),
      ]);
      gm.dispose();
    }

    const gm = await loadGraphModel(fileUrl(`${dir}/none`));
    const images = tf.tidy(() => tf.transpose(tf.tensor4d(input, [3, 3, 300, 300]), [0, 2, 3, 1]));
    const [locs, scores] = gm.execute(images, [GRAPH_OUTPUTS.locs, GRAPH_OUTPUTS.scores]) as tf.Tensor[];
    assertRelClose(locs.dataSync(), goldLocs, 1e-4, "locs vs voc_locs.f32");
    assertRelClose(scores.dataSync(), goldScores, 1e-4, "scores vs voc_scores.f32");
    tf.dispose([images, locs, scores]);

    // the detection outputs on the golden raw outputs, fed into the `locs`/`scores` nodes
    const sets = golden.detections as Record<
      string,
      { boxes: number[][]; labels: number[]; scores: number[] }[]
    >;
    for (const [key, perImage] of Object.entries(sets)) {
      const [, minScore, maxOverlap, topK] = /min_score=([\d.]+),max_overlap=([\d.]+),top_k=(\d+)/.exec(
        key,
      )!
        .map(Number);
      for (const [i, exp] of perImage.entries()) {
        const feeds = {
          locs: tf.tensor3d(goldLocs.subarray(i * N_PRIORS * 4, (i + 1) * N_PRIORS * 4), [1, N_PRIORS, 4]),
          scores: tf.tensor3d(goldScores.subarray(i * N_PRIORS * 21, (i + 1) * N_PRIORS * 21), [
            1,
            N_PRIORS,
            21,
          ]),
          min_score: tf.scalar(minScore),
          max_overlap: tf.scalar(maxOverlap),
          top_k: tf.scalar(topK, "int32"),
        };
        const outs = await gm.executeAsync(feeds, OUTPUTS.slice(2)) as tf.Tensor[];
        const got = await graphDetections(outs[0], outs[1], outs[2]);
        const want = exp.labels.map((c, k) => ({
          class: c,
          score: exp.scores[k],
          bbox: fractionalXyxyToBbox(exp.boxes[k], 1, 1),
        }));
        assertSameDetections(got, want, 0.9999, 1e-4, `${key} image ${i}`);
        let maxBox = 0;
        got.forEach((g, k) =>
          g.bbox.forEach((v, c) => (maxBox = Math.max(maxBox, Math.abs(v - want[k].bbox[c]))))
        );
        assert(maxBox <= 1e-4, `${key} image ${i}: sorted boxes differ by ${maxBox}`);
        tf.dispose([...outs, ...Object.values(feeds)]);
      }
    }
    gm.dispose();
  },
);
