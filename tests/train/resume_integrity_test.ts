/**
 * Integrity of resume.bin (lib/train/resume.ts): version 2's CRC-32 catches bit flips and truncation; every
 * tensor's name, shape, length and offset, the class count and finite values are checked against the model
 * before use, in version 2 and in version 1 (no checksum, still read). Each problem is a CorruptResumeStateError
 * naming the file and the problem and saying --restart, with no tensor left behind.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { crc32 } from "../../lib/core/mod.ts";
import { initBackend } from "../../lib/engine/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/mod.ts";
import {
  CorruptResumeStateError,
  decodeResumeState,
  encodeResumeState,
  loadResumeState,
  Optimizer,
  RESUME_FILE,
  type ResumeState,
} from "../../lib/train/mod.ts";
import { withTempDir } from "../helpers.ts";

await initBackend("wasm", null);

const SETTINGS = { dataset: "sha256:x", lr: 0.001 };

/** A real resume state (2-class model, SGD with momentum buffers of two parameters), encoded. */
const GOOD: Uint8Array = await (async () => {
  const model = createSsd300(2, 1);
  const opt = new Optimizer({ kind: "sgd", momentum: 0.9 });
  const names = ["rescale_factors", "pred_convs.cl_conv4_3.bias"];
  const grads = new Map(names.map((n) => [n, tf.onesLike(model.params.get(n)!)]));
  opt.step(model.params, grads, 0.1);
  tf.dispose([...grads.values()]);
  const state: ResumeState = {
    epoch: 1,
    step: 1,
    rng: [1, 2, 3, 4],
    log: { steps: [{ epoch: 1, step: 1, loss: 2.5 }], epochs: [] },
    optimizer: await opt.exportState(),
    best: null,
  };
  opt.dispose();
  const bytes = await encodeResumeState(model, state, SETTINGS);
  disposeModel(model);
  return bytes;
})();

interface Parts {
  // deno-lint-ignore no-explicit-any
  header: any;
  data: Float32Array;
}

/** The header and data of an encoded state (the layout of the module doc: magic, length, JSON, padding, data). */
function parts(bytes: Uint8Array): Parts {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
  const start = Math.ceil((12 + length) / 4) * 4;
  const total = header.tensors.reduce((s: number, t: { length: number }) => s + t.length, 0);
  return { header, data: new Float32Array(bytes.slice(start, start + total * 4).buffer) };
}

/** Encodes `p` as version `version` (2: with the CRC-32 trailer; 1: as the code before it wrote). */
function build({ header, data }: Parts, version: 1 | 2 = header.version): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify({ ...header, version }));
  const start = Math.ceil((12 + json.length) / 4) * 4;
  const end = start + data.byteLength;
  const out = new Uint8Array(end + (version === 2 ? 4 : 0));
  out.set(new TextEncoder().encode("SSDRESUM"));
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), start);
  if (version === 2) new DataView(out.buffer).setUint32(end, crc32(out.subarray(0, end)), true);
  return out;
}

/** `parts(GOOD)` with its header changed by `edit` (the data shared: do not modify it). */
function edited(edit: (h: Parts["header"]) => void): Parts {
  const p = parts(GOOD);
  edit(p.header);
  return p;
}

/** decodeResumeState must refuse `bytes` with "corrupt resume state (<pattern>)" and leave no tensor. */
function refused(bytes: Uint8Array, pattern: RegExp): void {
  const before = tf.memory().numTensors;
  assert.throws(() => decodeResumeState(bytes, "run/resume.bin"), (e: unknown) => {
    assert.ok(e instanceof CorruptResumeStateError, String(e));
    assert.match(
      e.message,
      /^run\/resume\.bin: corrupt resume state \(.*\); use --restart to discard the run/,
    );
    assert.match(e.problem, pattern);
    return true;
  });
  assert.equal(tf.memory().numTensors, before);
}

const param = (h: Parts["header"], name: string) =>
  h.tensors.find((t: { group: string; name: string }) => t.group === "param" && t.name === name);

Deno.test("decodeResumeState() reads version 2 and version 1 (no checksum) alike", () => {
  const v1 = build(parts(GOOD), 1);
  assert.equal(v1.length, GOOD.length - 4);
  for (const bytes of [GOOD, v1]) {
    const back = decodeResumeState(bytes, "run/resume.bin");
    assert.deepEqual(back.settings, SETTINGS);
    assert.deepEqual([...back.state.optimizer.buf1.keys()].sort(), [
      "pred_convs.cl_conv4_3.bias",
      "rescale_factors",
    ]);
    disposeModel(back.model);
  }
});

