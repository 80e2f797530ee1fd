/**
 * Hostile inputs through the tasks, run as `deno run <the task's own flags from deno.json> tasks/<task>.ts` with a
 * time limit (issue 20, mechanisms 5, 6, 7 and 10): FIFOs, /dev/zero and symlink loops never hang a task, links
 * never lead a walk out of its folder, each image is processed once, weights.json's `bin` is a plain name,
 * NaN weights and a corrupt resume.bin are refused by name, and a refusal listing 10,000 categories or 20,000
 * class names stays short. Every refusal: exit 1, no stack trace.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { sha256Hex } from "../../lib/core/mod.ts";
import { initBackend } from "../../lib/engine/mod.ts";
import { saveWeights, type WeightsManifest } from "../../lib/interop/mod.ts";
import { createSsd300, disposeModel } from "../../lib/ssd/mod.ts";
import { encodeResumeState, type ResumeState } from "../../lib/train/mod.ts";
import { PROJECT_ROOT } from "../../tasks/compose/mod.ts";
import {
  FIXTURE_DIR,
  fixtureFolderDataset,
  FIXTURES_ROOT,
  flagArgs,
  type RunOutput,
  runPiped,
} from "../helpers.ts";
import { writeDataset } from "../../lib/data/mod.ts";

await initBackend("wasm", null);

const TASKS: Record<string, string> = JSON.parse(
  await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
).tasks;
const STACK_LINE = /^\s+at /m;

/**
 * `deno run <deno.json's flags for the task> tasks/<task>.ts ARGS…` in the project root, killed after
 * `limitMs` (one process, so that a hang cannot outlive the test).
 */
async function task(name: string, args: string[], limitMs = 120_000): Promise<RunOutput> {
  const [_deno, ...runArgs] = TASKS[name].split(/\s+/); // ["run", …flags, "tasks/<name>.ts"]
  return await runPiped(Deno.execPath(), [...runArgs, ...args], {
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    signal: AbortSignal.timeout(limitMs),
  });
}

/** Exit 1 with `pattern` on stderr, no stack trace, a short message. */
function refused(r: RunOutput, pattern: RegExp, maxChars = 3000): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.ok(!STACK_LINE.test(r.stderr), r.stderr);
  assert.ok(r.stderr.length < maxChars, `stderr is ${r.stderr.length} characters`);
}

const mkfifo = async (path: string) =>
  assert.equal((await new Deno.Command("mkfifo", { args: [path] }).output()).code, 0);

/** Shared temp folder: a random 2-class model's weights (w.json + w.bin) and two fixture images. */
const DIR = await Deno.makeTempDir({ prefix: "inputs_hostile_" });
globalThis.addEventListener("unload", () => Deno.removeSync(DIR, { recursive: true }));
{
  const model = createSsd300(2, 7);
  await saveWeights(`${DIR}/w.json`, model);
  disposeModel(model);
}
const IMAGE = `${FIXTURE_DIR}/PNGImages/FudanPed00001.png`;
const MANIFEST: WeightsManifest = JSON.parse(await Deno.readTextFile(`${DIR}/w.json`));
const ENGINE = ["--backend", "wasm", "--workers", "1"];

/** `deno task detect` of the fixture weights on `--images images` into `out`, on one WASM worker. */
const detectImages = (images: string, out: string) =>
  task("detect", ["--weights", `${DIR}/w.json`, "--images", images, "--out", out, ...ENGINE]);

Deno.test("detect --images on a folder with ln -s ., a link loop, links out of it, a FIFO and a link to /dev/zero: ends, each image once", async () => {
  const photos = `${DIR}/photos`;
  await Deno.mkdir(`${photos}/sub`, { recursive: true });
  await Deno.mkdir(`${DIR}/elsewhere`);
  await Deno.copyFile(IMAGE, `${photos}/a.png`);
  await Deno.copyFile(`${FIXTURE_DIR}/PNGImages/FudanPed00002.png`, `${photos}/sub/b.png`);
  await Deno.copyFile(IMAGE, `${DIR}/elsewhere/c.png`);
  await Deno.symlink(".", `${photos}/loop`); // ln -s .
  await Deno.symlink("..", `${photos}/sub/up`); // back to photos/
  await Deno.symlink("..", `${photos}/parent`); // out of photos/
  await Deno.symlink(`${DIR}/elsewhere`, `${photos}/ext`);
  await Deno.symlink("/dev/zero", `${photos}/zero.png`);
  await mkfifo(`${photos}/pipe.png`);
  const r = await detectImages(photos, `${DIR}/out`);
  assert.equal(r.code, 0, r.stderr);
  const images = JSON.parse(await Deno.readTextFile(`${DIR}/out/images.json`)).images;
  assert.deepEqual(images.map((im: { file_name: string }) => im.file_name), ["a.png", "sub/b.png"]);
  assert.match(r.stderr, /photos: skipped 3 symlink\(s\) leading out of the folder: ext, parent, zero\.png/);
  // the same through a glob
  const g = await detectImages(`${photos}/**/*.png`, `${DIR}/out-glob`);
  assert.equal(g.code, 0, g.stderr);
  assert.equal(JSON.parse(await Deno.readTextFile(`${DIR}/out-glob/images.json`)).images.length, 2);
});

