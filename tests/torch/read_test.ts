import assert from "node:assert/strict";
import { unzipSync } from "fflate";
import { type NamedTensor, readTorchCheckpoint } from "../../lib/torch/mod.ts";
import { GOLDEN_DIR, ignoreWithoutShared } from "../helpers.ts";

const goldenPath = (name: string) => new URL(name, GOLDEN_DIR).pathname;
/** Skip (outside CI) unless every named golden file is there. */
const goldenMissing = (...names: string[]) => ignoreWithoutShared(...names.map((n) => `golden/${n}`));

const VOC = "ssd300_voc.pth";
const HEADS = "person_heads.pth";
const HEADS_LEGACY = "person_heads.legacy.pth.tar";

/** Names of the reference SSD300: VGG base (13 convs + conv6/conv7), 8 aux convs, 12 prediction convs. */
const BASE_CONVS = [
  "conv1_1",
  "conv1_2",
  "conv2_1",
  "conv2_2",
  "conv3_1",
  "conv3_2",
  "conv3_3",
  "conv4_1",
  "conv4_2",
  "conv4_3",
  "conv5_1",
  "conv5_2",
  "conv5_3",
  "conv6",
  "conv7",
];
const AUX_CONVS = [
  "conv8_1",
  "conv8_2",
  "conv9_1",
  "conv9_2",
  "conv10_1",
  "conv10_2",
  "conv11_1",
  "conv11_2",
];
const FEATURE_MAPS = ["conv4_3", "conv7", "conv8_2", "conv9_2", "conv10_2", "conv11_2"];
/** Boxes per location on each feature map (the reference's n_boxes). */
const N_BOXES = [4, 6, 6, 6, 4, 4];
const MAP_CHANNELS = [512, 1024, 512, 256, 256, 256];

function headShapes(nClasses: number): Map<string, number[]> {
  const m = new Map<string, number[]>();
  FEATURE_MAPS.forEach((f, i) => {
    m.set(`loc_${f}.weight`, [N_BOXES[i] * 4, MAP_CHANNELS[i], 3, 3]);
    m.set(`loc_${f}.bias`, [N_BOXES[i] * 4]);
  });
  FEATURE_MAPS.forEach((f, i) => {
    m.set(`cl_${f}.weight`, [N_BOXES[i] * nClasses, MAP_CHANNELS[i], 3, 3]);
    m.set(`cl_${f}.bias`, [N_BOXES[i] * nClasses]);
  });
  return m;
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function assertBitEqual(a: NamedTensor, b: NamedTensor, name: string) {
  assert.deepEqual(a.shape, b.shape, `${name}: shape`);
  const ua = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length);
  const ub = new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length);
  assert.ok(ua.length === ub.length && ua.every((v, i) => v === ub[i]), `${name}: values differ`);
}

Deno.test({
  name: "readTorchCheckpoint() reads the 21-class VOC zip checkpoint with reference names and shapes",
  ignore: goldenMissing(VOC),
  fn() {
    const bytes = Deno.readFileSync(goldenPath(VOC));
    const t0 = performance.now();
    const ckpt = readTorchCheckpoint(bytes, VOC);
    const ms = performance.now() - t0;
    console.error(`  ${VOC}: ${(bytes.length / 1e6).toFixed(1)} MB read in ${ms.toFixed(0)} ms`);
    assert.equal(ckpt.format, "zip");
    assert.deepEqual(ckpt.meta, { epoch: 0 });
    const names = [...ckpt.tensors.keys()];
    const expected = [
      "rescale_factors",
      ...BASE_CONVS.flatMap((c) => [`base.${c}.weight`, `base.${c}.bias`]),
      ...AUX_CONVS.flatMap((c) => [`aux_convs.${c}.weight`, `aux_convs.${c}.bias`]),
      ...[...headShapes(21).keys()].map((k) => `pred_convs.${k}`),
    ];
    assert.deepEqual([...names].sort(), [...expected].sort());
    const shape = (n: string) => ckpt.tensors.get(n)!.shape;
    assert.deepEqual(shape("base.conv1_1.weight"), [64, 3, 3, 3]);
    assert.deepEqual(shape("base.conv6.weight"), [1024, 512, 3, 3]);
    assert.deepEqual(shape("base.conv7.weight"), [1024, 1024, 1, 1]);
    assert.deepEqual(shape("rescale_factors"), [1, 512, 1, 1]);
    for (const [k, s] of headShapes(21)) assert.deepEqual(shape(`pred_convs.${k}`), s, k);
    for (const [n, t] of ckpt.tensors) assert.equal(t.data.length, numel(t.shape), n);
    // the reference initialises rescale_factors to 20 and the golden file keeps it
    assert.ok(ckpt.tensors.get("rescale_factors")!.data.every((v) => v === 20));
  },
});

Deno.test({
  name:
    "readTorchCheckpoint() returns exactly the bytes of each storage record (checked against fflate.unzipSync)",
  ignore: goldenMissing(HEADS),
  fn() {
    const bytes = Deno.readFileSync(goldenPath(HEADS));
    const ckpt = readTorchCheckpoint(bytes, HEADS);
    // independent path: the pickle lists storages in state_dict order with keys "0", "1", …, each a whole
    // contiguous float32 tensor, so record i is the i-th tensor's data.
    const records = unzipSync(bytes);
    let i = 0;
    for (const [name, t] of ckpt.tensors) {
      const rec = records[`person_heads/data/${i++}`];
      assert.ok(rec, `record ${i - 1} for ${name}`);
      assertBitEqual(t, { shape: t.shape, data: new Float32Array(rec.slice().buffer) }, name);
    }
    assert.equal(i, Object.keys(records).filter((n) => n.startsWith("person_heads/data/")).length);
  },
});

Deno.test({
  name: "readTorchCheckpoint() reads the 2-class heads as a bare zip state_dict",
  ignore: goldenMissing(HEADS),
  fn() {
    const ckpt = readTorchCheckpoint(Deno.readFileSync(goldenPath(HEADS)), HEADS);
    assert.equal(ckpt.format, "zip");
    assert.deepEqual(ckpt.meta, {});
    const expected = new Map([...headShapes(2)].map(([k, s]) => [`pred_convs.${k}`, s]));
    assert.deepEqual([...ckpt.tensors.keys()].sort(), [...expected.keys()].sort());
    for (const [k, s] of expected) assert.deepEqual(ckpt.tensors.get(k)!.shape, s, k);
    assert.deepEqual(ckpt.tensors.get("pred_convs.cl_conv4_3.weight")!.shape, [8, 512, 3, 3]);
  },
});

Deno.test({
  name: "readTorchCheckpoint() reads the legacy whole-module heads equal to the zip heads bit for bit",
  ignore: goldenMissing(HEADS, HEADS_LEGACY),
  fn() {
    const legacy = readTorchCheckpoint(Deno.readFileSync(goldenPath(HEADS_LEGACY)), HEADS_LEGACY);
    const zip = readTorchCheckpoint(Deno.readFileSync(goldenPath(HEADS)), HEADS);
    assert.equal(legacy.format, "legacy");
    assert.deepEqual(legacy.meta, { epoch: 3 });
    // names are relative to the saved PredictionConvolutions module, in module (state_dict) order
    assert.deepEqual([...legacy.tensors.keys()], [...headShapes(2).keys()]);
    for (const [name, t] of legacy.tensors) assertBitEqual(t, zip.tensors.get(`pred_convs.${name}`)!, name);
  },
});
