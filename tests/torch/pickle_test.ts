/**
 * readTorchCheckpoint() on hand-built checkpoints: pickles assembled opcode by opcode, zipped with fflate. Covers
 * strides/offsets and dtype conversions independently of PyTorch, and every error path.
 */
import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { readTorchCheckpoint, TorchFormatError, writeTorchStateDict } from "../../lib/torch/mod.ts";
import {
  BINPERSID,
  BUILD,
  dict,
  EMPTY_TUPLE,
  f32Bytes,
  flat,
  glob,
  ignoreWithoutShared,
  int,
  MARK,
  NEWOBJ,
  NONE,
  orderedDict,
  type Part,
  pickle,
  rebuild,
  REDUCE,
  sharedPath,
  STOP,
  storage,
  str,
  TUPLE,
  tuple,
  zipCheckpoint,
} from "../helpers.ts";

const enc = new TextEncoder();

const u16Bytes = (values: number[]) => new Uint8Array(Uint16Array.from(values).buffer);
const iota = (n: number) => Array.from({ length: n }, (_, i) => i);

// ---- reading -------------------------------------------------------------------------------------------------

Deno.test("readTorchCheckpoint() honours storage offsets and strides, without aliasing between views", () => {
  const st = storage("FloatStorage", "0", 12);
  const pkl = pickle(orderedDict(
    str("t"),
    rebuild(st, 1, [2, 3], [1, 2]), // element (i, j) = storage[1 + i + 2j]: a transposed view with an offset
    str("rows"),
    rebuild(st, 6, [2, 2], [3, 1]), // storage[6 + 3i + j]
    str("s"),
    rebuild(st, 11, [], []), // 0-d
    str("bcast"),
    rebuild(st, 4, [2, 1, 2], [0, 7, 1]), // stride 0 (expanded) and a size-1 dim with an arbitrary stride
  ));
  const record = f32Bytes(iota(12));
  const ck = readTorchCheckpoint(zipCheckpoint(pkl, { "0": record }));
  const get = (n: string) => ck.tensors.get(n)!;
  assert.deepEqual(get("t"), { shape: [2, 3], data: Float32Array.of(1, 3, 5, 2, 4, 6) });
  assert.deepEqual(get("rows"), { shape: [2, 2], data: Float32Array.of(6, 7, 9, 10) });
  assert.deepEqual(get("s"), { shape: [], data: Float32Array.of(11) });
  assert.deepEqual(get("bcast"), { shape: [2, 1, 2], data: Float32Array.of(4, 5, 4, 5) });
  get("t").data.fill(-1);
  assert.deepEqual(get("rows").data, Float32Array.of(6, 7, 9, 10));
  assert.deepEqual(record, f32Bytes(iota(12)), "does not mutate its input");
});

Deno.test("readTorchCheckpoint() converts float16, bfloat16 and float64 storages to float32 exactly", () => {
  // float16: 1, -2, 2^-24 (smallest subnormal), +inf, 65504 (max), -0, 2^-14 (smallest normal)
  const half = [0x3c00, 0xc000, 0x0001, 0x7c00, 0x7bff, 0x8000, 0x0400];
  const halfValues = [1, -2, 2 ** -24, Infinity, 65504, -0, 2 ** -14];
  const bf16 = [0x3f80, 0xc040, 0x0001, 0xff80];
  const bf16Values = [1, -3, 2 ** -133, -Infinity];
  const doubles = [0.1, 1e39, -1e-50, 1 + 2 ** -24];
  const pkl = pickle(dict(
    str("h"),
    rebuild(storage("HalfStorage", "0", half.length), 0, [half.length], [1]),
    str("b"),
    rebuild(storage("BFloat16Storage", "1", bf16.length), 0, [bf16.length], [1]),
    str("d"),
    rebuild(storage("DoubleStorage", "2", 4), 0, [2, 2], [1, 2]),
  ));
  const ck = readTorchCheckpoint(zipCheckpoint(pkl, {
    "0": u16Bytes(half),
    "1": u16Bytes(bf16),
    "2": new Uint8Array(Float64Array.from(doubles).buffer),
  }));
  const same = (a: Float32Array, b: number[]) =>
    a.length === b.length && [...a].every((v, i) => Object.is(v, b[i]));
  assert.ok(same(ck.tensors.get("h")!.data, halfValues), `${ck.tensors.get("h")!.data}`);
  assert.ok(same(ck.tensors.get("b")!.data, bf16Values), `${ck.tensors.get("b")!.data}`);
  // transposed [2,2] view of [0.1, 1e39, -1e-50, 1+2^-24]; float32 rounding: ties to even, overflow → inf
  assert.ok(same(ck.tensors.get("d")!.data, [0.1, -1e-50, 1e39, 1 + 2 ** -24].map(Math.fround)));
});

