/**
 * Integrity of our weights format and of .pth checkpoints at load (lib/interop/weights.ts, lib/interop/state_dict.ts):
 * `bin` is a plain file name in the manifest's folder, read as a regular file of exactly `bin_bytes`;
 * `class_names` has one name per class; the tensor table is the model's; NaN/Inf weights are refused naming the
 * tensor — each refusal an ArtifactError / NonFiniteWeightsError that leaves no tensor behind.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ArtifactError, sha256Hex } from "../../lib/core/mod.ts";
import { initBackend } from "../../lib/engine/backend.ts";
import {
  loadCheckpointFile,
  loadWeights,
  NonFiniteWeightsError,
  saveWeights,
  type WeightsManifest,
} from "../../lib/interop/mod.ts";
import { torchParamShapes } from "../../lib/interop/state_dict.ts";
import { createSsd300, disposeModel, paramShapes } from "../../lib/ssd/mod.ts";
import { type NamedTensor, writeTorchStateDict } from "../../lib/torch/mod.ts";

await initBackend("wasm", null);

/** One saved 2-class model shared by the tests: its folder, manifest and data. */
const DIR = await Deno.makeTempDir({ prefix: "weights_integrity_" });
{
  const model = createSsd300(2, 3);
  await saveWeights(`${DIR}/w.json`, model);
  disposeModel(model);
}
const MANIFEST: WeightsManifest = JSON.parse(await Deno.readTextFile(`${DIR}/w.json`));
globalThis.addEventListener("unload", () => Deno.removeSync(DIR, { recursive: true }));

/** Writes `manifest` (default: the saved one, changed by `edit`) as `name` in DIR; returns its path. */
async function manifestWith(name: string, edit: (m: WeightsManifest) => void): Promise<string> {
  const m = structuredClone(MANIFEST);
  edit(m);
  await Deno.writeTextFile(`${DIR}/${name}`, JSON.stringify(m));
  return `${DIR}/${name}`;
}

/** `loadWeights(path)` must fail with a message matching `pattern`, quickly, leaving no tensor behind. */
async function refused(path: string, pattern: RegExp, cls: new (...a: never[]) => Error = ArtifactError) {
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  await assert.rejects(() => loadWeights(path), (e: unknown) => {
    assert.ok(e instanceof cls, String(e));
    assert.match((e as Error).message, pattern);
    assert.ok((e as Error).message.length < 2000, "a short message");
    return true;
  });
  assert.ok(performance.now() - t0 < 10_000);
  assert.equal(tf.memory().numTensors, before);
}