Deno.test("detect --images list.txt naming /dev/zero, a FIFO, a folder and missing files: exit 1 at once, the first 20 listed", async () => {
  await mkfifo(`${DIR}/list-pipe.png`);
  const missing = Array.from({ length: 22 }, (_, i) => `missing-${i}.png`);
  await Deno.writeTextFile(
    `${DIR}/list.txt`,
    ["/dev/zero", "list-pipe.png", FIXTURES_ROOT, IMAGE, ...missing].join("\n") + "\n",
  );
  const r = await detectImages(`${DIR}/list.txt`, `${DIR}/o`);
  refused(r, /25 unreadable image\(s\):/);
  assert.match(r.stderr, /\n {2}- \/dev\/zero: is a character device, not a regular file\n/);
  assert.match(r.stderr, /list-pipe\.png: is a FIFO \(named pipe\), not a regular file\n/);
  assert.match(r.stderr, /fixtures: is a directory, not a regular file\n/);
  assert.match(r.stderr, /missing-0\.png: no such file or directory\n/);
  assert.match(r.stderr, /\n {2}- … and 5 more\n/);
  // the list itself: a FIFO or /dev/zero is refused, not read
  await mkfifo(`${DIR}/list-fifo.txt`);
  for (const list of [`${DIR}/list-fifo.txt`, "/dev/zero"]) {
    const l = await detectImages(list, `${DIR}/o`);
    refused(l, /--images .*: cannot read the list: is a (FIFO|character device)/);
  }
});

Deno.test("detect refuses a weights.json whose bin leaves its folder or is /dev/zero, whose class_names miscount, or whose weights are NaN", async () => {
  const run = async (edit: (m: WeightsManifest) => void) => {
    const m = structuredClone(MANIFEST);
    edit(m);
    await Deno.writeTextFile(`${DIR}/bad.json`, JSON.stringify(m));
    const flags = { weights: `${DIR}/bad.json`, image: IMAGE, out: `${DIR}/x.png`, json: `${DIR}/x.json` };
    return await task("detect", [...flagArgs(flags), ...ENGINE]);
  };
  refused(await run((m) => (m.bin = "../../dev/zero")), /bad\.json: field bin: must be a plain file name/);
  await Deno.symlink("/dev/zero", `${DIR}/zero.bin`);
  refused(await run((m) => (m.bin = "zero.bin")), /field bin: .*zero\.bin: is a character device/);
  const names = Array.from({ length: 20_000 }, (_, i) => `class_${i}`);
  refused(await run((m) => (m.class_names = names)), /field class_names: 20000 names for n_classes 2/);
  const bytes = await Deno.readFile(`${DIR}/w.bin`);
  new Float32Array(bytes.buffer)[MANIFEST.tensors[4].offset / 4 + 1] = NaN;
  await Deno.writeFile(`${DIR}/nan.bin`, bytes);
  const sha = await sha256Hex(bytes);
  refused(
    await run((m) => Object.assign(m, { bin: "nan.bin", bin_sha256: sha })),
    new RegExp(
      `nan\\.bin: non-finite weights in 1 tensor\\(s\\): ${MANIFEST.tensors[4].name} \\(1 non-finite`,
    ),
  );
  // export: 10,000 --class-names (one argument may hold 128 KiB) are listed in one short line
  const many = Array.from({ length: 10_000 }, (_, i) => `c${i}`).join(",");
  const e = await task("export", ["--weights", `${DIR}/w.json`, "--class-names", many, "--out", `${DIR}/m`]);
  refused(
    e,
    /--class-names: .* has 2 classes \(incl\. background\), got 10000 names \(c0,c1,.*,c19,… and 9980 more\)/,
  );
});

Deno.test("prepare on a folder with symlink loops and a link out of it ends with the same dataset; a FIFO or /dev/zero as --data is refused", async () => {
  const data = `${DIR}/data`;
  await Deno.mkdir(data);
  await new Deno.Command("cp", { args: ["-r", FIXTURE_DIR, `${data}/PennFudanPed`] }).output();
  await Deno.symlink(".", `${data}/PennFudanPed/PNGImages/loop`);
  await Deno.symlink("..", `${data}/PennFudanPed/up`);
  await Deno.symlink("/", `${data}/slash`);
  await mkfifo(`${data}/PennFudanPed/readme-pipe.txt`);
  const r = await task("prepare", ["--data", data, "--out", `${DIR}/prep`]);
  assert.equal(r.code, 0, r.stderr);
  const ds = JSON.parse(await Deno.readTextFile(`${DIR}/prep/dataset.json`));
  assert.equal(ds.images.length, 12);
  assert.match(r.stderr, /skipped 1 symlink\(s\) leading out of the folder: slash/);
  await mkfifo(`${DIR}/data.zip`);
  refused(await task("prepare", ["--data", `${DIR}/data.zip`, "--out", `${DIR}/p2`]), /data\.zip: is a FIFO/);
  refused(
    await task("prepare", ["--data", "/dev/zero", "--out", `${DIR}/p2`]),
    /\/dev\/zero: is a character device/,
  );
  await mkfifo(`${DIR}/instances.json`);
  refused(
    await task("prepare", ["--data", `${DIR}/instances.json`, "--images", data, "--out", `${DIR}/p2`]),
    /instances\.json: cannot read --data: is a FIFO/,
  );
});

