/**
 * model.onnx (lib/export/onnx_*.ts): the protobuf as written (opset, input, documented outputs, metadata, weight
 * storage); run in ONNX Runtime (onnxruntime-node) its raw outputs equal `ssdForward` and its detections equal
 * `detectObjects` for every image of a batch (1 and 4); the golden VOC checkpoint's model.onnx equals the golden
 * tensors and detections in float32 and within the stated float16 tolerance, and passes ONNX's own checker
 * (Debian's python3-onnx; skipped without it locally, required under CI).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { assertSameDetections, FIXTURE_DIR } from "../helpers.ts";
import { initBackend } from "../../lib/engine/mod.ts";
import {
  composeOnnxModel,
  decodeOnnxModel,
  DetectorModelError,
  encodeOnnxModel,
  exportClassNames,
  fractionalXyxyToBbox,
  hwioToOihw,
  nhwcToNchw,
  onnx,
  ONNX_INPUTS,
  ONNX_OPSET,
  ONNX_OUTPUTS,
  OnnxSsd,
  type OnnxTypes,
  quantizeUint8,
  readOnnxMetadata,
} from "../../lib/export/mod.ts";
import { decodeImage } from "../../lib/image/mod.ts";
import {
  createSsd300,
  detectObjects,
  disposeModel,
  N_PRIORS,
  preprocessForSsd,
  priorsCxcyFor,
  ssdForward,
} from "../../lib/ssd/mod.ts";

import { assertRelClose, comparable, DEFAULTS, goldenVocTest } from "./compare.ts";
await initBackend("wasm", null);

/** float16 weights: raw outputs within this relative error of the golden tensors (measured: 1.9e-4) */
const F16_REL_TOLERANCE = 1e-3;

/** NCHW [n, 3, 300, 300] → n NHWC images of 300 × 300 × 3. */
function nchwToImages(x: Float32Array): Float32Array[] {
  const plane = 300 * 300, n = x.length / (3 * plane);
  return Array.from({ length: n }, (_, b) => {
    const im = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) im[p * 3 + c] = x[(b * 3 + c) * plane + p];
    }
    return im;
  });
}

async function fixtureImages(n: number): Promise<Float32Array[]> {
  const names = ["FudanPed00001.png", "FudanPed00002.png", "PennPed00003.png", "PennPed00004.png"];
  const out: Float32Array[] = [];
  for (const name of names.slice(0, n)) {
    out.push(preprocessForSsd(decodeImage(await Deno.readFile(`${FIXTURE_DIR}/PNGImages/${name}`))));
  }
  return out;
}

Deno.test("hwioToOihw() moves HWIO [k, k, in, out] weights to ONNX's OIHW [out, in, k, k]", () => {
  const k = 2, inC = 3, outC = 5;
  const hwio = Float32Array.from({ length: k * k * inC * outC }, (_, i) => i);
  const oihw = hwioToOihw(hwio, k, inC, outC);
  for (let y = 0; y < k; y++) {
    for (let x = 0; x < k; x++) {
      for (let i = 0; i < inC; i++) {
        for (let o = 0; o < outC; o++) {
          assert.equal(oihw[((o * inC + i) * k + y) * k + x], hwio[((y * k + x) * inC + i) * outC + o]);
        }
      }
    }
  }
  assert.throws(() => hwioToOihw(hwio, 3, inC, outC), RangeError);
});

