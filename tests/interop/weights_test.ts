import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../lib/engine/backend.ts";
import {
  cloneModel,
  createSsd300,
  disposeModel,
  paramShapes,
  ssdForward,
  type SsdModel,
} from "../../lib/ssd/mod.ts";
import { type NamedTensor, readTorchCheckpoint } from "../../lib/torch/mod.ts";
import { classNames, modelClassNames } from "../../lib/ssd/mod.ts";
import {
  createSsd300FromVgg16,
  importTorchvisionVgg16,
  loadCheckpointFile,
  loadWeights,
  mergeHeads,
  modelFromStateDict,
  modelToStateDict,
  saveWeights,
  StateDictError,
  toSingleClass,
  vocClassOf,
  WeightsManifestSchema,
} from "../../lib/interop/mod.ts";
import { torchParamShapes } from "../../lib/interop/state_dict.ts";
import { VGG16_FEATURE_CONVS } from "../../lib/interop/vgg16.ts";
import { ArtifactError } from "../../lib/core/artifacts.ts";
import { GOLDEN_DIR, haveGolden } from "../helpers.ts";

await initBackend("wasm", null);

function readGoldenCheckpoint(file: string) {
  return readTorchCheckpoint(Deno.readFileSync(new URL(file, GOLDEN_DIR)), file);
}

function sameData(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  }
  return true;
}

/** A small full state_dict in torch layout (shapes of an SSD300 with nClasses), values i·1e-3 mod 1. */
function syntheticStateDict(nClasses: number): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  let k = 0;
  for (const [name, shape] of torchParamShapes(nClasses)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = ((i + k) % 1000) * 1e-3;
    out.set(name, { shape, data });
    k++;
  }
  return out;
}

Deno.test("modelFromStateDict() loads ssd300_voc.pth as 21 classes and modelToStateDict() gives it back bit-exact", async (t) => {
  if (!haveGolden(t, "ssd300_voc.pth")) return;
  const before = tf.memory().numTensors;
  const ck = readGoldenCheckpoint("ssd300_voc.pth");
  const model = modelFromStateDict(ck.tensors, "ssd300_voc.pth");
  assert.deepEqual(model.nClasses, 21);
  assert.deepEqual([...model.params.keys()], [...paramShapes(21).keys()]);
  assert.deepEqual(model.params.get("base.conv1_1.weight")!.shape, [3, 3, 3, 64]);
  assert.deepEqual(model.params.get("rescale_factors")!.shape, [1, 1, 1, 512]);
  // OIHW [o, i, h, w] → HWIO [h, w, i, o]: spot-check one element
  const oihw = ck.tensors.get("base.conv1_2.weight")!;
  const [o, i, h, w] = [5, 7, 2, 1];
  const hwio = model.params.get("base.conv1_2.weight")!.arraySync() as number[][][][];
  assert.deepEqual(hwio[h][w][i][o], oihw.data[((o * 64 + i) * 3 + h) * 3 + w]);
  const back = await modelToStateDict(model);
  assert.deepEqual([...back.keys()], [...ck.tensors.keys()]);
  for (const [name, t0] of ck.tensors) {
    assert.deepEqual(back.get(name)!.shape, t0.shape, name);
    assert(sameData(back.get(name)!.data, t0.data), `${name} differs`);
  }
  disposeModel(model);
  assert.deepEqual(tf.memory().numTensors, before);
});

