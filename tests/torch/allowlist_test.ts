/**
 * The global allowlist of readTorchCheckpoint() on hand-built pickles: payloads that would run code under
 * torch.load (os.system, builtins.eval, subprocess.Popen, …) beside a valid state_dict are refused naming the
 * global and the file, and read with `trustCheckpoint` keeping only the tensors; module objects, optimizer
 * state and plain metadata stay readable.
 */
import assert from "node:assert/strict";
import { InputError } from "../../lib/core/errors.ts";
import { readTorchCheckpoint, TorchFormatError, UntrustedCheckpointError } from "../../lib/torch/mod.ts";
import * as pk from "../helpers.ts";

const weights = (): pk.Part =>
  pk.orderedDict(pk.str("w"), pk.rebuild(pk.storage("FloatStorage", "0", 2), 0, [2], [1]));
const RECORDS = { "0": pk.f32Bytes([1.5, -2]) };
/** `{'state_dict': {'w': [1.5, -2]}, 'epoch': 3, <key>: <payload>}` as a zip checkpoint. */
const beside = (payload: pk.Part, key = "payload") =>
  pk.zipCheckpoint(
    pk.pickle(pk.dict(pk.str("state_dict"), weights(), pk.str("epoch"), pk.int(3), pk.str(key), payload)),
    RECORDS,
  );
const instance = (module: string, name: string, state: pk.Part): pk.Part => [
  pk.glob(module, name),
  pk.EMPTY_TUPLE,
  pk.NEWOBJ,
  state,
  pk.BUILD,
];

/** Payloads a checkpoint must not carry, and how the refusal names them. */
const PAYLOADS: [string, () => Uint8Array, string][] = [
  [
    "os.system as pickled on Linux",
    () => beside(pk.call("posix", "system", pk.str("touch /tmp/pwned"))),
    "calls posix.system",
  ],
  ["os.system", () => beside(pk.call("os", "system", pk.str("id"))), "calls os.system"],
  ["nt.system", () => beside(pk.call("nt", "system", pk.str("calc"))), "calls nt.system"],
  ["builtins.eval", () => beside(pk.call("builtins", "eval", pk.str("1+1"))), "calls builtins.eval"],
  [
    "Python 2's __builtin__.exec",
    () => beside(pk.call("__builtin__", "exec", pk.str("x=1"))),
    "calls builtins.exec",
  ],
  [
    "builtins.getattr(builtins.__import__('os'), 'system')",
    () =>
      beside(
        pk.call("builtins", "getattr", pk.call("builtins", "__import__", pk.str("os")), pk.str("system")),
      ),
    "calls builtins.__import__",
  ],
  [
    "subprocess.Popen",
    () => beside(pk.call("subprocess", "Popen", pk.tuple(pk.str("sh"), pk.str("-c"), pk.str("id")))),
    "calls subprocess.Popen",
  ],
  [
    "a function of any other module",
    () => beside(pk.call("webapp.tasks", "cleanup")),
    "calls webapp.tasks.cleanup",
  ],
  ["torch.load", () => beside(pk.call("torch", "load", pk.str("other.pth"))), "calls torch.load"],
  [
    "calling the model's own class (its __init__ would run)",
    () => beside(pk.call("__main__", "SSD300", pk.int(21))),
    "calls __main__.SSD300",
  ],
  [
    "a call hidden in a tensor subclass rebuild",
    () =>
      beside(pk.call(
        "torch._tensor",
        "_rebuild_from_type_v2",
        pk.glob("posix", "system"),
        pk.glob("torch", "Tensor"),
        pk.tuple(pk.str("id")),
        pk.dict(),
      )),
    "calls posix.system",
  ],
  [
    "a subprocess.Popen object (NEWOBJ + BUILD)",
    () => beside(instance("subprocess", "Popen", pk.dict(pk.str("args"), pk.str("id")))),
    "instantiates subprocess.Popen",
  ],
  [
    "a subprocess.Popen object of protocol 0/1 (copyreg._reconstructor)",
    () =>
      beside(
        pk.call(
          "copyreg",
          "_reconstructor",
          pk.glob("subprocess", "Popen"),
          pk.glob("builtins", "object"),
          pk.NONE,
        ),
      ),
    "instantiates subprocess.Popen",
  ],
  ["a bare reference to os.system", () => beside(pk.glob("os", "system"), "hook"), "refers to os.system"],
  [
    "a payload in a bare state_dict",
    () =>
      pk.zipCheckpoint(
        pk.pickle(pk.orderedDict(
          pk.str("w"),
          pk.rebuild(pk.storage("FloatStorage", "0", 2), 0, [2], [1]),
          pk.str("x"),
          pk.call("posix", "system", pk.str("id")),
        )),
        RECORDS,
      ),
    "calls posix.system",
  ],
];