Deno.test("composeOnnxModel() writes opset 13, an NCHW image input, documented outputs, ssd300 metadata and 4/2/1-byte weights", () => {
  const model = createSsd300(2, 7);
  model.priorSet = "pedestrian";
  try {
    const opts = { classNames: ["background", "person"], source: "w.json" };
    const f32 = composeOnnxModel(model, { ...opts, quantize: "none" });
    const f16 = composeOnnxModel(model, { ...opts, quantize: "float16" });
    const u8 = composeOnnxModel(model, { ...opts, quantize: "uint8" });
    const m = decodeOnnxModel(f32.bytes);
    assert.deepEqual(m.opsetImport.map((o) => [o.domain, Number(o.version)]), [["", ONNX_OPSET]]);
    const inputs = m.graph!.input!, outputs = m.graph!.output!;
    const dims = (v: OnnxTypes.IValueInfoProto) =>
      v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    assert.deepEqual(inputs.map((i) => i.name), Object.values(ONNX_INPUTS));
    assert.deepEqual(dims(inputs[0]), ["N", 3, 300, 300]);
    assert.deepEqual(outputs.map((o) => o.name), Object.values(ONNX_OUTPUTS));
    assert.deepEqual(dims(outputs[0]), ["N", N_PRIORS, 4]);
    assert.deepEqual(dims(outputs[1]), ["N", N_PRIORS, 2]);
    assert.deepEqual(dims(outputs[2]), ["K", 4]);
    assert(outputs.every((o) => (o.docString ?? "").length > 20), "every output is documented");
    assert.match(outputs[0].docString!, /exp\(g_wh \/ 5\)/);
    assert(m.graph!.node!.some((n) => n.opType === "NonMaxSuppression"));

    const meta = readOnnxMetadata(f32.bytes);
    assert.deepEqual(meta.classes, ["background", "person"]);
    assert.equal(meta.prior_set, "pedestrian");
    assert.equal(meta.input.layout, "NCHW");
    assert.deepEqual(meta.detect_defaults, { min_score: 0.2, max_overlap: 0.45, top_k: 200 });
    assert.equal(readOnnxMetadata(f16.bytes).quantization, "float16");

    // storage: float32 4 bytes a weight, float16 2, uint8 1 (+ priors and small constants)
    assert(f16.bytes.length < 0.51 * f32.bytes.length && u8.bytes.length < 0.27 * f32.bytes.length);
    const init = (bytes: Uint8Array, name: string) =>
      decodeOnnxModel(bytes).graph!.initializer!.find((t) => t.name === name)!;
    const T = onnx.TensorProto.DataType;
    assert.equal(init(f32.bytes, "base.conv1_1.weight").dataType, T.FLOAT);
    assert.equal(init(f16.bytes, "base.conv1_1.weight").dataType, T.FLOAT16);
    assert.equal(init(f16.bytes, "priors/size").dataType, T.FLOAT, "priors stay float32");
    const w = hwioToOihw(model.params.get("base.conv1_1.weight")!.dataSync() as Float32Array, 3, 3, 64);
    const half = init(f16.bytes, "base.conv1_1.weight").rawData!;
    const halves = new Float16Array(Uint8Array.from(half).buffer);
    for (let i = 0; i < w.length; i += 37) assert.equal(halves[i], Math.f16round(w[i]));
    const q = quantizeUint8(w);
    assert.deepEqual(Uint8Array.from(init(u8.bytes, "base.conv1_1.weight").rawData!), q.values);
    const scale = init(u8.bytes, "base.conv1_1.weight/scale").rawData!;
    assert.equal(new Float32Array(Uint8Array.from(scale).buffer)[0], Math.fround(q.scale));
  } finally {
    disposeModel(model);
  }
});

Deno.test("model.onnx in ONNX Runtime = ssdForward and detectObjects per image, batch 1 and 4", async () => {
  const model = createSsd300(2, 3);
  model.priorSet = "pedestrian";
  const bytes = composeOnnxModel(model, {
    quantize: "none",
    classNames: exportClassNames(2, "random"),
    source: "random",
  }).bytes;
  const ssd = await OnnxSsd.create(bytes, 2);
  try {
    const images = await fixtureImages(4);
    const ours = tf.tidy(() => {
      const x = tf.transpose(tf.tensor4d(nhwcToNchw(images), [4, 3, 300, 300]), [0, 2, 3, 1]) as tf.Tensor4D;
      const out = ssdForward(model, x);
      return { locs: out.locs.dataSync() as Float32Array, scores: out.scores.dataSync() as Float32Array };
    });
    const four = await ssd.forward(images);
    assert.equal(four.locs.length, 4 * N_PRIORS * 4);
    assertRelClose(four.locs, ours.locs, 1e-4, "locs, batch 4");
    assertRelClose(four.scores, ours.scores, 1e-4, "scores, batch 4");
    const one = await ssd.forward(images.slice(1, 2));
    assertRelClose(one.locs, ours.locs.subarray(N_PRIORS * 4, 2 * N_PRIORS * 4), 1e-4, "locs, batch 1");

    const dets = await ssd.detect(images, DEFAULTS);
    assert.equal(dets.length, 4);
    let total = 0;
    for (const [i, got] of dets.entries()) {
      const expected = detectObjects(
        ours.locs.subarray(i * N_PRIORS * 4, (i + 1) * N_PRIORS * 4),
        ours.scores.subarray(i * N_PRIORS * 2, (i + 1) * N_PRIORS * 2),
        2,
        DEFAULTS,
        priorsCxcyFor("pedestrian"),
      );
      total += expected.length;
      assertSameDetections(comparable(got), comparable(expected), 0.9999, 1e-4, `image ${i}`);
      for (let k = 1; k < got.length; k++) assert(got[k - 1].score >= got[k].score, "best first");
    }
    assert(total > 40, `${total} detections`);
    const [single] = await ssd.detect(images.slice(2, 3), DEFAULTS);
    assertSameDetections(
      comparable(single),
      comparable(dets[2]),
      0.9999,
      1e-5,
      "batch 1 = its image in batch 4",
    );
    const top3 = await ssd.detect(images, { ...DEFAULTS, topK: 3 });
    assert.deepEqual(top3.map((d) => d.length), [3, 3, 3, 3], "top_k per image");
    assert.deepEqual(top3[1], dets[1].slice(0, 3));
    const none = await ssd.detect(images.slice(0, 1), { ...DEFAULTS, minScore: 0.99999 });
    assert.deepEqual(none, [[{ box: [0, 0, 1, 1], classId: 0, score: 0 }]], "the reference's placeholder");
  } finally {
    await ssd.release();
    disposeModel(model);
  }
});