Deno.test("modelFromStateDict() reports every missing key, unexpected key and shape mismatch together", () => {
  const sd = syntheticStateDict(21);
  sd.delete("base.conv3_2.bias");
  sd.delete("aux_convs.conv9_1.weight");
  sd.set("base.conv99.weight", { shape: [1], data: new Float32Array(1) });
  sd.set("base.conv1_1.weight", { shape: [64, 3, 5, 5], data: new Float32Array(64 * 3 * 25) });
  const before = tf.memory().numTensors;
  assert.throws(() => modelFromStateDict(sd, "bad.pth"), StateDictError);
  try {
    modelFromStateDict(sd, "bad.pth");
  } catch (e) {
    assert(e instanceof StateDictError);
    assert.deepEqual(e.missing, ["base.conv3_2.bias", "aux_convs.conv9_1.weight"]);
    assert.deepEqual(e.unexpected, ["base.conv99.weight"]);
    assert.deepEqual(e.mismatched, [{
      name: "base.conv1_1.weight",
      expected: [64, 3, 3, 3],
      got: [64, 3, 5, 5],
    }]);
    for (
      const s of [
        "bad.pth",
        "base.conv3_2.bias",
        "aux_convs.conv9_1.weight",
        "base.conv99.weight",
        "[64,3,5,5]",
      ]
    ) {
      assert(e.message.includes(s), `message names ${s}: ${e.message}`);
    }
  }
  assert.deepEqual(tf.memory().numTensors, before, "no tensors created on failure");
});

Deno.test("modelFromStateDict() recognises a 2-class checkpoint", () => {
  const model = modelFromStateDict(syntheticStateDict(2));
  assert.deepEqual(model.nClasses, 2);
  assert.deepEqual(model.params.get("pred_convs.cl_conv7.weight")!.shape, [3, 3, 1024, 12]);
  disposeModel(model);
});

Deno.test("mergeHeads() takes person_heads.pth (zip) and the legacy module file alike", async (t) => {
  if (!haveGolden(t, "person_heads.pth") || !haveGolden(t, "person_heads.legacy.pth.tar")) return;
  const base = modelFromStateDict(syntheticStateDict(21));
  const zip = readGoldenCheckpoint("person_heads.pth");
  const legacy = readGoldenCheckpoint("person_heads.legacy.pth.tar");
  assert(
    [...legacy.tensors.keys()].some((k) => k.startsWith("loc_conv")),
    "legacy names are module-relative",
  );
  const a = mergeHeads(base, zip.tensors, "person_heads.pth");
  const b = mergeHeads(base, legacy.tensors, "person_heads.legacy.pth.tar");
  assert.deepEqual(a.nClasses, 2);
  assert.deepEqual(b.nClasses, 2);
  const [sa, sb, s0] = await Promise.all([a, b, base].map(modelToStateDict));
  for (const [name, t0] of sa) {
    assert(sameData(t0.data, sb.get(name)!.data), `${name}: zip and legacy differ`);
    if (name.startsWith("pred_convs.")) assert(sameData(t0.data, zip.tensors.get(name)!.data), name);
    else assert(sameData(t0.data, s0.get(name)!.data), `${name} copied from the base model`);
  }
  // a heads file missing one key names it
  const partial = new Map(zip.tensors);
  partial.delete("pred_convs.cl_conv9_2.bias");
  assert.throws(() => mergeHeads(base, partial, "p"), /missing key pred_convs\.cl_conv9_2\.bias/);
  [a, b, base].forEach(disposeModel);
});

Deno.test("toSingleClass() voc-person keeps channels b·21+0 and b·21+15 of every cl conv and the loc convs", () => {
  const voc = modelFromStateDict(syntheticStateDict(21));
  const person = toSingleClass(voc, "voc-person");
  assert.deepEqual(person.nClasses, 2);
  assert.deepEqual([...person.params.keys()], [...paramShapes(2).keys()]);
  const w21 = voc.params.get("pred_convs.cl_conv7.weight")!.arraySync() as number[][][][]; // [3,3,1024,126]
  const w2 = person.params.get("pred_convs.cl_conv7.weight")!.arraySync() as number[][][][]; // [3,3,1024,12]
  const b21 = voc.params.get("pred_convs.cl_conv7.bias")!.dataSync();
  const b2 = person.params.get("pred_convs.cl_conv7.bias")!.dataSync();
  for (let box = 0; box < 6; box++) {
    for (const [c, src] of [[0, 0], [1, 15]]) {
      assert.deepEqual(b2[box * 2 + c], b21[box * 21 + src]);
      assert.deepEqual(w2[1][2][333][box * 2 + c], w21[1][2][333][box * 21 + src]);
    }
  }
  const l21 = voc.params.get("pred_convs.loc_conv4_3.weight")!.dataSync() as Float32Array;
  assert(sameData(person.params.get("pred_convs.loc_conv4_3.weight")!.dataSync() as Float32Array, l21));
  assert(sameData(
    person.params.get("base.conv5_3.weight")!.dataSync() as Float32Array,
    voc.params.get("base.conv5_3.weight")!.dataSync() as Float32Array,
  ));
  const again = toSingleClass(person, "random");
  assert(
    sameData(
      again.params.get("pred_convs.cl_conv7.weight")!.dataSync() as Float32Array,
      person.params.get("pred_convs.cl_conv7.weight")!.dataSync() as Float32Array,
    ),
    "a 2-class model is kept as is",
  );
  [voc, person, again].forEach(disposeModel);
});

