/**
 * The global allowlist of readTorchCheckpoint() on hand-built pickles: payloads that would run code under
 * torch.load (os.system, builtins.eval, subprocess.Popen, …) beside a valid state_dict are refused naming the
 * global and the file, and read with `trustCheckpoint` keeping only the tensors; module objects, optimizer
 * state and plain metadata stay readable.
 */
import assert from "node:assert/strict";
import { InputError } from "../../lib/core/errors.ts";
import { readTorchCheckpoint, TorchFormatError, UntrustedCheckpointError } from "../../lib/torch/mod.ts";
import {
  BUILD,
  call,
  dict,
  EMPTY_TUPLE,
  f32Bytes,
  flat,
  glob,
  int,
  MARK,
  NEWOBJ,
  NONE,
  orderedDict,
  type Part,
  pickle,
  rebuild,
  STOP,
  storage,
  str,
  tuple,
  zipCheckpoint,
} from "../helpers.ts";

const weights = (): Part => orderedDict(str("w"), rebuild(storage("FloatStorage", "0", 2), 0, [2], [1]));
const RECORDS = { "0": f32Bytes([1.5, -2]) };
/** `{'state_dict': {'w': [1.5, -2]}, 'epoch': 3, <key>: <payload>}` as a zip checkpoint. */
const beside = (payload: Part, key = "payload") =>
  zipCheckpoint(pickle(dict(str("state_dict"), weights(), str("epoch"), int(3), str(key), payload)), RECORDS);
const instance = (module: string, name: string, state: Part): Part => [
  glob(module, name),
  EMPTY_TUPLE,
  NEWOBJ,
  state,
  BUILD,
];

/** Payloads a checkpoint must not carry, and how the refusal names them. */
const PAYLOADS: [string, () => Uint8Array, string][] = [
  [
    "os.system as pickled on Linux",
    () => beside(call("posix", "system", str("touch /tmp/pwned"))),
    "calls posix.system",
  ],
  ["os.system", () => beside(call("os", "system", str("id"))), "calls os.system"],
  ["nt.system", () => beside(call("nt", "system", str("calc"))), "calls nt.system"],
  ["builtins.eval", () => beside(call("builtins", "eval", str("1+1"))), "calls builtins.eval"],
  [
    "Python 2's __builtin__.exec",
    () => beside(call("__builtin__", "exec", str("x=1"))),
    "calls builtins.exec",
  ],
  [
    "builtins.getattr(builtins.__import__('os'), 'system')",
    () => beside(call("builtins", "getattr", call("builtins", "__import__", str("os")), str("system"))),
    "calls builtins.__import__",
  ],
  [
    "subprocess.Popen",
    () => beside(call("subprocess", "Popen", tuple(str("sh"), str("-c"), str("id")))),
    "calls subprocess.Popen",
  ],
  [
    "a function of any other module",
    () => beside(call("webapp.tasks", "cleanup")),
    "calls webapp.tasks.cleanup",
  ],
  ["torch.load", () => beside(call("torch", "load", str("other.pth"))), "calls torch.load"],
  [
    "calling the model's own class (its __init__ would run)",
    () => beside(call("__main__", "SSD300", int(21))),
    "calls __main__.SSD300",
  ],
  [
    "a call hidden in a tensor subclass rebuild",
    () =>
      beside(call(
        "torch._tensor",
        "_rebuild_from_type_v2",
        glob("posix", "system"),
        glob("torch", "Tensor"),
        tuple(str("id")),
        dict(),
      )),
    "calls posix.system",
  ],
  [
    "a subprocess.Popen object (NEWOBJ + BUILD)",
    () => beside(instance("subprocess", "Popen", dict(str("args"), str("id")))),
    "instantiates subprocess.Popen",
  ],
  [
    "a subprocess.Popen object of protocol 0/1 (copyreg._reconstructor)",
    () =>
      beside(
        call("copyreg", "_reconstructor", glob("subprocess", "Popen"), glob("builtins", "object"), NONE),
      ),
    "instantiates subprocess.Popen",
  ],
  ["a bare reference to os.system", () => beside(glob("os", "system"), "hook"), "refers to os.system"],
  [
    "a payload in a bare state_dict",
    () =>
      zipCheckpoint(
        pickle(orderedDict(
          str("w"),
          rebuild(storage("FloatStorage", "0", 2), 0, [2], [1]),
          str("x"),
          call("posix", "system", str("id")),
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
  const magic = [0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, STOP];
  const bytes = Uint8Array.from([...flat(magic), ...pickle(call("posix", "system", str("id")))]);
  assert.throws(
    () => readTorchCheckpoint(bytes, "old.pth.tar"),
    /^UntrustedCheckpointError: refusing to load old\.pth\.tar: its pickle calls posix\.system;/,
  );
});

Deno.test("readTorchCheckpoint() still reads module objects of any module, optimizer state and plain metadata", () => {
  const conv = instance(
    "my_project.models.ssd",
    "SSD300",
    dict(
      str("_parameters"),
      orderedDict(str("w"), rebuild(storage("FloatStorage", "0", 2), 0, [2], [1])),
      str("_buffers"),
      orderedDict(),
      str("_modules"),
      orderedDict(),
      str("_non_persistent_buffers_set"),
      call("builtins", "set", [0x5d]), // set([])
    ),
  );
  const optimizer = instance(
    "torch.optim.sgd",
    "SGD",
    dict(
      str("state"),
      call("collections", "defaultdict", glob("builtins", "dict")),
      str("param_groups"),
      [0x5d, MARK, dict(str("lr"), int(1)), 0x65], // [ {lr: 1} ]
    ),
  );
  const args = instance("argparse", "Namespace", dict(str("batch_size"), int(8)));
  const when = call("datetime", "datetime", str("\x07\xe8\x01\x02\x03\x04\x05\x00\x00\x00"));
  const path = call("pathlib", "PosixPath", str("runs"), str("a"));
  const bytes = zipCheckpoint(
    pickle(dict(
      str("epoch"),
      int(4),
      str("model"),
      conv,
      str("optimizer"),
      optimizer,
      str("args"),
      args,
      str("saved"),
      when,
      str("dir"),
      path,
      str("best"),
      call("numpy.core.multiarray", "scalar", glob("numpy", "dtype"), str("\x00\x00\x00\x00")),
    )),
    RECORDS,
  );
  const ck = readTorchCheckpoint(bytes, "train.pth");
  assert.deepEqual([...ck.tensors.keys()], ["w"]);
  assert.deepEqual(ck.meta, { epoch: 4 });
});