Deno.test("readTorchCheckpoint() flattens nested dicts and wrapper keys, keeping plain entries as meta", () => {
  const st = storage("FloatStorage", "0", 2);
  const w = rebuild(st, 0, [2], [1]);
  const table: [string, Part, string[], Record<string, unknown>][] = [
    ["bare with _metadata", [orderedDict(str("a.w"), w), dict(str("_metadata"), dict()), BUILD], ["a.w"], {}],
    ["state_dict", dict(str("epoch"), int(5), str("state_dict"), orderedDict(str("w"), w)), ["w"], {
      epoch: 5,
    }],
    ["model_state_dict", dict(str("model_state_dict"), dict(str("w"), w), str("lr"), str("x")), ["w"], {
      lr: "x",
    }],
    ["model as a dict", dict(str("model"), dict(str("w"), w), str("tag"), tuple(int(1), int(300))), ["w"], {
      tag: [1, 300],
    }],
    ["nested dicts", dict(str("enc"), dict(str("conv"), dict(str("w"), w)), str("step"), int(2)), [
      "enc.conv.w",
    ], {
      step: 2,
    }],
  ];
  for (const [what, value, names, meta] of table) {
    const ck = readTorchCheckpoint(zipCheckpoint(pickle(value), { "0": f32Bytes([1, 2]) }), what);
    assert.deepEqual([...ck.tensors.keys()], names, what);
    assert.deepEqual(ck.meta, meta, what);
    assert.deepEqual(ck.tensors.get(names[0])!.data, Float32Array.of(1, 2), what);
  }
});

Deno.test("readTorchCheckpoint() reads a PyTorch 0.4-style GPU whole-model checkpoint with an optimizer object", () => {
  const NEWTRUE = 0x88;
  const module = (
    mod: string,
    name: string,
    state: Part,
  ): Part => [glob(mod, name), EMPTY_TUPLE, NEWOBJ, state, BUILD];
  // PyTorch 0.4 pickled Parameter(tensor, requires_grad) and kept a `_backend` function object on every module
  const param = (st: Part, shape: number[], stride: number[]): Part => [
    glob("torch.nn.parameter", "Parameter"),
    tuple(rebuild(st, 0, shape, stride, "_rebuild_tensor_v2"), NEWTRUE),
    REDUCE,
  ];
  const backend: Part = [glob("torch.nn.backends.thnn", "_get_thnn_function_backend"), EMPTY_TUPLE, REDUCE];
  const conv = module(
    "torch.nn.modules.conv",
    "Conv2d",
    dict(
      str("_backend"),
      backend,
      str("_parameters"),
      orderedDict(
        str("weight"),
        param(storage("FloatStorage", "1", 6, "torch.cuda", "cuda:0"), [2, 3], [3, 1]),
        str("bias"),
        NONE,
      ),
      str("_buffers"),
      orderedDict(),
      str("_modules"),
      orderedDict(),
      str("training"),
      NEWTRUE,
    ),
  );
  const ssd = module(
    "__main__",
    "SSD300",
    dict(
      str("_backend"),
      backend,
      str("_parameters"),
      orderedDict(str("rescale_factors"), param(storage("FloatStorage", "0", 2), [1, 2], [2, 1])),
      str("_buffers"),
      orderedDict(),
      str("_modules"),
      orderedDict(
        str("base"),
        conv,
        str("pool"),
        module(
          "torch.nn.modules.pooling",
          "MaxPool2d",
          dict(
            str("_parameters"),
            orderedDict(),
            str("_buffers"),
            orderedDict(),
            str("_modules"),
            orderedDict(),
          ),
        ),
      ),
    ),
  );
  const optimizer = module(
    "torch.optim.sgd",
    "SGD",
    dict(
      str("state"),
      [glob("collections", "defaultdict"), tuple(glob("builtins", "dict")), REDUCE],
      str("lr"),
      int(1),
    ),
  );
  const pkl = pickle(dict(str("epoch"), int(9), str("model"), ssd, str("optimizer"), optimizer));
  const ck = readTorchCheckpoint(zipCheckpoint(pkl, { "0": f32Bytes([20, 21]), "1": f32Bytes(iota(6)) }));
  assert.deepEqual([...ck.tensors.keys()], ["rescale_factors", "base.weight"]);
  assert.deepEqual(ck.tensors.get("rescale_factors"), { shape: [1, 2], data: Float32Array.of(20, 21) });
  assert.deepEqual(ck.tensors.get("base.weight"), { shape: [2, 3], data: Float32Array.from(iota(6)) });
  assert.deepEqual(ck.meta, { epoch: 9 });
});