Deno.test("toSingleClass() random re-initialises heads with xavier-uniform weights and zero biases", () => {
  const voc = modelFromStateDict(syntheticStateDict(21));
  const person = toSingleClass(voc, "random", 3);
  const w = person.params.get("pred_convs.cl_conv4_3.weight")!; // [3, 3, 512, 8]
  const bound = Math.sqrt(6 / (9 * (512 + 8)));
  const data = w.dataSync() as Float32Array;
  assert(data.every((v) => Math.abs(v) <= bound));
  const maxAbs = data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert(maxAbs > 0.9 * bound, "spread over the xavier range");
  assert(person.params.get("pred_convs.loc_conv7.bias")!.dataSync().every((v) => v === 0));
  const same = toSingleClass(voc, "random", 3);
  assert(
    sameData(
      same.params.get("pred_convs.cl_conv4_3.weight")!.dataSync() as Float32Array,
      data as Float32Array,
    ),
  );
  [voc, person, same].forEach(disposeModel);
});

Deno.test("importTorchvisionVgg16() maps features.* and decimates fc6/fc7 into conv6/conv7 as the reference", async () => {
  // synthetic torchvision VGG16 state_dict: value = a function of the element's index
  const vgg = new Map<string, NamedTensor>();
  const shapes = torchParamShapes(21);
  VGG16_FEATURE_CONVS.forEach((f, i) => {
    const conv = [...shapes.keys()].filter((k) => k.startsWith("base.conv"))[2 * i].replace(".weight", "");
    for (const kind of ["weight", "bias"]) {
      const shape = shapes.get(`${conv}.${kind}`)!;
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, j) => i * 1000 + (j % 997));
      vgg.set(`features.${f}.${kind}`, { shape, data });
    }
  });
  const fc6 = new Float32Array(4096 * 25088).map((_, j) => j % 8191); // [4096, 512·7·7]
  vgg.set("classifier.0.weight", { shape: [4096, 25088], data: fc6 });
  vgg.set("classifier.0.bias", { shape: [4096], data: new Float32Array(4096).map((_, j) => j) });
  const fc7 = new Float32Array(4096 * 4096).map((_, j) => j % 65521);
  vgg.set("classifier.3.weight", { shape: [4096, 4096], data: fc7 });
  vgg.set("classifier.3.bias", { shape: [4096], data: new Float32Array(4096).map((_, j) => -j) });
  vgg.set("classifier.6.weight", { shape: [1000, 4096], data: new Float32Array(4096 * 1000) }); // ignored

  const base = importTorchvisionVgg16(vgg);
  assert.deepEqual(base.size, 30);
  assert.deepEqual(base.get("base.conv3_3.bias")!.data, vgg.get("features.14.bias")!.data);
  const c6 = base.get("base.conv6.weight")!;
  assert.deepEqual(c6.shape, [1024, 512, 3, 3]);
  for (const [o, i, h, w] of [[0, 0, 0, 0], [1, 2, 1, 2], [1023, 511, 2, 1], [17, 300, 2, 2]]) {
    // out channel 4·o, kernel position (3h, 3w) of the [4096, 512, 7, 7] view
    const src = ((4 * o * 512 + i) * 7 + 3 * h) * 7 + 3 * w;
    assert.deepEqual(c6.data[((o * 512 + i) * 3 + h) * 3 + w], fc6[src]);
  }
  assert.deepEqual(base.get("base.conv6.bias")!.data[5], 20);
  const c7 = base.get("base.conv7.weight")!;
  assert.deepEqual(c7.shape, [1024, 1024, 1, 1]);
  assert.deepEqual(c7.data[7 * 1024 + 9], fc7[28 * 4096 + 36]);
  assert.deepEqual(base.get("base.conv7.bias")!.data[1023], -4092);

  const model = createSsd300FromVgg16(2, vgg, 1);
  assert.deepEqual(model.nClasses, 2);
  const sd = await modelToStateDict(model);
  assert(sameData(sd.get("base.conv6.weight")!.data, c6.data));
  disposeModel(model);

  vgg.delete("features.26.bias");
  vgg.set("classifier.3.weight", { shape: [4096, 4095], data: new Float32Array(4096 * 4095) });
  assert.throws(
    () => importTorchvisionVgg16(vgg, "vgg16.pth"),
    (e: unknown) =>
      e instanceof StateDictError && e.missing.join() === "features.26.bias" &&
      e.mismatched.map((m) => m.name).join() === "classifier.3.weight",
  );
});