Deno.test("readTorchCheckpoint() refuses a pickle that calls, instantiates or names a refused global, naming it and the file", () => {
  for (const [what, make, use] of PAYLOADS) {
    assert.throws(() => readTorchCheckpoint(make(), "evil.pth"), (e: unknown) => {
      assert.ok(e instanceof UntrustedCheckpointError, `${what}: ${e}`);
      assert.ok(e instanceof TorchFormatError && e instanceof InputError, what);
      assert.equal(
        e.message,
        `refusing to load evil.pth: its pickle ${use}; a checkpoint needs only tensors — ` +
          `pass --trust-checkpoint to load only its tensors anyway`,
        what,
      );
      return true;
    }, what);
  }
});

Deno.test("readTorchCheckpoint() with trustCheckpoint reads only the tensors and plain metadata of those files", () => {
  for (const [what, make] of PAYLOADS) {
    const ck = readTorchCheckpoint(make(), "evil.pth", { trustCheckpoint: true });
    assert.deepEqual([...ck.tensors], [["w", { shape: [2], data: Float32Array.of(1.5, -2) }]], what);
    assert.ok(!("payload" in ck.meta) && !("x" in ck.meta), `${what}: ${JSON.stringify(ck.meta)}`);
  }
});

Deno.test("readTorchCheckpoint() refuses a payload in a legacy checkpoint's header pickle too", () => {
  // magic number, then a "protocol version" that is a call of os.system
  const magic = [0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, pk.STOP];
  const bytes = Uint8Array.from([...pk.flat(magic), ...pk.pickle(pk.call("posix", "system", pk.str("id")))]);
  assert.throws(
    () => readTorchCheckpoint(bytes, "old.pth.tar"),
    /^UntrustedCheckpointError: refusing to load old\.pth\.tar: its pickle calls posix\.system;/,
  );
});

Deno.test("readTorchCheckpoint() still reads module objects of any module, optimizer state and plain metadata", () => {
  const conv = instance(
    "my_project.models.ssd",
    "SSD300",
    pk.dict(
      pk.str("_parameters"),
      pk.orderedDict(pk.str("w"), pk.rebuild(pk.storage("FloatStorage", "0", 2), 0, [2], [1])),
      pk.str("_buffers"),
      pk.orderedDict(),
      pk.str("_modules"),
      pk.orderedDict(),
      pk.str("_non_persistent_buffers_set"),
      pk.call("builtins", "set", [0x5d]), // set([])
    ),
  );
  const optimizer = instance(
    "torch.optim.sgd",
    "SGD",
    pk.dict(
      pk.str("state"),
      pk.call("collections", "defaultdict", pk.glob("builtins", "dict")),
      pk.str("param_groups"),
      [0x5d, pk.MARK, pk.dict(pk.str("lr"), pk.int(1)), 0x65], // [ {lr: 1} ]
    ),
  );
  const args = instance("argparse", "Namespace", pk.dict(pk.str("batch_size"), pk.int(8)));
  const when = pk.call("datetime", "datetime", pk.str("\x07\xe8\x01\x02\x03\x04\x05\x00\x00\x00"));
  const path = pk.call("pathlib", "PosixPath", pk.str("runs"), pk.str("a"));
  const bytes = pk.zipCheckpoint(
    pk.pickle(pk.dict(
      pk.str("epoch"),
      pk.int(4),
      pk.str("model"),
      conv,
      pk.str("optimizer"),
      optimizer,
      pk.str("args"),
      args,
      pk.str("saved"),
      when,
      pk.str("dir"),
      path,
      pk.str("best"),
      pk.call("numpy.core.multiarray", "scalar", pk.glob("numpy", "dtype"), pk.str("\x00\x00\x00\x00")),
    )),
    RECORDS,
  );
  const ck = readTorchCheckpoint(bytes, "train.pth");
  assert.deepEqual([...ck.tensors.keys()], ["w"]);
  assert.deepEqual(ck.meta, { epoch: 4 });
});