/** Legacy magic number 0x1950a86a20f9469cfc6c as LONG1 (10 little-endian bytes). */
const LEGACY_MAGIC_LE = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** A legacy-format file: magic, protocol version, sys_info, the main pickle, the key list, then the storages. */
function legacyCheckpoint(main: Uint8Array, storages: [string, number[]][]): Uint8Array {
  const parts: number[] = [
    ...flat([0x80, 2, 0x8a, 10, LEGACY_MAGIC_LE, STOP]),
    ...pickle(int(1001)),
    ...pickle(
      dict(str("protocol_version"), int(1001), str("little_endian"), 0x88, str("type_sizes"), dict()),
    ),
    ...main,
    ...pickle([0x5d, MARK, storages.map(([k]) => str(k)), 0x65]), // EMPTY_LIST MARK … APPENDS
  ];
  for (const [, values] of storages) {
    parts.push(...new Uint8Array(BigInt64Array.of(BigInt(values.length)).buffer), ...f32Bytes(values));
  }
  return Uint8Array.from(parts);
}
const legacyStorage = (key: string, numel: number, view?: [string, number, number]): Part => [
  MARK,
  str("storage"),
  glob("torch", "FloatStorage"),
  str(key),
  str("cpu"),
  int(numel),
  view ? tuple(str(view[0]), int(view[1]), int(view[2])) : NONE,
  TUPLE,
  BINPERSID,
];
const legacyMain = () =>
  pickle(orderedDict(
    str("w"),
    rebuild(legacyStorage("k1", 6), 0, [2, 3], [3, 1]),
    str("v"),
    rebuild(legacyStorage("k1", 6, ["k1v", 2, 3]), 1, [2], [1]), // a view of elements 2…4 of k1, offset 1 in it
    str("b"),
    rebuild(legacyStorage("k2", 1), 0, [], []),
  ));

Deno.test("readTorchCheckpoint() reads the legacy format with storage views (view_metadata)", () => {
  const ck = readTorchCheckpoint(legacyCheckpoint(legacyMain(), [["k1", iota(6)], ["k2", [0.5]]]));
  assert.equal(ck.format, "legacy");
  assert.deepEqual(ck.tensors.get("w"), { shape: [2, 3], data: Float32Array.from(iota(6)) });
  assert.deepEqual(ck.tensors.get("v"), { shape: [2], data: Float32Array.of(3, 4) });
  assert.deepEqual(ck.tensors.get("b"), { shape: [], data: Float32Array.of(0.5) });
});

/** Seeded xorshift32 in [0, 1). */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

Deno.test("readTorchCheckpoint() on truncated or corrupted bytes throws only TorchFormatError", () => {
  const bases: [string, Uint8Array][] = [
    ["zip (ours)", writeTorchStateDict([["a", { shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }]])],
    ["zip (strided)", zipCheckpoint(w4("FloatStorage", 6, 1, [2, 2], [1, 2]), { "0": f32Bytes(iota(6)) })],
    ["legacy", legacyCheckpoint(legacyMain(), [["k1", iota(6)], ["k2", [0.5]]])],
  ];
  const random = rng(42);
  let failures = 0;
  const attempt = (what: string, bytes: Uint8Array) => {
    try {
      const ck = readTorchCheckpoint(bytes, "fuzz.pth");
      for (const [n, t] of ck.tensors) {
        assert.equal(
          t.data.length,
          t.shape.reduce((a, b) => a * b, 1),
          `${what} ${n}`,
        );
      }
    } catch (e) {
      assert.ok(e instanceof TorchFormatError, `${what}: ${(e as Error)?.stack ?? e}`);
      failures++;
    }
  };
  for (const [name, base] of bases) {
    for (let cut = 0; cut < base.length; cut++) attempt(`${name} cut at ${cut}`, base.subarray(0, cut));
    for (let trial = 0; trial < 400; trial++) {
      const bytes = base.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      attempt(`${name} trial ${trial}`, bytes);
    }
  }
  assert.ok(failures > 500, `only ${failures} corruptions detected`);
});

// ---- errors --------------------------------------------------------------------------------------------------