Deno.test("prepare --data instances.json --images DIR with a loop and a FIFO in DIR ends; 10,000 categories are refused in one short line", async () => {
  const images = `${DIR}/coco-images`;
  await new Deno.Command("cp", { args: ["-r", `${FIXTURE_DIR}/PNGImages`, images] }).output();
  await Deno.symlink(".", `${images}/loop`);
  await mkfifo(`${images}/extra.png`);
  const args = ["--data", `${FIXTURES_ROOT}/coco/instances.json`, "--images", images, "--category", "figure"];
  const r = await task("prepare", [...args, "--out", `${DIR}/coco-run`]);
  assert.equal(r.code, 0, r.stderr);
  const categories = Array.from({ length: 10_000 }, (_, i) => ({ id: i + 1, name: `category_${i + 1}` }));
  await Deno.writeTextFile(`${DIR}/many.json`, JSON.stringify({ images: [], annotations: [], categories }));
  const many = await task("prepare", flagArgs({ data: `${DIR}/many.json`, images, out: `${DIR}/c2` }));
  refused(
    many,
    /10000 categories \(1:category_1, .*, 20:category_20, … and 9980 more\); choose one with --category/,
  );
  // ap on the same 10,000 categories
  const gt = { images: [{ id: 1, file_name: "a.png", width: 10, height: 10 }], annotations: [], categories };
  await Deno.writeTextFile(`${DIR}/gt.json`, JSON.stringify(gt));
  await Deno.writeTextFile(`${DIR}/dets.json`, "[]");
  const ap = await task(
    "ap",
    flagArgs({ annotations: `${DIR}/gt.json`, detections: `${DIR}/dets.json`, out: `${DIR}/ap` }),
  );
  refused(
    ap,
    /gt\.json: cannot choose category one among \[1:category_1, .*, … and 9980 more\]; pass --category/,
  );
});

Deno.test("finetune calls a bit-flipped, NaN or FIFO resume.bin a corrupt resume state (no stack, no 'non-finite loss'); --restart starts over", async () => {
  const dir = `${DIR}/ft`;
  await Deno.mkdir(`${dir}/run`, { recursive: true });
  await writeDataset(`${dir}/dataset.json`, await fixtureFolderDataset(10));
  const common = [
    ...["--dataset", `${dir}/dataset.json`, "--weights", `${DIR}/w.json`, "--out", `${dir}/run`],
    ...["--epochs", "1", "--batch-size", "2", "--freeze", "base+aux", "--val-fraction", "0", ...ENGINE],
  ];
  const model = createSsd300(2, 1);
  const state: ResumeState = {
    epoch: 1,
    step: 1,
    rng: [1, 2, 3, 4],
    log: { steps: [{ epoch: 1, step: 1, loss: 1 }], epochs: [] },
    optimizer: { kind: "sgd", step: 1, buf1: new Map(), buf2: new Map() },
    best: null,
  };
  const flipped = await encodeResumeState(model, state, {});
  flipped[flipped.length >> 1] ^= 4;
  const name = "pred_convs.loc_conv4_3.weight";
  const v = model.params.get(name)!;
  v.assign(tf.fill(v.shape, NaN));
  const nan = await encodeResumeState(model, state, {}); // a valid CRC-32 over a NaN
  disposeModel(model);
  const file = `${dir}/run/resume.bin`;
  await Deno.writeFile(file, flipped);
  refused(
    await task("finetune", common),
    /resume\.bin: corrupt resume state \(CRC-32 mismatch: .*\); use --restart/,
  );
  await Deno.writeFile(file, nan);
  const n = await task("finetune", common);
  refused(n, new RegExp(`corrupt resume state \\(tensor param ${name} has \\d+ non-finite value\\(s\\)`));
  assert.doesNotMatch(n.stderr, /non-finite loss/);
  await Deno.remove(file);
  await mkfifo(file);
  refused(await task("finetune", common), /resume\.bin: corrupt resume state \(is a FIFO/);
  const restarted = await task("finetune", [...common, "--restart"]);
  assert.equal(restarted.code, 0, restarted.stderr);
  assert.match(restarted.stderr, /--restart: removed resume\.bin/);
  assert.ok((await Deno.stat(file)).isFile, "a new resume.bin");
});
