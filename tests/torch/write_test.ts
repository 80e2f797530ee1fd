import assert from "node:assert/strict";
import { fromBits, ignoreWithoutShared, lcg, sharedPath, tensorCases } from "../helpers.ts";
import { type NamedTensor, readTorchCheckpoint, writeTorchStateDict } from "../../lib/torch/mod.ts";

const bitsOf = (t: NamedTensor) => new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);

/** {@link tensorCases} and a dimension ≥ 2^16 (it takes the 4-byte int opcode). */
function cases(): [string, NamedTensor][] {
  return [...tensorCases(), ["long.dim", fromBits([70000], lcg(5))]];
}

Deno.test("readTorchCheckpoint() reads writeTorchStateDict() output back bit-exact, in order", () => {
  const input = cases();
  const back = readTorchCheckpoint(writeTorchStateDict(input), "ours.pth");
  assert.equal(back.format, "zip");
  assert.deepEqual(back.meta, {});
  assert.deepEqual([...back.tensors.keys()], input.map(([n]) => n));
  for (const [name, t] of input) {
    const got = back.tensors.get(name)!;
    assert.deepEqual(got.shape, t.shape, name);
    assert.deepEqual(bitsOf(got), bitsOf(t), name);
  }
});

/** Walks the local file headers of a zip: name, compression method, data offset and data. */
function localEntries(zip: Uint8Array) {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const out: { name: string; method: number; start: number; data: Uint8Array }[] = [];
  for (let p = 0; v.getUint32(p, true) === 0x04034b50;) {
    const method = v.getUint16(p + 8, true);
    const size = v.getUint32(p + 18, true);
    const nameLen = v.getUint16(p + 26, true);
    const extraLen = v.getUint16(p + 28, true);
    const name = new TextDecoder().decode(zip.subarray(p + 30, p + 30 + nameLen));
    const start = p + 30 + nameLen + extraLen;
    out.push({ name, method, start, data: zip.subarray(start, start + size) });
    p = start + size;
  }
  return out;
}

Deno.test("writeTorchStateDict() stores PyTorch's records uncompressed, each 64-byte aligned", () => {
  const input = cases();
  const entries = localEntries(writeTorchStateDict(input, "weights"));
  assert.deepEqual(entries.map((e) => e.name), [
    "weights/data.pkl",
    "weights/byteorder",
    ...input.map((_, i) => `weights/data/${i}`),
    "weights/version",
  ]);
  for (const e of entries) {
    assert.equal(e.method, 0, `${e.name} stored`);
    assert.equal(e.start % 64, 0, `${e.name} data at ${e.start}`);
  }
  assert.equal(new TextDecoder().decode(entries[1].data), "little");
  assert.equal(new TextDecoder().decode(entries.at(-1)!.data), "3\n");
  input.forEach(([name, t], i) => {
    const rec = entries[2 + i].data;
    assert.deepEqual(rec, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), name);
  });
});

Deno.test("writeTorchStateDict() is deterministic and does not mutate or alias its input", () => {
  const input = cases();
  const before = input.map(([, t]) => bitsOf(t).slice());
  const a = writeTorchStateDict(input);
  const b = writeTorchStateDict(input);
  assert.deepEqual(a, b);
  input.forEach(([name, t], i) => assert.deepEqual(bitsOf(t), before[i], name));
  input[0][1].data.fill(0); // changing the input afterwards must not change the written file
  const back = readTorchCheckpoint(a);
  assert.deepEqual(bitsOf(back.tensors.get(input[0][0])!), before[0]);
});

Deno.test("writeTorchStateDict() rejects duplicate names, bad shapes and wrong data lengths", () => {
  const t = (shape: number[], n: number): NamedTensor => ({ shape, data: new Float32Array(n) });
  const table: [string, [string, NamedTensor][], RegExp][] = [
    ["duplicate", [["a", t([1], 1)], ["a", t([1], 1)]], /duplicate tensor name a/],
    ["negative dim", [["a", t([-1, 2], 2)]], /bad shape \[-1,2\]/],
    ["fractional dim", [["a", t([1.5], 1)]], /bad shape/],
    ["too short", [["w", t([2, 3], 5)]], /w: shape \[2,3\] needs 6 float32 values, got 5/],
    ["too long", [["w", t([], 2)]], /needs 1 float32 values, got 2/],
    ["not float32", [["w", { shape: [2], data: new Float64Array(2) as unknown as Float32Array }]], /float32/],
  ];
  for (const [what, entries, message] of table) {
    assert.throws(() => writeTorchStateDict(entries), (e: unknown) => {
      assert.ok(e instanceof RangeError, what);
      assert.match(e.message, message, what);
      return true;
    });
  }
});

const VOC = sharedPath("golden/ssd300_voc.pth");

Deno.test({
  name: "writeTorchStateDict() re-exports the 105 MB VOC checkpoint so that it reads back bit-exact",
  ignore: ignoreWithoutShared("golden/ssd300_voc.pth"),
  fn() {
    const ckpt = readTorchCheckpoint(Deno.readFileSync(VOC), "ssd300_voc.pth");
    const t0 = performance.now();
    const bytes = writeTorchStateDict(ckpt.tensors);
    const t1 = performance.now();
    const back = readTorchCheckpoint(bytes);
    const t2 = performance.now();
    console.error(
      `  write ${(bytes.length / 1e6).toFixed(1)} MB: ${(t1 - t0).toFixed(0)} ms; read back: ${
        (t2 - t1).toFixed(0)
      } ms`,
    );
    assert.deepEqual([...back.tensors.keys()], [...ckpt.tensors.keys()]);
    for (const [name, t] of ckpt.tensors) {
      const got = back.tensors.get(name)!;
      assert.deepEqual(got.shape, t.shape, name);
      const [a, b] = [bitsOf(got), bitsOf(t)];
      assert.ok(a.length === b.length && a.every((v, i) => v === b[i]), name);
    }
  },
});