/** Offset of the first occurrence of `needle` in `hay`. */
function findBytes(hay: Uint8Array, needle: Uint8Array): number {
  for (let i = 0; i + needle.length <= hay.length; i++) {
    if (needle.every((b, j) => hay[i + j] === b)) return i;
  }
  throw new Error("not found");
}
const validZip = () => writeTorchStateDict([["w", { shape: [4], data: Float32Array.of(1, 2, 3, 4) }]]);
const w4 = (cls = "FloatStorage", numel = 4, offset = 0, shape = [4], stride = [1]) =>
  pickle(dict(str("w"), rebuild(storage(cls, "0", numel), offset, shape, stride)));

const ERROR_CASES: [string, () => Uint8Array, RegExp][] = [
  ["an empty file", () => new Uint8Array(0), /empty file/],
  [
    "a PNG",
    () => Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0),
    /not a PyTorch checkpoint: starts with bytes \[89 50 4e 47 0d 0a 1a 0a\]/,
  ],
  ["a text file", () => enc.encode("hello world\n"), /not a PyTorch checkpoint/],
  ["a plain pickle", () => pickle(int(5)), /without the torch\.save magic number/],
  [
    "a zip without data.pkl",
    () => zipSync({ "a/readme.txt": enc.encode("x") }),
    /no data\.pkl.*a\/readme\.txt/,
  ],
  [
    "a TorchScript archive",
    () => zipCheckpoint(w4(), {}, { "archive/constants.pkl": pickle(EMPTY_TUPLE) }),
    /TorchScript archive \(torch\.jit\.save\)/,
  ],
  [
    "a zip cut in half",
    () => validZip().subarray(0, validZip().length >> 1),
    /truncated or corrupt zip archive/,
  ],
  [
    "a zip missing its last bytes",
    () => validZip().subarray(0, validZip().length - 3),
    /truncated or corrupt zip/,
  ],
  [
    "a flipped bit in a storage record",
    () => {
      const zip = validZip();
      const at = findBytes(zip, f32Bytes([1, 2, 3, 4]));
      zip[at + 5] ^= 0x10;
      return zip;
    },
    /zip entry archive\/data\/0 is corrupt: CRC-32 mismatch/,
  ],
  ["a pickle without STOP", () => zipCheckpoint(w4().subarray(0, 30)), /truncated pickle/],
  [
    "a pickle cut inside a string",
    () => zipCheckpoint(Uint8Array.of(0x80, 2, 0x58, 10, 0, 0, 0, 0x61)),
    /truncated pickle: opcode 0x58 \(BINUNICODE\) at byte 2 needs 10 more bytes but only 1 remain/,
  ],
  [
    "the INST opcode",
    () => zipCheckpoint(Uint8Array.of(0x80, 2, 0x69, 0x61, 0x0a, 0x62, 0x0a, STOP)),
    /unsupported pickle opcode 0x69 \(INST\) at byte 2/,
  ],
  [
    "the EXT1 opcode",
    () => zipCheckpoint(Uint8Array.of(0x80, 2, 0x82, 1, STOP)),
    /opcode 0x82 \(EXT1\) at byte 2/,
  ],
  [
    "a non-opcode byte",
    () => zipCheckpoint(Uint8Array.of(0x80, 2, 0xff, STOP)),
    /0xff \(not a pickle opcode\)/,
  ],
  [
    "protocol 6",
    () => zipCheckpoint(Uint8Array.of(0x80, 6, 0x4e, STOP)),
    /pickle protocol 6 is newer than 5/,
  ],
  [
    "an unknown rebuild function",
    () =>
      zipCheckpoint(
        pickle(dict(str("w"), rebuild(storage("FloatStorage", "0", 4), 0, [4], [1], "_rebuild_xla"))),
      ),
    /unsupported torch function torch\._utils\._rebuild_xla/,
  ],
  [
    "an unknown storage class",
    () => zipCheckpoint(w4("FooStorage")),
    /unsupported storage class torch\.FooStorage/,
  ],
  [
    "an unknown CUDA storage class",
    () =>
      zipCheckpoint(
        pickle(dict(str("w"), rebuild(storage("FooStorage", "0", 4, "torch.cuda"), 0, [4], [1]))),
      ),
    /unsupported storage class torch\.cuda\.FooStorage/,
  ],
  [
    "an int64 tensor",
    () => zipCheckpoint(w4("LongStorage", 4, 0, [4], [1]), { "0": new Uint8Array(32) }),
    /tensor w is stored as torch\.LongStorage \(int64\)/,
  ],
  [
    "a tensor subclass",
    () =>
      zipCheckpoint(pickle(dict(
        str("w"),
        [
          glob("torch._tensor", "_rebuild_from_type_v2"),
          tuple(glob("torch._utils", "_rebuild_tensor_v2"), glob("my.lib", "Fancy"), EMPTY_TUPLE, dict()),
          REDUCE,
        ],
      ))),
    /tensor subclass my\.lib\.Fancy is not supported/,
  ],
  ["a missing storage record", () => zipCheckpoint(w4()), /storage record archive\/data\/0 is missing/],
  [
    "a short storage record",
    () => zipCheckpoint(w4(), { "0": new Uint8Array(8) }),
    /storage 0 of tensor w has 8 bytes, expected 16/,
  ],
  [
    "a view past its storage",
    () => zipCheckpoint(w4("FloatStorage", 4, 2, [2, 2], [2, 1]), { "0": new Uint8Array(16) }),
    /tensor w \[2,2\] \(offset 2, stride \[2,1\]\) reaches element 5 of a storage with 4 elements/,
  ],
  [
    "a non-tensor value in a state dict",
    () =>
      zipCheckpoint(
        pickle(dict(str("w"), [glob("numpy.core.multiarray", "_reconstruct"), tuple(int(0)), REDUCE])),
      ),
    /state dict entry 'w' is a numpy\.core\.multiarray\._reconstruct object, not a tensor/,
  ],
  [
    "no tensors",
    () => zipCheckpoint(pickle(dict(str("epoch"), int(3)))),
    /no tensors found \(top-level keys: epoch\)/,
  ],
  ["a top-level list", () => zipCheckpoint(pickle(tuple(int(3)))), /top-level object is a list\/tuple/],
  [
    "big-endian storages",
    () => zipCheckpoint(w4(), { "0": new Uint8Array(16) }, { "archive/byteorder": enc.encode("big") }),
    /storages are big-endian; only little-endian is supported/,
  ],
];