Deno.test("decodeResumeState() finds a flipped bit anywhere and a truncation by the CRC-32 (version 2)", () => {
  for (const at of [20, 200, GOOD.length >> 1, GOOD.length - 5, GOOD.length - 1]) {
    const flipped = GOOD.slice();
    flipped[at] ^= 0x10;
    refused(flipped, /CRC-32 mismatch|not valid JSON/);
  }
  refused(GOOD.slice(0, GOOD.length - 1000), /CRC-32 mismatch: \d+ bytes, truncated or damaged/);
  refused(GOOD.slice(0, 10), /truncated: 10 bytes/);
  refused(new Uint8Array(0), /not a resume state/);
  refused(new TextEncoder().encode("SSDTRAIN and more"), /not a resume state: it starts with "SSDTRAIN"/);
  const huge = GOOD.slice(0, 64);
  new DataView(huge.buffer).setUint32(8, 0xffffffff, true);
  refused(huge, /truncated: 64 bytes, its header alone says/);
});

Deno.test("decodeResumeState() checks every tensor against the model: shape, length, offset, class count, missing, unknown, twice", () => {
  const name = "base.conv1_1.weight";
  for (const version of [1, 2] as const) {
    refused(
      build(edited((h) => (param(h, name).shape = [3, 3, 3, 63])), version),
      /tensor param base\.conv1_1\.weight has shape \[3,3,3,63\], the model's is \[3,3,3,64\]/,
    );
    refused(
      build(edited((h) => (param(h, name).length -= 1)), version),
      /has length 1727, its shape \[3,3,3,64\] holds 1728/,
    );
    refused(
      build(edited((h) => (param(h, "base.conv1_1.bias").offset += 4)), version),
      /tensor param base\.conv1_1\.bias is at offset \d+, expected \d+/,
    );
    refused(build(edited((h) => (h.n_classes = 3)), version), /n_classes 3, but a fine-tuned model has 2/);
    refused(
      build(edited((h) => (param(h, name).name = "base.conv0.weight")), version),
      /tensor param base\.conv0\.weight is not a parameter of the model/,
    );
    refused(build(edited((h) => h.tensors.push({ ...h.tensors.at(-1) })), version), /is listed twice/);
    const missing = edited((h) => {
      h.tensors = h.tensors.filter((t: { name: string }) => t.name !== "rescale_factors");
      let offset = 0;
      for (const t of h.tensors) [t.offset, offset] = [offset, offset + t.length];
    });
    refused(build(missing, version), /missing parameter\(s\) rescale_factors/);
    refused(build(edited((h) => (h.rng = [1, 2, 3, 2 ** 33])), version), /header field rng\.3/);
    refused(
      build(edited((h) => (h.optimizer.kind = "adam")), version),
      /Adam's first and second moments are of different parameters/,
    );
  }
  // the file is longer or shorter than its header says (version 1 has no checksum to say so)
  const v1 = build(parts(GOOD), 1);
  refused(
    v1.slice(0, v1.length - 4),
    new RegExp(`${v1.length - 4} bytes, its header describes ${v1.length}`),
  );
  refused(v1.slice(0, 64), /truncated: 64 bytes, its header alone says \d+/);
});

Deno.test("decodeResumeState() calls NaN or Infinity in the weights or the optimiser's buffers a corrupt resume state", () => {
  const p = parts(GOOD);
  const data = p.data.slice();
  const at = param(p.header, "aux_convs.conv8_1.weight").offset;
  data[at + 3] = NaN;
  for (const version of [1, 2] as const) {
    refused(
      build({ header: p.header, data }, version),
      /tensor param aux_convs\.conv8_1\.weight has 1 non-finite value\(s\), the first NaN at 3/,
    );
  }
  const buffers = p.data.slice();
  const buf = p.header.tensors.find((t: { group: string }) => t.group === "buf1");
  buffers[buf.offset] = -Infinity;
  refused(
    build({ header: p.header, data: buffers }),
    new RegExp(`tensor buf1 ${buf.name} has 1 non-finite value\\(s\\), the first -Infinity at 0`),
  );
});

Deno.test("loadResumeState() refuses a resume.bin that is a FIFO, /dev/zero or a folder at once, as a corrupt resume state", async () => {
  await withTempDir(async (dir) => {
    const say = () => {};
    const file = `${dir}/${RESUME_FILE}`;
    assert.equal(await loadResumeState(dir, SETTINGS, say), undefined, "none: a new run");
    assert.equal((await new Deno.Command("mkfifo", { args: [file] }).output()).code, 0);
    const t0 = performance.now();
    await assert.rejects(
      () => loadResumeState(dir, SETTINGS, say),
      /resume\.bin: corrupt resume state \(is a FIFO \(named pipe\), not a regular file\); use --restart/,
    );
    await Deno.remove(file);
    await Deno.symlink("/dev/zero", file);
    await assert.rejects(
      () => loadResumeState(dir, SETTINGS, say),
      /corrupt resume state \(is a character device/,
    );
    await Deno.remove(file);
    await Deno.mkdir(file);
    await assert.rejects(() => loadResumeState(dir, SETTINGS, say), /corrupt resume state \(is a directory/);
    assert.ok(performance.now() - t0 < 5000);
    await Deno.remove(file);
    await Deno.writeFile(file, GOOD);
    const loaded = await loadResumeState(dir, SETTINGS, say);
    assert.equal(loaded?.state.epoch, 1);
    disposeModel(loaded!.model);
  });
});
