/**
 * Common shapes of real checkpoints, crafted in the test: a DataParallel `module.` prefix, another model's
 * state_dict (ResNet with int64 BatchNorm counters, detection models, VGG), integer tensors in an SSD300
 * state_dict, and a code-running payload beside the weights.
 */
import assert from "node:assert/strict";
import { initBackend } from "../../lib/engine/backend.ts";
import { InputError } from "../../lib/core/errors.ts";
import { disposeModel } from "../../lib/ssd/model.ts";
import { type NamedTensor, UntrustedCheckpointError, writeTorchStateDict } from "../../lib/torch/mod.ts";
import {
  checkModelIdentity,
  dataParallelPrefix,
  NonFloatTensorsError,
  readStateDict,
  WrongModelError,
} from "../../lib/interop/identify.ts";
import { loadCheckpointFile, StateDictError } from "../../lib/interop/mod.ts";
import { torchParamShapes } from "../../lib/interop/state_dict.ts";
import {
  call,
  dict,
  f32Bytes,
  fromBits,
  GOLDEN_DIR,
  haveGolden,
  lcg,
  orderedDict,
  type Part,
  pickle,
  rebuild,
  storage,
  str,
  zipCheckpoint,
} from "../helpers.ts";

await initBackend("wasm", null);

/** A zip checkpoint of a bare state_dict: float32 tensors of shape [2] and int64 scalars (names ending in `#`). */
function stateDictZip(names: string[], wrap: (sd: Part) => Part = (sd) => sd): Uint8Array {
  const records: Record<string, Uint8Array> = {};
  const items = names.flatMap((n, i) => {
    const isInt = n.endsWith("#");
    records[String(i)] = isInt ? new Uint8Array(8) : f32Bytes([i, -i]);
    const st = storage(isInt ? "LongStorage" : "FloatStorage", String(i), isInt ? 1 : 2);
    return [str(isInt ? n.slice(0, -1) : n), isInt ? rebuild(st, 0, [], []) : rebuild(st, 0, [2], [1])];
  });
  return zipCheckpoint(pickle(wrap(orderedDict(...items))), records);
}

/** The first names of torchvision's resnet18 state_dict (its BatchNorms hold an int64 num_batches_tracked). */
const RESNET = [
  "conv1.weight",
  "bn1.weight",
  "bn1.bias",
  "bn1.running_mean",
  "bn1.running_var",
  "bn1.num_batches_tracked#",
  "layer1.0.conv1.weight",
  "layer1.0.bn1.weight",
  "layer1.0.bn1.num_batches_tracked#",
  "fc.weight",
  "fc.bias",
];

