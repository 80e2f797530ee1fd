/**
 * The model.json pieces without a network: GraphDef attr encoding as tfjs-converter parses it, the torch → TF
 * padding choice per conv, the converter's uint8/float16 quantisation (decoded by tfjs-core's own
 * `decodeWeights`), 4 MiB sharding, output-folder checks and class names.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  attr,
  checkOutputDir,
  convPadding,
  exportClassNames,
  ExportError,
  GraphBuilder,
  packWeights,
  quantizeUint8,
  SHARD_BYTES,
} from "../../lib/export/mod.ts";
import { AUX_CONVS, BASE_CONVS } from "../../lib/ssd/mod.ts";

await tf.setBackend("cpu");

Deno.test("attr encodes AttrValues as protobuf JSON (base64 strings, int64 as decimal strings)", () => {
  assert.deepEqual(attr.string("SAME"), { s: "U0FNRQ==" });
  assert.deepEqual(attr.strings(["BiasAdd", "Relu"]), { list: { s: ["Qmlhc0FkZA==", "UmVsdQ=="] } });
  assert.deepEqual(attr.ints([1, 2, 2, 1]), { list: { i: ["1", "2", "2", "1"] } });
  assert.deepEqual(attr.dtype("int32"), { type: "DT_INT32" });
  assert.deepEqual(attr.shape([-1, 300, 300, 3]), {
    shape: { dim: [{ size: "-1" }, { size: "300" }, { size: "300" }, { size: "3" }] },
  });
  assert.deepEqual(attr.shape([]), { shape: {} });
  let threw = false;
  try {
    attr.int(1.5);
  } catch (e) {
    threw = e instanceof RangeError;
  }
  assert(threw, "non-integer int attr rejected");
});

Deno.test("GraphBuilder rejects duplicate names and inputs that do not exist yet", () => {
  const g = new GraphBuilder();
  const x = g.placeholder("x", "float32", [2]);
  g.op("y", "Relu", [x], { T: attr.dtype("float32") });
  const throws = (f: () => unknown, re: RegExp) => {
    try {
      f();
    } catch (e) {
      assert(re.test((e as Error).message), (e as Error).message);
      return;
    }
    throw new Error(`expected ${re}`);
  };
  throws(() => g.op("y", "Relu", [x]), /duplicate GraphDef node name 'y'/);
  throws(() => g.op("z", "Relu", ["nope:1"]), /unknown input 'nope:1'/);
  throws(() => g.constant("c", "float32", [2, 2], [1, 2, 3], false), /3 values for shape \[2, 2\]/);
  assert.deepEqual(g.graphDef().node.map((n) => n.name), ["x", "y"]);
});

Deno.test("convPadding() keeps torch padding: SAME, VALID, or EXPLICIT where SAME pads only after", () => {
  const by = (name: string) => [...BASE_CONVS, ...AUX_CONVS].find((c) => c.name === name)!;
  assert.deepEqual(convPadding(300, by("base.conv1_1")), { padding: attr.string("SAME") });
  assert.deepEqual(convPadding(19, by("base.conv6")), { padding: attr.string("SAME") }); // dilation 6, pad 6
  assert.deepEqual(convPadding(19, by("base.conv7")), { padding: attr.string("VALID") });
  assert.deepEqual(convPadding(19, by("aux_convs.conv8_2")), { padding: attr.string("SAME") }); // 19 → 10
  assert.deepEqual(convPadding(10, by("aux_convs.conv9_2")), {
    padding: attr.string("EXPLICIT"),
    explicit_paddings: attr.ints([0, 0, 1, 1, 1, 1, 0, 0]),
  }); // 10 → 5: SAME would pad 0 before, 1 after
  assert.deepEqual(convPadding(5, by("aux_convs.conv10_2")), { padding: attr.string("VALID") });
});

Deno.test("quantizeUint8() nudges the range so that 0 is exact, as tfjs-converter's quantization.py", () => {
  const data = new Float32Array([-0.1, 0, 0.05, 1.2, 0.6]);
  const q = quantizeUint8(data);
  assert(Math.abs(q.scale - 1.3 / 255) < 1e-9, `scale ${q.scale}`);
  const zero = -q.min / q.scale;
  assert(Math.abs(zero - Math.round(zero)) < 1e-9, `zero point ${zero}`);
  assert.deepEqual(q.values[1] * q.scale + q.min, 0);
  data.forEach((v, i) =>
    assert(Math.abs(q.values[i] * q.scale + q.min - v) <= q.scale / 2 + 1e-7, `value ${i}`)
  );
  assert.deepEqual(quantizeUint8(new Float32Array([3, 3])), { values: new Uint8Array(2), min: 3, scale: 1 });
  // all positive: no nudging, the minimum maps to 0 and the maximum to 255
  const pos = quantizeUint8(new Float32Array([1, 2, 3]));
  assert.deepEqual([...pos.values], [0, 128, 255]);
});

Deno.test("packWeights() writes 4 MiB shards and manifest entries that tfjs-core decodes", async () => {
  const n = 1_300_000; // 5.2 MB as float32: two shards
  const big = new Float32Array(n).map((_, i) => Math.sin(i) * 3);
  const constants = [
    { name: "w", dtype: "float32" as const, shape: [n], data: big, quantizable: true },
    { name: "axis", dtype: "int32" as const, shape: [1], data: new Int32Array([3]), quantizable: false },
    {
      name: "priors",
      dtype: "float32" as const,
      shape: [2],
      data: new Float32Array([0.25, 0.5]),
      quantizable: false,
    },
  ];
  for (const quantize of ["none", "float16", "uint8"] as const) {
    const packed = packWeights(constants, quantize);
    const total = packed.shards.reduce((s, x) => s + x.bytes.byteLength, 0);
    const bytesPerValue = { none: 4, float16: 2, uint8: 1 }[quantize];
    assert.deepEqual(total, n * bytesPerValue + 4 + 8, `${quantize}: total bytes`);
    const nShards = Math.ceil(total / SHARD_BYTES);
    assert.deepEqual(
      packed.manifest[0].paths,
      Array.from({ length: nShards }, (_, i) => `group1-shard${i + 1}of${nShards}.bin`),
    );
    assert(packed.shards.every((s) => s.bytes.byteLength <= SHARD_BYTES), "shards ≤ 4 MiB");
    const entries = packed.manifest[0].weights;
    assert.deepEqual(entries[1], { name: "axis", shape: [1], dtype: "int32" });
    assert.deepEqual(entries[2], { name: "priors", shape: [2], dtype: "float32" }); // never quantised
    if (quantize === "float16") {
      assert.deepEqual(entries[0].quantization, { dtype: "float16", original_dtype: "float32" });
    }
    if (quantize === "uint8") {
      assert.deepEqual(Object.keys(entries[0].quantization!), ["dtype", "min", "scale", "original_dtype"]);
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const s of packed.shards) {
      all.set(s.bytes, o);
      o += s.bytes.byteLength;
    }
    const decoded = tf.io.decodeWeights(all.buffer, entries);
    const w = await decoded.w.data();
    let maxErr = 0;
    for (let i = 0; i < n; i++) maxErr = Math.max(maxErr, Math.abs(w[i] - big[i]));
    const bound = { none: 0, float16: 3 * 2 ** -11, uint8: 6 / 255 / 2 + 1e-6 }[quantize];
    assert(maxErr <= bound, `${quantize}: max |Δ| ${maxErr} > ${bound}`);
    if (quantize === "float16") assert.deepEqual(w[7], Math.f16round(big[7]));
    assert.deepEqual([...await decoded.axis.data()], [3]);
    assert.deepEqual([...await decoded.priors.data()], [0.25, 0.5]);
    tf.dispose(Object.values(decoded));
  }
});

Deno.test("checkOutputDir() accepts an absent or empty folder, names a non-empty one or a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await checkOutputDir(`${dir}/new`);
    await checkOutputDir(dir);
    await Deno.writeTextFile(`${dir}/x`, "x");
    for (const [path, re] of [[dir, /exists and is not empty/], [`${dir}/x`, /not a directory/]] as const) {
      try {
        await checkOutputDir(path);
        throw new Error("accepted");
      } catch (e) {
        assert(e instanceof ExportError && re.test(e.message), (e as Error).message);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exportClassNames() knows 21 (VOC) and 2 (person) classes, needs names for others", () => {
  assert.deepEqual(exportClassNames(2, "w.json"), ["background", "person"]);
  assert.deepEqual(exportClassNames(21, "w.json")[15], "person");
  assert.deepEqual(exportClassNames(3, "w.json", ["background", "a", "b"]), ["background", "a", "b"]);
  for (
    const [n, names, re] of [[3, undefined, /unknown class count 3/], [
      3,
      ["bg", "a"],
      /has 3 classes/,
    ]] as const
  ) {
    try {
      exportClassNames(n, "w.json", names);
      throw new Error("accepted");
    } catch (e) {
      assert(e instanceof ExportError && re.test(e.message), (e as Error).message);
    }
  }
});