Deno.test("saveWeights() / loadWeights() round-trip bit-exact; a corrupted data file is rejected", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = createSsd300(2, 5);
    const path = `${dir}/w.json`;
    await saveWeights(path, model, { note: "test" });
    const manifest = JSON.parse(await Deno.readTextFile(path));
    WeightsManifestSchema.parse(manifest); // what the writer wrote satisfies the one schema readers use
    assert.deepEqual(manifest.n_classes, 2);
    assert.deepEqual(manifest.class_names, classNames(2));
    const loaded = await loadWeights(path);
    const viaFile = await loadCheckpointFile(path);
    for (const m of [loaded, viaFile]) {
      assert.deepEqual(m.nClasses, 2);
      for (const [name, v] of model.params) {
        assert(sameData(m.params.get(name)!.dataSync() as Float32Array, v.dataSync() as Float32Array), name);
      }
    }
    const bin = await Deno.readFile(`${dir}/w.bin`);
    bin[100] ^= 1;
    await Deno.writeFile(`${dir}/w.bin`, bin);
    await assert.rejects(
      () => loadWeights(path),
      (e: unknown) => e instanceof ArtifactError && /bin_sha256/.test(String(e)),
    );
    [model, loaded, viaFile].forEach((m: SsdModel) => disposeModel(m));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadCheckpointFile() loads the golden .pth and names every problem of a heads-only file", async (t) => {
  if (!haveGolden(t, "person_heads.pth")) return;
  const path = new URL("person_heads.pth", GOLDEN_DIR).pathname;
  await assert.rejects(
    () => loadCheckpointFile(path),
    (e: unknown) =>
      e instanceof StateDictError && e.missing.length === 1 + 30 + 16 &&
      e.missing.includes("rescale_factors") && e.unexpected.length === 0,
  );
});

Deno.test("toSingleClass() voc-person gives a model ssdForward runs on WASM: its locs and person logits are the VOC model's", () => {
  // a variable built straight from tf.gather output made WASM's FusedConv2D reject the bias (rank 4)
  const voc = createSsd300(21, 11);
  const person = toSingleClass(voc, "voc-person");
  const before = tf.memory().numTensors;
  const image = tf.randomUniform([1, 300, 300, 3], -2, 2, "float32", 4) as tf.Tensor4D;
  const a = ssdForward(voc, image);
  const b = ssdForward(person, image);
  assert.deepEqual(b.scores.shape, [1, 8732, 2]);
  const [vocLocs, personLocs] = [a.locs.dataSync(), b.locs.dataSync()];
  assert(sameData(vocLocs as Float32Array, personLocs as Float32Array), "loc heads copied");
  const s21 = a.scores.dataSync(), s2 = b.scores.dataSync();
  let maxDiff = 0;
  for (let p = 0; p < 8732; p++) {
    maxDiff = Math.max(
      maxDiff,
      Math.abs(s2[p * 2] - s21[p * 21]),
      Math.abs(s2[p * 2 + 1] - s21[p * 21 + 15]),
    );
  }
  assert(maxDiff <= 1e-5, `background/person logits differ from VOC channels 0/15 by ${maxDiff}`);
  tf.dispose([image, a.locs, a.scores, b.locs, b.scores]);
  assert.deepEqual(tf.memory().numTensors, before);
  [voc, person].forEach(disposeModel);
});