async function withFile<T>(name: string, bytes: Uint8Array, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "identify_" });
  try {
    await Deno.writeFile(`${dir}/${name}`, bytes);
    return await fn(`${dir}/${name}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadCheckpointFile() loads a DataParallel state_dict (module. prefix, zip) equal to the plain one, and says so once", async () => {
  // random bit patterns with the exponent's top bit cleared: every value finite (NaN/Inf weights are refused)
  const finiteBits = (k: number) => (i: number) => lcg(k)(i) & ~(1 << 30);
  const sd: [string, NamedTensor][] = [...torchParamShapes(2)].map((
    [n, s],
    k,
  ) => [n, fromBits(s, finiteBits(k))]);
  const notes: string[] = [];
  const [plain, parallel] = await withFile("plain.pth", writeTorchStateDict(sd), async (plainPath) => {
    const plain = await loadCheckpointFile(plainPath, { onNote: (n) => notes.push(n) });
    assert.equal(notes.length, 0);
    const prefixed = sd.map(([n, t]): [string, NamedTensor] => [`module.${n}`, t]);
    const parallel = await withFile(
      "dp.pth",
      writeTorchStateDict(prefixed),
      (path) => loadCheckpointFile(path, { onNote: (n) => notes.push(n.replace(path, "dp.pth")) }),
    );
    return [plain, parallel];
  });
  try {
    assert.deepEqual(notes, [
      "dp.pth: saved from nn.DataParallel/DistributedDataParallel: removed the 'module.' prefix of its 71 names",
    ]);
    assert.equal(parallel.nClasses, 2);
    assert.deepEqual([...parallel.params.keys()], [...plain.params.keys()]);
    for (const [name, v] of plain.params) {
      const a = new Uint32Array((v.dataSync() as Float32Array).buffer);
      const b = new Uint32Array((parallel.params.get(name)!.dataSync() as Float32Array).buffer);
      assert.ok(a.length === b.length && a.every((x, i) => x === b[i]), `${name} differs`);
    }
  } finally {
    disposeModel(plain);
    disposeModel(parallel);
  }
});

Deno.test("dataParallelPrefix() strips only a prefix every name has (twice for DataParallel(DDP(model)))", () => {
  assert.equal(dataParallelPrefix(["module.a", "module.b.c"]), "module.");
  assert.equal(dataParallelPrefix(["module.module.a", "module.module.b"]), "module.module.");
  assert.equal(dataParallelPrefix(["module.a", "b"]), "");
  assert.equal(dataParallelPrefix(["modules.a"]), "");
  assert.equal(dataParallelPrefix([]), "");
});

Deno.test("loadCheckpointFile() names a ResNet as a ResNet (not its int64 num_batches_tracked), DataParallel or not", async () => {
  for (const prefix of ["", "module."]) {
    const bytes = stateDictZip(RESNET.map((n) => prefix + n));
    await withFile("resnet18.pth", bytes, async (path) => {
      await assert.rejects(() => loadCheckpointFile(path), (e: unknown) => {
        assert.ok(e instanceof WrongModelError && e instanceof InputError, String(e));
        assert.equal(
          e.message,
          `${path}: not an SSD300 state_dict: no base.conv1_1.weight; it has layer1.0.conv1.weight, … ` +
            `(11 tensors) — a ResNet?`,
        );
        return true;
      });
    });
  }
  // the ImageNet start (finetune --imagenet) identifies it the same way
  assert.throws(
    () => readStateDict(stateDictZip(RESNET), "resnet18.pth", "vgg16"),
    (e: unknown) =>
      e instanceof WrongModelError && e.message ===
        "resnet18.pth: not a torchvision VGG16 state_dict: no features.0.weight; it has layer1.0.conv1.weight, … " +
          "(11 tensors) — a ResNet?",
  );
});

Deno.test("checkModelIdentity() recognises a few other families, else lists the first names", () => {
  const cases: [string[], string][] = [
    [
      [
        "backbone.features.0.weight",
        "backbone.extra.0.1.weight",
        "head.classification_head.module_list.0.weight",
      ],
      "it has backbone.features.0.weight, head.classification_head.module_list.0.weight, … (3 tensors) — " +
      "torchvision's ssd300_vgg16 (another SSD300 layout, not the reference's)?",
    ],
    [
      ["backbone.body.conv1.weight", "backbone.fpn.inner_blocks.0.0.weight", "rpn.head.conv.0.0.weight"],
      "it has backbone.body.conv1.weight, rpn.head.conv.0.0.weight, … (3 tensors) — a torchvision Faster R-CNN?",
    ],
    [
      ["vgg.0.weight", "L2Norm.weight", "extras.0.weight", "loc.0.weight", "conf.0.weight"],
      "it has vgg.0.weight, extras.0.weight, conf.0.weight, … (5 tensors) — ssd.pytorch's SSD " +
      "(vgg.*, extras.*, loc.*, conf.*: another SSD300 layout)?",
    ],
    [
      ["features.0.weight", "features.0.bias", "classifier.0.weight", "classifier.6.bias"],
      "it has features.0.weight, classifier.0.weight, … (4 tensors) — torchvision's VGG ImageNet classifier " +
      "(the start of `finetune --imagenet`, not a detector)?",
    ],
    [
      ["net.base.conv1_1.weight", "net.rescale_factors"],
      "it has net.base.conv1_1.weight, … (2 tensors) — an SSD300 whose names start with 'net.' " +
      "(a wrapper this reader does not unwrap)?",
    ],
    [
      ["encoder.w", "encoder.b", "decoder.w", "decoder.b"],
      "it has encoder.w, encoder.b, decoder.w, … (4 tensors)",
    ],
    [["w"], "it has w (1 tensor)"],
  ];
  for (const [names, tail] of cases) {
    const tensors = new Map(names.map((n) => [n, null]));
    assert.throws(() => checkModelIdentity("x.pth", "ssd300", tensors), (e: unknown) => {
      assert.ok(e instanceof WrongModelError, String(e));
      assert.equal(e.message, `x.pth: not an SSD300 state_dict: no base.conv1_1.weight; ${tail}`);
      return true;
    });
  }
});

Deno.test("readStateDict() says which tensors of an SSD300 state_dict are integer and why they are unsupported", () => {
  const bytes = stateDictZip(["base.conv1_1.weight", "base.bn1_1.weight", "base.bn1_1.num_batches_tracked#"]);
  assert.throws(() => readStateDict(bytes, "ssd_bn.pth", "ssd300"), (e: unknown) => {
    assert.ok(e instanceof NonFloatTensorsError && e instanceof InputError, String(e));
    assert.equal(
      e.message,
      "ssd_bn.pth: SSD300 state_dict with 1 non-float tensor: base.bn1_1.num_batches_tracked (int64 []); the " +
        "reference's SSD300 has only float weights, so this is another variant of it (BatchNorm layers keep an " +
        "int64 num_batches_tracked), which is not supported",
    );
    return true;
  });
});

Deno.test("loadCheckpointFile() refuses an os.system payload beside an SSD300 state_dict; trustCheckpoint reads past it", async () => {
  const payload = call("posix", "system", str("touch /tmp/pwned"));
  const bytes = stateDictZip(
    ["base.conv1_1.weight"],
    (sd) => dict(str("state_dict"), sd, str("payload"), payload),
  );
  await withFile("evil.pth", bytes, async (path) => {
    await assert.rejects(() => loadCheckpointFile(path), (e: unknown) => {
      assert.ok(e instanceof UntrustedCheckpointError && e instanceof InputError, String(e));
      assert.equal(
        e.message,
        `refusing to load ${path}: its pickle calls posix.system; a checkpoint needs only tensors — ` +
          "pass --trust-checkpoint to load only its tensors anyway",
      );
      return true;
    });
    // trusted, the one tensor is read and the usual fit check follows
    await assert.rejects(
      () => loadCheckpointFile(path, { trustCheckpoint: true }),
      (e: unknown) => e instanceof StateDictError && e.missing.length === 70 && e.unexpected.length === 0,
    );
  });
});

Deno.test("readStateDict() reads the legacy whole-module golden ({'epoch', 'model': <module>}) as before", (t) => {
  if (!haveGolden(t, "person_heads.legacy.pth.tar")) return;
  const file = "person_heads.legacy.pth.tar";
  const tensors = readStateDict(Deno.readFileSync(new URL(file, GOLDEN_DIR)), file, "ssd300");
  assert.equal(tensors.size, 24);
  assert.deepEqual(tensors.get("cl_conv4_3.weight")?.shape, [8, 512, 3, 3]);
});