Deno.test("loadWeights() refuses a bin that is not a plain file name in the manifest's folder, reading nothing", async () => {
  for (const bin of ["../../dev/zero", "/dev/zero", "sub/w.bin", "..", ".", "a\\b.bin", "w.bin\0x"]) {
    const path = await manifestWith("bad-bin.json", (m) => (m.bin = bin));
    await refused(path, /bad-bin\.json: field bin: must be a plain file name in the manifest's folder/);
  }
});

Deno.test("loadWeights() reads bin as a regular file of bin_bytes: a symlink to /dev/zero, a FIFO, a longer or shorter file are refused", async () => {
  await Deno.symlink("/dev/zero", `${DIR}/zero.bin`);
  await refused(
    await manifestWith("zero.json", (m) => (m.bin = "zero.bin")),
    /zero\.json: field bin: .*zero\.bin: is a character device, not a regular file/,
  );
  assert.equal((await new Deno.Command("mkfifo", { args: [`${DIR}/pipe.bin`] }).output()).code, 0);
  await refused(
    await manifestWith("pipe.json", (m) => (m.bin = "pipe.bin")),
    /field bin: .*pipe\.bin: is a FIFO \(named pipe\), not a regular file/,
  );
  const bytes = await Deno.readFile(`${DIR}/w.bin`);
  await Deno.writeFile(`${DIR}/long.bin`, Uint8Array.from([...bytes.subarray(0, 16), 0, 0, 0, 0]));
  const long = await Deno.open(`${DIR}/long.bin`, { write: true });
  await long.truncate(bytes.length + 4);
  long.close();
  await refused(
    await manifestWith("long.json", (m) => (m.bin = "long.bin")),
    new RegExp(
      `long\\.bin: is ${bytes.length + 4} bytes .*over the .* limit for the weights data of long\\.json`,
    ),
  );
  await Deno.writeFile(`${DIR}/short.bin`, bytes.subarray(0, bytes.length - 4));
  await refused(
    await manifestWith("short.json", (m) => (m.bin = "short.bin")),
    new RegExp(`field bin_bytes: .*short\\.bin has ${bytes.length - 4} bytes \\(got ${bytes.length}\\)`),
  );
});

Deno.test("loadWeights() refuses class_names of another length than n_classes, in a short message even for 20,000 names", async () => {
  await refused(
    await manifestWith("one-name.json", (m) => (m.class_names = ["background"])),
    /field class_names: 1 names for n_classes 2/,
  );
  const many = Array.from({ length: 20_000 }, (_, i) => `class_${i}`);
  await refused(
    await manifestWith("many-names.json", (m) => (m.class_names = many)),
    /field class_names: 20000 names for n_classes 2 .*\(got \["class_0","class_1",/,
  );
});

Deno.test("loadWeights() checks the tensor table against the model: duplicates, overlaps, bin_bytes, a huge n_classes", async () => {
  await refused(
    await manifestWith("dup.json", (m) => m.tensors.push(m.tensors[3])),
    new RegExp(`field tensors: ${MANIFEST.tensors[3].name} is listed twice`),
  );
  await refused(
    await manifestWith("overlap.json", (m) => (m.tensors[5].offset = m.tensors[4].offset)),
    new RegExp(
      `field tensors\\.${MANIFEST.tensors[5].name.replaceAll(".", "\\.")}\\.offset: not aligned, overlapping`,
    ),
  );
  await refused(
    await manifestWith("bytes.json", (m) => (m.bin_bytes += 4)),
    /field bin_bytes: the 2-class SSD300's tensors take \d+ bytes \(got \d+\)/,
  );
  await refused(
    await manifestWith("classes.json", (m) => {
      m.n_classes = 1_000_000;
      m.class_names = Array.from({ length: 1_000_000 }, () => "x");
      m.tensors = [...paramShapes(1_000_000)].map(([name, shape]) => ({ name, shape, offset: 0 }));
    }),
    /field n_classes: a 1000000-class SSD300 needs .* GiB of weights, over the limit/,
  );
  const shapes = paramShapes(2);
  await refused(
    await manifestWith("shape.json", (m) => (m.tensors[0].shape = [1, 1, 1, 1])),
    new RegExp(
      `shape mismatch for ${MANIFEST.tensors[0].name}: expected \\[${
        shapes.get(MANIFEST.tensors[0].name)
      }\\]`,
    ),
    Error,
  );
});

Deno.test("loadWeights() refuses NaN and infinite weights (with a matching SHA-256), naming each tensor", async () => {
  const bytes = (await Deno.readFile(`${DIR}/w.bin`)).slice();
  const floats = new Float32Array(bytes.buffer);
  const [first, head] = [
    MANIFEST.tensors[0],
    MANIFEST.tensors.find((t) => t.name.startsWith("pred_convs."))!,
  ];
  floats[first.offset / 4 + 5] = NaN;
  floats[first.offset / 4 + 9] = NaN;
  floats[head.offset / 4] = -Infinity;
  await Deno.writeFile(`${DIR}/nan.bin`, bytes);
  const sha = await sha256Hex(bytes);
  await refused(
    await manifestWith("nan.json", (m) => Object.assign(m, { bin: "nan.bin", bin_sha256: sha })),
    new RegExp(
      `nan\\.bin: non-finite weights in 2 tensor\\(s\\): ${first.name} \\(2 non-finite, the first NaN at index 5\\); ` +
        `${head.name} \\(1 non-finite, the first -Infinity at index 0\\)`,
    ),
    NonFiniteWeightsError,
  );
  // the same bytes without fixing the SHA-256: the checksum refuses them first
  await refused(
    await manifestWith("nan-sha.json", (m) => (m.bin = "nan.bin")),
    /field bin_sha256: .* does not match/,
  );
});

Deno.test("loadCheckpointFile() refuses a .pth with NaN or infinite weights, naming the tensor", async () => {
  const tensors = new Map<string, NamedTensor>();
  for (const [name, shape] of torchParamShapes(2)) {
    tensors.set(name, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.01) });
  }
  tensors.get("aux_convs.conv8_1.bias")!.data[7] = Infinity;
  await Deno.writeFile(`${DIR}/inf.pth`, writeTorchStateDict(tensors));
  const before = tf.memory().numTensors;
  await assert.rejects(
    () => loadCheckpointFile(`${DIR}/inf.pth`),
    (e: unknown) =>
      e instanceof NonFiniteWeightsError &&
      /inf\.pth: non-finite weights in 1 tensor\(s\): aux_convs\.conv8_1\.bias \(1 non-finite, the first Infinity at index 7\)/
        .test(e.message),
  );
  assert.equal(tf.memory().numTensors, before);
  tensors.get("aux_convs.conv8_1.bias")!.data[7] = 0;
  await Deno.writeFile(`${DIR}/ok.pth`, writeTorchStateDict(tensors));
  disposeModel(await loadCheckpointFile(`${DIR}/ok.pth`));
});