Deno.test("readTorchCheckpoint() throws TorchFormatError naming the file and the problem", () => {
  for (const [what, make, message] of ERROR_CASES) {
    const bytes = make();
    assert.throws(() => readTorchCheckpoint(bytes, "bad.pth"), (e: unknown) => {
      assert.ok(e instanceof TorchFormatError, `${what}: threw ${e}`);
      assert.match(e.message, /^bad\.pth: /, what);
      assert.match(e.message, message, `${what}: ${e.message}`);
      return true;
    }, what);
  }
});

Deno.test("readTorchCheckpoint() with nonFloat: 'list' describes int64 and bool tensors instead of failing", () => {
  const pkl = pickle(orderedDict(
    str("bn.weight"),
    rebuild(storage("FloatStorage", "0", 2), 0, [2], [1]),
    str("bn.num_batches_tracked"),
    rebuild(storage("LongStorage", "1", 1), 0, [], []),
    str("mask"),
    rebuild(storage("BoolStorage", "2", 6), 0, [2, 3], [3, 1]),
  ));
  const bytes = zipCheckpoint(pkl, { "0": f32Bytes([1, 2]), "1": new Uint8Array(8), "2": new Uint8Array(6) });
  assert.throws(
    () => readTorchCheckpoint(bytes, "bn.pth"),
    /bn\.num_batches_tracked is stored as torch\.LongStorage/,
  );
  const ck = readTorchCheckpoint(bytes, "bn.pth", { nonFloat: "list" });
  assert.deepEqual([...ck.tensors.keys()], ["bn.weight"]);
  assert.deepEqual([...ck.nonFloat], [
    ["bn.num_batches_tracked", { shape: [], dtype: "int64", storageType: "torch.LongStorage" }],
    ["mask", { shape: [2, 3], dtype: "bool", storageType: "torch.BoolStorage" }],
  ]);
});

const LEGACY = sharedPath("golden/person_heads.legacy.pth.tar");

Deno.test({
  name: "readTorchCheckpoint() reports a truncated legacy checkpoint at every cut point it is tried at",
  ignore: ignoreWithoutShared("golden/person_heads.legacy.pth.tar"),
  fn() {
    const bytes = Deno.readFileSync(LEGACY);
    // the main pickle ends before the storage data; cuts inside the headers, the pickle and the storages
    const cuts: [number, RegExp][] = [
      [10, /truncated pickle/],
      [200, /truncated pickle/],
      [bytes.length - 1, /truncated file: storage \S+ needs \d+ bytes at byte \d+, only \d+ remain/],
      [bytes.length - 40000, /truncated file: storage/],
    ];
    for (const [cut, message] of cuts) {
      assert.throws(() => readTorchCheckpoint(bytes.subarray(0, cut), "heads.tar"), (e: unknown) => {
        assert.ok(e instanceof TorchFormatError, `cut ${cut}: ${e}`);
        assert.match(e.message, /^heads\.tar: /);
        assert.match(e.message, message, `cut ${cut}: ${e.message}`);
        return true;
      });
    }
  },
});