/** Debian's python with `onnx` (python3-onnx), or false. */
function onnxChecker(): boolean {
  try {
    return new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import onnx"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

goldenVocTest(
  "the golden ssd300_voc.pth as model.onnx: golden tensors (f32 ≤ 1e-4, f16 ≤ 1e-3), golden detections, onnx checker",
  async ({ golden, input, locs: goldLocs, scores: goldScores, model, dir }, t) => {
    const images = nchwToImages(input);
    const results: Record<string, { locs: Float32Array; scores: Float32Array }> = {};
    for (const quantize of ["none", "float16"] as const) {
      const { bytes } = composeOnnxModel(model, {
        quantize,
        classNames: exportClassNames(21, "voc"),
        source: "ssd300_voc.pth",
      });
      await Deno.writeFile(`${dir}/${quantize}.onnx`, bytes);
      const ssd = await OnnxSsd.create(bytes, 2);
      try {
        results[quantize] = await ssd.forward(images);
        if (quantize !== "none") continue;
        const sets = golden.detections as Record<
          string,
          { boxes: number[][]; labels: number[]; scores: number[] }[]
        >;
        for (const [key, perImage] of Object.entries(sets)) {
          const [, minScore, maxOverlap, topK] = /min_score=([\d.]+),max_overlap=([\d.]+),top_k=(\d+)/
            .exec(key)!.map(Number);
          const got = await ssd.detect(images, { minScore, maxOverlap, topK });
          for (const [i, exp] of perImage.entries()) {
            const want = exp.labels.map((c, k) => ({
              class: c,
              score: exp.scores[k],
              bbox: fractionalXyxyToBbox(exp.boxes[k], 1, 1),
            }));
            assertSameDetections(comparable(got[i]), want, 0.999, 1e-4, `${key} image ${i}`);
          }
        }
      } finally {
        await ssd.release();
      }
    }
    assertRelClose(results.none.locs, goldLocs, 1e-4, "f32 locs vs voc_locs.f32");
    assertRelClose(results.none.scores, goldScores, 1e-4, "f32 scores vs voc_scores.f32");
    assertRelClose(results.float16.locs, goldLocs, F16_REL_TOLERANCE, "f16 locs vs voc_locs.f32");
    assertRelClose(results.float16.scores, goldScores, F16_REL_TOLERANCE, "f16 scores vs voc_scores.f32");

    await t.step({
      name: "onnx.checker.check_model(full_check=True) passes (python3-onnx)",
      ignore: !onnxChecker() && !Deno.env.get("CI"),
      fn: async () => {
        assert(onnxChecker(), "/usr/bin/python3 cannot import onnx: apt-get install python3-onnx");
        for (const q of ["none", "float16"]) {
          const out = await new Deno.Command("/usr/bin/python3", {
            args: [
              "-c",
              "import onnx, sys; onnx.checker.check_model(sys.argv[1], full_check=True)",
              `${dir}/${q}.onnx`,
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
          assert(out.success, `${q}: ${new TextDecoder().decode(out.stderr).slice(-2000)}`);
        }
      },
    });
  },
);

Deno.test("readOnnxMetadata() refuses what is not an SSD300 export with a DetectorModelError", () => {
  assert.throws(() => readOnnxMetadata(new TextEncoder().encode("not a model at all")), DetectorModelError);
  const other = encodeOnnxModel(onnx.ModelProto.create({ irVersion: 7, producerName: "elsewhere" }));
  assert.throws(() => readOnnxMetadata(other), /no "ssd300" metadata entry/);
});
