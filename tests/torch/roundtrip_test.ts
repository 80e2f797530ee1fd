/**
 * Round trips through real PyTorch (Debian's /usr/bin/python3 with python3-torch, driven by
 * tests/torch/torch_roundtrip.py). Skipped when torch is missing, except under CI where it must be installed.
 */
import assert from "node:assert/strict";
import { fromBits, havePythonModule, lcg, tensorCases } from "../helpers.ts";
import { sha256Hex } from "../../lib/core/mod.ts";
import {
  type NamedTensor,
  readTorchCheckpoint,
  TorchFormatError,
  UntrustedCheckpointError,
  writeTorchStateDict,
} from "../../lib/torch/mod.ts";

/** Debian's python (the first python3 on PATH may be one without torch). */
const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./torch_roundtrip.py", import.meta.url).pathname;

const HAS_TORCH = havePythonModule("torch");
/** Skip without torch locally; under CI run anyway so that the missing dependency fails loudly. */
const ignore = !HAS_TORCH && !Deno.env.get("CI");

async function runPython(...args: string[]): Promise<string> {
  assert.ok(HAS_TORCH, `${PYTHON} cannot import torch: install python3-torch (required when CI is set)`);
  const out = await new Deno.Command(PYTHON, { args: [SCRIPT, ...args], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  assert.ok(out.success, `python ${args.join(" ")} failed:\n${text.decode(out.stderr)}`);
  return text.decode(out.stdout);
}

/** SHA-256 of a tensor's float32 bytes. */
function tensorSha256(t: NamedTensor): Promise<string> {
  return sha256Hex(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

interface ExpectedTensor {
  name: string;
  shape: number[];
  sha256: string;
}
type ManifestEntry =
  | { format: "zip" | "legacy"; meta: Record<string, unknown>; tensors: ExpectedTensor[] }
  | { error: string };

let saved: Promise<{ dir: string; manifest: Record<string, ManifestEntry> }> | undefined;
/** Runs torch_roundtrip.py save once per test file. */
function pythonSaved() {
  saved ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "torch_roundtrip_" });
    await runPython("save", dir);
    return { dir, manifest: JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)) };
  })();
  return saved;
}

Deno.test({
  name: "readTorchCheckpoint() reads what torch.save writes bit-exact (views, half/bfloat16/double, modules)",
  ignore,
  async fn() {
    const { dir, manifest } = await pythonSaved();
    let checked = 0;
    for (const [file, want] of Object.entries(manifest)) {
      if ("error" in want) continue;
      const got = readTorchCheckpoint(await Deno.readFile(`${dir}/${file}`), file);
      assert.equal(got.format, want.format, file);
      assert.deepEqual(got.meta, want.meta, file);
      assert.deepEqual([...got.tensors.keys()], want.tensors.map((t) => t.name), `${file}: names in order`);
      for (const w of want.tensors) {
        const t = got.tensors.get(w.name)!;
        assert.deepEqual(t.shape, w.shape, `${file} ${w.name}`);
        assert.equal(t.data.length, w.shape.reduce((a, b) => a * b, 1), `${file} ${w.name}`);
        assert.equal(
          await tensorSha256(t),
          w.sha256,
          `${file} ${w.name}: values differ from torch's float32`,
        );
        checked++;
      }
    }
    assert.ok(checked >= 40, `only ${checked} tensors checked`);
  },
});

Deno.test({
  name: "readTorchCheckpoint() rejects torch.save'd int64 and quantized tensors, naming them",
  ignore,
  async fn() {
    const { dir, manifest } = await pythonSaved();
    const cases = Object.entries(manifest).filter(([, w]) => "error" in w);
    assert.equal(cases.length, 2);
    for (const [file, want] of cases) {
      const bytes = await Deno.readFile(`${dir}/${file}`);
      assert.throws(() => readTorchCheckpoint(bytes, file), (e: unknown) => {
        assert.ok(e instanceof TorchFormatError, `${file}: ${e}`);
        assert.match(e.message, new RegExp(`^${file}: .*${(want as { error: string }).error}`));
        return true;
      });
    }
  },
});

Deno.test({
  name:
    "readTorchCheckpoint() refuses torch.save'd os.system / eval / subprocess.Popen payloads; trusted, it reads the tensors",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "torch_hostile_" });
    await runPython("hostile", dir);
    const manifest: Record<string, { global: string; sha256: string }> = JSON.parse(
      await Deno.readTextFile(`${dir}/manifest.json`),
    );
    assert.equal(Object.keys(manifest).length, 3);
    for (const [file, want] of Object.entries(manifest)) {
      const bytes = await Deno.readFile(`${dir}/${file}`);
      assert.throws(() => readTorchCheckpoint(bytes, file), (e: unknown) => {
        assert.ok(e instanceof UntrustedCheckpointError, `${file}: ${e}`);
        assert.equal(e.global, want.global, file);
        assert.match(e.message, new RegExp(`^refusing to load ${file}: its pickle calls ${want.global};`));
        return true;
      });
      const ck = readTorchCheckpoint(bytes, file, { trustCheckpoint: true });
      assert.deepEqual([...ck.tensors.keys()], ["w"], file);
      assert.equal(await tensorSha256(ck.tensors.get("w")!), want.sha256, file);
    }
    await assert.rejects(() => Deno.stat(`${dir}/pwned`), Deno.errors.NotFound, "a payload ran");
    await Deno.remove(dir, { recursive: true });
  },
});

/** {@link tensorCases} and a non-ASCII name. */
function writerCases(): [string, NamedTensor][] {
  return [...tensorCases(), ["ünïcode.名前", fromBits([2], lcg(4))]];
}

Deno.test({
  name: "writeTorchStateDict() output loads in torch.load as an OrderedDict of float32 tensors, bit-exact",
  ignore,
  async fn() {
    const cases = writerCases();
    const dir = await Deno.makeTempDir({ prefix: "torch_write_" });
    const file = `${dir}/ours.pth`;
    await Deno.writeFile(file, writeTorchStateDict(cases));
    const got = JSON.parse(await runPython("load", file));
    assert.equal(got.type, "OrderedDict");
    assert.notEqual(got.weights_only_ok, false);
    assert.deepEqual(got.tensors.map((t: { name: string }) => t.name), cases.map(([n]) => n));
    for (const [i, [name, t]] of cases.entries()) {
      const g = got.tensors[i];
      assert.deepEqual(g.shape, t.shape, name);
      assert.equal(g.dtype, "torch.float32", name);
      assert.equal(g.requires_grad, false, name);
      assert.equal(g.contiguous, true, name);
      assert.equal(g.sha256, await tensorSha256(t), `${name}: torch sees different values`);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
