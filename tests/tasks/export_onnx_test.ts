/**
 * `deno task export --format onnx` as a user runs it, on the golden VOC checkpoint: model.onnx (float32 and
 * float16) in ONNX Runtime finds what `deno task detect` finds on the golden image, and `--evaluate` scores it
 * as the graph model is scored (ap.json's detector "onnx").
 */
import assert from "node:assert/strict";
import {
  assertSameDetections,
  comparablePixelDetections,
  detectOneImageArgs,
  fixtureFolderDataset,
  flagArgs,
  ignoreWithoutShared,
  runTaskScript,
  sharedPath,
} from "../helpers.ts";
import { writeDataset } from "../../lib/data/mod.ts";
import { ApJsonSchema } from "../../lib/evaluation/mod.ts";
import { loadOnnxDetector, MODEL_ONNX } from "../../lib/export/mod.ts";
import { decodeImage } from "../../lib/image/mod.ts";
import { DetectionsJsonSchema } from "../../lib/ssd/mod.ts";

/** float16 weights move a detection's score by at most this, its box by IoU ≥ F16_MIN_IOU (measured: 9e-5, 0.9997) */
const F16_MAX_SCORE_DIFF = 5e-4;
const F16_MIN_IOU = 0.999;

Deno.test({
  name:
    "deno task export --format onnx: model.onnx (f32, f16) = deno task detect on the golden image; --evaluate",
  ignore: ignoreWithoutShared("golden/ssd300_voc.pth", "golden/crop_FudanPed00001.png"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "export_onnx_task_" });
    const checkpoint = sharedPath("golden/ssd300_voc.pth");
    const image = sharedPath("golden/crop_FudanPed00001.png");
    try {
      await writeDataset(`${dir}/dataset.json`, await fixtureFolderDataset(4));
      const onnx = { checkpoint, format: "onnx" };
      const evaluate = { evaluate: `${dir}/dataset.json`, limit: 2 };
      const ex = await runTaskScript("export", flagArgs({ ...onnx, out: `${dir}/f32`, ...evaluate }));
      assert.equal(ex.code, 0, ex.stderr);
      assert.match(ex.stdout, /f32\/model\.onnx: \d+ nodes, \d+ initializers, 100\.\d\d MiB \(none\)/);
      assert.match(ex.stdout, /AP@0\.5 \d\.\d{4}/);
      const ap = ApJsonSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/f32/ap.json`)));
      assert.deepEqual(
        [ap.n_images, ap.settings.detector, ap.settings.quantization, ap.settings.min_score],
        [2, "onnx", "none", 0.01],
      );
      assert(ap.n_detections > 0);
      const f16 = await runTaskScript(
        "export",
        flagArgs({ ...onnx, quantize: "float16", out: `${dir}/f16` }),
      );
      assert.equal(f16.code, 0, f16.stderr);
      const size = async (d: string) => (await Deno.stat(`${dir}/${d}/${MODEL_ONNX}`)).size;
      assert((await size("f16")) < 0.51 * (await size("f32")), "float16 halves the file");

      const det = await runTaskScript("detect", [
        "--checkpoint",
        checkpoint,
        ...detectOneImageArgs(dir, image),
      ]);
      assert.equal(det.code, 0, det.stderr);
      const expected = DetectionsJsonSchema.parse(
        JSON.parse(await Deno.readTextFile(`${dir}/detections.json`)),
      );
      assert(expected.detections.length > 10, `${expected.detections.length} detections`);
      const want = comparablePixelDetections(expected.detections);
      const img = decodeImage(await Deno.readFile(image));
      for (
        const [q, minIou, maxScore] of [["f32", 0.999, 1e-4], [
          "f16",
          F16_MIN_IOU,
          F16_MAX_SCORE_DIFF,
        ]] as const
      ) {
        const detector = await loadOnnxDetector(`${dir}/${q}/${MODEL_ONNX}`, 2);
        try {
          assertSameDetections(await detector.detect(img), want, minIou, maxScore, q);
        } finally {
          await detector.dispose();
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deno task export --format: only graph-model or onnx", async () => {
  const r = await runTaskScript("export", ["--weights", "w.json", "--out", "o", "--format", "tflite"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--format: expected one of graph-model, onnx/);
});