Deno.test("saveWeights() / loadWeights() keep the prior set; older manifests load as reference; bad names rejected", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = createSsd300(2, 5);
    model.priorSet = "pedestrian";
    const clone = cloneModel(model);
    assert.deepEqual(clone.priorSet, "pedestrian");
    const single = toSingleClass(clone, "random");
    assert.deepEqual(single.priorSet, "pedestrian", "toSingleClass keeps the prior set");
    const path = `${dir}/w.json`;
    await saveWeights(path, model);
    const manifest = JSON.parse(await Deno.readTextFile(path));
    assert.deepEqual(manifest.prior_set, "pedestrian");
    const loaded = await loadWeights(path);
    assert.deepEqual(loaded.priorSet, "pedestrian");
    model.priorSet = undefined; // no prior set = the reference's
    await saveWeights(`${dir}/plain.json`, model);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/plain.json`)).prior_set, "reference");
    delete manifest.prior_set; // a manifest written before the field existed
    await Deno.writeTextFile(path, JSON.stringify(manifest));
    const old = await loadWeights(path);
    assert.deepEqual(old.priorSet, "reference");
    await Deno.writeTextFile(path, JSON.stringify({ ...manifest, anchors: "pedestrian" })); // the older field name
    const renamed = await loadWeights(path);
    assert.deepEqual(renamed.priorSet, "pedestrian");
    await Deno.writeTextFile(path, JSON.stringify({ ...manifest, prior_set: "square" }));
    await assert.rejects(
      () => loadWeights(path),
      (e: unknown) => e instanceof ArtifactError && /prior_set/.test(String(e)) && /square/.test(String(e)),
    );
    [model, clone, single, loaded, old, renamed].forEach(disposeModel);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("toSingleClass() voc with a VOC class id keeps channels b·21+0 and b·21+id (car: 7); voc-person stays person", () => {
  const voc = modelFromStateDict(syntheticStateDict(21));
  const car = toSingleClass(voc, "voc", 0, vocClassOf("Car")!);
  const person = toSingleClass(voc, "voc-person", 0, 7);
  const b21 = voc.params.get("pred_convs.cl_conv9_2.bias")!.dataSync();
  const bCar = car.params.get("pred_convs.cl_conv9_2.bias")!.dataSync();
  const bPerson = person.params.get("pred_convs.cl_conv9_2.bias")!.dataSync();
  for (let box = 0; box < 6; box++) {
    assert.deepEqual([bCar[box * 2], bCar[box * 2 + 1]], [b21[box * 21], b21[box * 21 + 7]]);
    assert.deepEqual(bPerson[box * 2 + 1], b21[box * 21 + 15]);
  }
  assert.deepEqual([vocClassOf("dog"), vocClassOf("figure"), vocClassOf("background")], [12, null, null]);
  assert.throws(() => toSingleClass(voc, "voc", 0, 21), /VOC class id/);
  [voc, car, person].forEach(disposeModel);
});

Deno.test("saveWeights() writes the model's own class names; loadWeights() gives them back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = { ...createSsd300(2, 1), classNames: ["background", "car"] };
    await saveWeights(`${dir}/w.json`, model);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/w.json`));
    assert.deepEqual(manifest.class_names, ["background", "car"]);
    const back = await loadWeights(`${dir}/w.json`);
    assert.deepEqual(modelClassNames(back), ["background", "car"]);
    assert.deepEqual(modelClassNames({ nClasses: 2 }), ["background", "person"]);
    [model, back].forEach(disposeModel);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
