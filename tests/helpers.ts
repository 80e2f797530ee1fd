/**
 * The one test-helper module: the committed fixture dataset (fixtures/PennFudanPed) as files, zips and
 * directories; the read-only shared material (../shared: the golden tensors, the Penn-Fudan zip) — tests that need
 * it FAIL under CI (`CI` set) and are skipped otherwise; array comparisons; torch bit-pattern tensors.
 * Assertions: `import assert from "node:assert/strict"` in every test file (strict `assert.deepEqual`).
 */
import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { crc32, mulberry32, sha256Hex } from "../lib/core/mod.ts";
import { buildDataset, type Dataset, openDirectorySource, openZipBytes } from "../lib/data/mod.ts";
import { evaluateCocoFiles, withBootstrapIntervals, type XywhBox } from "../lib/evaluation/mod.ts";
import type { RunData } from "../lib/report/mod.ts";
import { type NamedTensor, readTorchCheckpoint } from "../lib/torch/mod.ts";
import { mergeHeads, modelFromStateDict, saveWeights } from "../lib/interop/mod.ts";
import { disposeModel, type SsdModel } from "../lib/ssd/mod.ts";
import { convWithGrad } from "../lib/engine/conv_grad.ts";
import { enableOneDnn, oneDnnConvWithGrad } from "../lib/engine/onednn.ts";
import { type ConvFn, createSsd300 } from "../lib/ssd/model.ts";
import { probeWebGpu, type WebGpuAdapter } from "../lib/engine/webgpu.ts";
import { PROJECT_ROOT } from "../tasks/compose/mod.ts";

/** Absolute path of the committed fixtures folder (fixtures/): the synthetic dataset, its generator, configs. */
export const FIXTURES_ROOT = new URL("../fixtures", import.meta.url).pathname;
/** Absolute path of the committed fixture dataset (fixtures/PennFudanPed: PNGImages/, PedMasks/, Annotation/). */
export const FIXTURE_DIR = `${FIXTURES_ROOT}/PennFudanPed`;

/** Reads every fixture file: path relative to fixtures/ ("PennFudanPed/PNGImages/…") → bytes. */
export async function readFixtureFiles(): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  async function walk(rel: string): Promise<void> {
    const abs = `${FIXTURES_ROOT}${rel ? `/${rel}` : ""}`;
    for await (const e of Deno.readDir(abs)) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(child);
      else if (e.isFile) files.set(child, await Deno.readFile(`${FIXTURES_ROOT}/${child}`));
    }
  }
  await walk("PennFudanPed");
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Zips a file map (deflate level 6, fixed timestamps so the bytes are reproducible). */
export function zipFiles(files: Map<string, Uint8Array>): Uint8Array {
  const tree: Record<string, [Uint8Array, { level: 6; mtime: Date }]> = {};
  for (const [path, bytes] of files) {
    tree[path] = [bytes, { level: 6, mtime: new Date("2020-08-13T10:43:00Z") }];
  }
  return zipSync(tree);
}

/**
 * The fixture dataset as a zip and its dataset.json (default split), as `deno task prepare` builds it from
 * `fixtures.zip` next to the dataset.json.
 */
export async function fixtureDataset(): Promise<{ ds: Dataset; zip: Uint8Array }> {
  const zip = zipFiles(await readFixtureFiles());
  const ds = buildDataset(openZipBytes(zip, "fixtures.zip"), {
    origin: { path: "fixtures.zip", sha256: await sha256Hex(zip) },
  });
  return { ds, zip };
}

/**
 * A small zip: `root/a.txt` deflated ("hello hello hello hello"), `root/sub/b.bin` stored (300 bytes i % 7), and
 * a directory entry `root/empty/`.
 */
export function sampleZip(): Uint8Array {
  const enc = new TextEncoder();
  return zipSync({
    "root/a.txt": [enc.encode("hello hello hello hello"), { level: 9 }],
    "root/sub/b.bin": [Uint8Array.from({ length: 300 }, (_, i) => i % 7), { level: 0 }],
    "root/empty/": new Uint8Array(0),
  });
}

/**
 * dataset.json of the fixture folder read in place (seed 0, `testSize` test images), as `deno task prepare --data
 * fixtures/PennFudanPed` builds it.
 */
export async function fixtureFolderDataset(testSize: number): Promise<Dataset> {
  return buildDataset(await openDirectorySource(FIXTURE_DIR), {
    origin: { path: FIXTURE_DIR, sha256: null },
    testSize,
    seed: 0,
  });
}

/** Writes a file map under `dir`. */
export async function writeFiles(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  for (const [path, bytes] of files) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(full, bytes);
  }
}

/** Runs `fn` in a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir(fn: (dir: string) => Promise<void>, prefix = "test_"): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Absolute path of a file under the shared directory, e.g. `sharedPath("data/PennFudanPed.zip")`. */
export function sharedPath(relative: string): string {
  return new URL(`../../shared/${relative}`, import.meta.url).pathname;
}

/** Whether the shared file exists. */
export function sharedExists(relative: string): boolean {
  try {
    Deno.statSync(sharedPath(relative));
    return true;
  } catch {
    return false;
  }
}

/**
 * `ignore` flag for Deno.test: true (skip) only when the file is missing AND we are not in CI. In CI a missing file
 * is not ignored, so the test runs and fails on reading it.
 */
export function ignoreWithoutShared(...relatives: string[]): boolean {
  if (Deno.env.get("CI")) return false;
  return !relatives.every(sharedExists);
}

export const GOLDEN_DIR = new URL("../../shared/golden/", import.meta.url);

/**
 * The golden 2-class model of the training parity tests: ssd300_voc.pth with the heads of person_heads.pth
 * (the reference's head surgery), on the current backend. The caller disposes it.
 */
export function goldenPersonModel(): SsdModel {
  const read = (name: string) =>
    readTorchCheckpoint(Deno.readFileSync(new URL(name, GOLDEN_DIR)), name).tensors;
  const model21 = modelFromStateDict(read("ssd300_voc.pth"), "ssd300_voc.pth");
  try {
    return mergeHeads(model21, read("person_heads.pth"), "person_heads.pth");
  } finally {
    disposeModel(model21);
  }
}

/** True when the golden folder is readable; under CI a missing folder throws, otherwise the test is skipped. */
export function haveGolden(t: Deno.TestContext | undefined, file = ""): boolean {
  try {
    Deno.statSync(new URL(file, GOLDEN_DIR));
    return true;
  } catch {
    if (Deno.env.get("CI")) throw new Error(`golden file missing: ${new URL(file, GOLDEN_DIR).pathname}`);
    console.warn(`skipping ${t?.name ?? "check"}: ${new URL(file, GOLDEN_DIR).pathname} not found`);
    return false;
  }
}

/**
 * The WebGPU adapter of the WebGPU tests (Mesa's llvmpipe in CI: Debian's mesa-vulkan-drivers) and their `ignore`
 * flag: without an adapter they are skipped, except under CI, where they run and fail ({@link requireWebGpu}).
 * Call once at the top of a test file that needs it (it asks for an adapter).
 */
export async function webGpuForTests(): Promise<{ adapter: WebGpuAdapter | null; ignore: boolean }> {
  const adapter = await probeWebGpu();
  if (!adapter && !Deno.env.get("CI")) console.warn("no WebGPU adapter: the WebGPU tests are skipped");
  return { adapter, ignore: adapter === null && !Deno.env.get("CI") };
}

/** The adapter, or an error (a test run without one: under CI). */
export function requireWebGpu(gpu: { adapter: WebGpuAdapter | null }): WebGpuAdapter {
  if (!gpu.adapter) throw new Error("no WebGPU adapter under CI (install mesa-vulkan-drivers; see .ci/run)");
  return gpu.adapter;
}

/** Reads a raw little-endian float32 golden, or undefined (skip) when absent outside CI. */
export async function goldenF32(
  t: Deno.TestContext | undefined,
  file: string,
): Promise<Float32Array | undefined> {
  if (!haveGolden(t, file)) return undefined;
  const bytes = await Deno.readFile(new URL(file, GOLDEN_DIR));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** Reads golden.json, or undefined (skip) when absent outside CI. */
export async function goldenJson(
  t: Deno.TestContext | undefined,
): Promise<Record<string, unknown> | undefined> {
  if (!haveGolden(t, "golden.json")) return undefined;
  return JSON.parse(await Deno.readTextFile(new URL("golden.json", GOLDEN_DIR)));
}

/** max |a − b| and ‖a − b‖ / ‖b‖ (relative Frobenius error). */
export function compareArrays(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): { maxAbs: number; relFro: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxAbs = 0, num = 0, den = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i] - expected[i];
    maxAbs = Math.max(maxAbs, Math.abs(d));
    num += d * d;
    den += expected[i] * expected[i];
  }
  return { maxAbs, relFro: Math.sqrt(num / den) };
}

/** max |a − b| and max |b| over two equal-length arrays (asserted), for the relative errors the engine tests take. */
export function maxAbsDiffAndScale(a: ArrayLike<number>, b: ArrayLike<number>): { num: number; den: number } {
  assert.equal(a.length, b.length);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return { num, den };
}

/** float32 tensor from bit patterns, so that NaN payloads, -0, ±inf and subnormals are exercised. */
export function fromBits(shape: number[], bits: (i: number) => number): NamedTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) u[i] = bits(i) >>> 0;
  return { shape, data: new Float32Array(u.buffer) };
}

/** A deterministic pseudo-random bit pattern (LCG) that avoids nothing: any float32 incl. NaNs. */
export const lcg = (seed: number) => (i: number): number => Math.imul(i + seed, 1664525) + 1013904223;

/** Deterministic pseudo-random floats in [-1, 1) (LCG), the same on every platform and backend. */
export function randomArray(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** float32 bit patterns a checkpoint writer must keep: NaN payloads (quiet, negative, signalling), -0, ±inf, the
 * smallest subnormal, the largest finite. */
export const SPECIAL_FLOAT_BITS = [
  0x7fc00001,
  0xffc00000,
  0x7f800001,
  0x80000000,
  0x7f800000,
  0xff800000,
  0x00000001,
  0x7f7fffff,
];

/**
 * Named tensors a `.pth` writer must round-trip: a conv weight, odd shapes, special values, a scalar, a 1-element
 * and a unit-dims tensor, an empty one, and a view into a larger buffer at an odd offset.
 */
export function tensorCases(): [string, NamedTensor][] {
  return [
    ["base.conv1_1.weight", fromBits([64, 3, 3, 3], lcg(1))],
    ["odd.shape", fromBits([3, 5, 7], lcg(2))],
    ["special.values", fromBits([SPECIAL_FLOAT_BITS.length], (i) => SPECIAL_FLOAT_BITS[i])],
    ["scalar", { shape: [], data: Float32Array.of(-2.5) }],
    ["one", { shape: [1], data: Float32Array.of(1 / 3) }],
    ["unit.dims", fromBits([2, 1, 3, 1], lcg(3))],
    ["empty", { shape: [0, 4], data: new Float32Array(0) }],
    // the writer must take exactly these elements
    ["subarray", {
      shape: [2, 3],
      data: new Float32Array(Array.from({ length: 20 }, (_, i) => i)).subarray(7, 13),
    }],
  ];
}

// ---- hand-built torch checkpoints: a tiny pickle assembler ----------------------------------------------------

/** Bytes of a pickle under construction: opcodes and their arguments, nested freely. */
export type Part = number | Part[];
const enc = new TextEncoder();
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
export const flat = (parts: Part[]): number[] => parts.flatMap((p) => (Array.isArray(p) ? flat(p) : [p]));
export const MARK = 0x28, TUPLE = 0x74, REDUCE = 0x52, EMPTY_TUPLE = 0x29, EMPTY_DICT = 0x7d, SETITEMS = 0x75;
export const STOP = 0x2e, BINPERSID = 0x51, NEWFALSE = 0x89, BUILD = 0x62, NEWOBJ = 0x81, NONE = 0x4e;
/** BINUNICODE */
export const str = (s: string): Part => [0x58, le32(enc.encode(s).length), [...enc.encode(s)]];
/** GLOBAL */
export const glob = (module: string, name: string): Part => [0x63, [...enc.encode(`${module}\n${name}\n`)]];
/** BININT1 / BININT */
export const int = (v: number): Part => (v < 256 ? [0x4b, v] : [0x4a, le32(v)]);
export const tuple = (...items: Part[]): Part => [MARK, items, TUPLE];
export const dict = (...kv: Part[]): Part => [EMPTY_DICT, MARK, kv, SETITEMS];
export const orderedDict = (
  ...kv: Part[]
): Part => [glob("collections", "OrderedDict"), EMPTY_TUPLE, REDUCE, MARK, kv, SETITEMS];
/** A storage persistent id of the zip format: ('storage', torch.<cls>, key, location, numel). */
export const storage = (
  cls: string,
  key: string,
  numel: number,
  module = "torch",
  location = "cpu",
): Part => [
  tuple(str("storage"), glob(module, cls), str(key), str(location), int(numel)),
  BINPERSID,
];
/** `torch._utils._rebuild_tensor_v2(storage, offset, shape, stride, False, OrderedDict())`. */
export const rebuild = (
  st: Part,
  offset: number,
  shape: number[],
  stride: number[],
  fn = "_rebuild_tensor_v2",
): Part => [
  glob("torch._utils", fn),
  tuple(st, int(offset), tuple(...shape.map(int)), tuple(...stride.map(int)), NEWFALSE, orderedDict()),
  REDUCE,
];
/** `module.name(*args)`: a REDUCE, e.g. `call("posix", "system", str("echo hi"))`. */
export const call = (module: string, name: string, ...args: Part[]): Part => [
  glob(module, name),
  tuple(...args),
  REDUCE,
];
/** A protocol 2 pickle of `value`. */
export const pickle = (...value: Part[]): Uint8Array => Uint8Array.from(flat([0x80, 2, value, STOP]));

/** A zip-format checkpoint with the given data.pkl and storage records (not 64-byte aligned: fflate defaults). */
export function zipCheckpoint(
  pkl: Uint8Array,
  records: Record<string, Uint8Array> = {},
  extra: Record<string, Uint8Array> = {},
): Uint8Array {
  const files: Record<string, Uint8Array> = { "archive/data.pkl": pkl, ...extra };
  for (const [k, v] of Object.entries(records)) files[`archive/data/${k}`] = v;
  return zipSync(files, { level: 0 });
}
export const f32Bytes = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

/** A detection to compare: class, score and a box as [x, y, width, height]. */
export interface ComparableDetection {
  class: string | number;
  score: number;
  bbox: readonly number[];
}

/** IoU of two [x, y, width, height] boxes. */
export function xywhIou(a: readonly number[], b: readonly number[]): number {
  const iw = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

/**
 * Asserts that two detection lists are the same up to order: equal counts, and every expected detection has its
 * own actual one of the same class with IoU ≥ `minIou` and |Δscore| ≤ `maxScoreDiff` (greedy, best IoU first).
 */
export function assertSameDetections(
  actual: readonly ComparableDetection[],
  expected: readonly ComparableDetection[],
  minIou: number,
  maxScoreDiff: number,
  what = "detections",
): void {
  assert.deepEqual(actual.length, expected.length, `${what}: count`);
  const free = new Set(actual.map((_, i) => i));
  for (const [k, e] of expected.entries()) {
    let best = -1, bestIou = -1;
    for (const i of free) {
      const a = actual[i];
      if (a.class !== e.class || Math.abs(a.score - e.score) > maxScoreDiff) continue;
      const iou = xywhIou(a.bbox, e.bbox);
      if (iou > bestIou) [best, bestIou] = [i, iou];
    }
    assert(
      best >= 0 && bestIou >= minIou,
      `${what}: expected #${k} ${JSON.stringify(e)} has no match (best IoU ${bestIou.toFixed(4)})`,
    );
    free.delete(best);
  }
}

/** `deno task detect`'s detections (pixel xyxy boxes, labels) as comparable [x, y, width, height] detections. */
export function comparablePixelDetections(
  dets: readonly { label: string; score: number; box: readonly number[] }[],
): ComparableDetection[] {
  return dets.map((d) => ({
    class: d.label,
    score: d.score,
    bbox: [d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]],
  }));
}

/**
 * A report run (lib/report `RunData`) on a synthetic test set: `nImages` images (ids 1…, 320 × 240) with two
 * pedestrians each, one detection per pedestrian jittered by up to ±`noise`/2 px plus one low-score clutter box,
 * scored by `evaluateCocoFiles` with 200 bootstrap resamples. The same `seed` gives the same ground truth, so
 * runs of one seed share their test images. `perImage` keeps gt.coco.json/detections.coco.json contents.
 */
export function fakeRun(
  name: string,
  kind: "original" | "finetuned",
  noise: number,
  opts: { perImage?: boolean; nImages?: number; seed?: number } = {},
): RunData {
  const nImages = opts.nImages ?? 6;
  const truth = mulberry32(opts.seed ?? 1),
    jitter = mulberry32((opts.seed ?? 1) * 7919 + Math.round(noise * 100));
  const images = Array.from(
    { length: nImages },
    (_, i) => ({ id: i + 1, width: 320, height: 240, file_name: `im${i + 1}.png` }),
  );
  const annotations = images.flatMap((im) =>
    [0, 1].map((k) => ({
      id: im.id * 10 + k,
      image_id: im.id,
      category_id: 1,
      bbox: [
        20 + 150 * k + truth() * 40,
        20 + truth() * 40,
        50 + truth() * 30,
        120 + truth() * 60,
      ] as XywhBox,
      iscrowd: 0 as const,
    }))
  );
  const detections = annotations.flatMap((a) => [
    {
      image_id: a.image_id,
      category_id: 1,
      bbox: a.bbox.map((v, j) => Math.max(j < 2 ? 0 : 1, v + (jitter() - 0.5) * noise)) as XywhBox,
      score: 0.5 + jitter() / 2,
    },
    {
      image_id: a.image_id,
      category_id: 1,
      bbox: [jitter() * 250, jitter() * 150, 30, 60] as XywhBox,
      score: jitter() * 0.5,
    },
  ]);
  const gt = { images, annotations, categories: [{ id: 1, name: "person" }] };
  const ap = withBootstrapIntervals(
    evaluateCocoFiles(gt, detections, { id: 1, name: "person" }, {
      mode: "detector",
      split: "test",
      n_classes: kind === "original" ? 21 : 2,
      min_score: 0.01,
    }),
    gt,
    detections,
    { resamples: 200 },
  );
  return {
    dir: `/runs/${name}`,
    name,
    kind,
    ap,
    ...(opts.perImage ? { groundTruth: gt, detections } : {}),
  };
}

/**
 * The convolution engine of the golden parity tests, from env `SSD_TEST_CONV`: `wasm` (default) or `onednn`
 * (lib/engine/onednn.ts's kernels on this thread; fails when libdnnl.so.2 does not load). Call after
 * `initBackend("wasm")`. CI runs the parity tests once with each (.ci/run).
 * @returns the training graph's convolution (`lossAndGradients`' `conv`) and the engine's name
 */
export function parityTestConv(): { conv: ConvFn; name: "wasm" | "onednn" } {
  const want = Deno.env.get("SSD_TEST_CONV") ?? "wasm";
  if (want === "wasm") return { conv: convWithGrad, name: "wasm" };
  if (want !== "onednn") throw new Error(`SSD_TEST_CONV must be wasm or onednn, got ${want}`);
  const r = enableOneDnn(1);
  if (!r.ok) throw new Error(`SSD_TEST_CONV=onednn: ${r.reason}`);
  return { conv: oneDnnConvWithGrad, name: "onednn" };
}

/**
 * A PNG from raw parts with correct chunk CRCs: signature, IHDR (`width`×`height`, bit depth, colour type), one
 * IDAT holding `idat` as given (a zlib stream, or deliberately not one), IEND. For headers that lie and streams
 * that are broken while every CRC is right.
 */
export function pngFromParts(
  width: number,
  height: number,
  idat: Uint8Array,
  opts: { depth?: number; colorType?: number } = {},
): Uint8Array {
  const chunk = (type: string, data: Uint8Array): number[] => {
    const body = Uint8Array.from([...new TextEncoder().encode(type), ...data]);
    const be32 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
    return [...be32(data.length), ...body, ...be32(crc32(body))];
  };
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([opts.depth ?? 8, opts.colorType ?? 2, 0, 0, 0], 8);
  return Uint8Array.from([
    ...[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    ...chunk("IHDR", ihdr),
    ...chunk("IDAT", idat),
    ...chunk("IEND", new Uint8Array(0)),
  ]);
}

/**
 * The one-image part of a `deno task detect` argument list: `--image IMAGE --out DIR/OUT --json DIR/JSON
 * --backend wasm`.
 */
export function detectOneImageArgs(
  dir: string,
  image: string,
  out = "annotated.png",
  json = "detections.json",
): string[] {
  return ["--image", image, "--out", `${dir}/${out}`, "--json", `${dir}/${json}`, "--backend", "wasm"];
}

/** Output of a finished subprocess: exit code, stdout and stderr as text. */
export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` with `args` (and `options`: cwd, env, stdin, …), stdout and stderr piped and decoded. */
export async function runPiped(
  command: string | URL,
  args: string[],
  options: Omit<Deno.CommandOptions, "args" | "stdout" | "stderr"> = {},
): Promise<RunOutput> {
  const out = await new Deno.Command(command, { ...options, args, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `deno run -A tasks/<name>.ts ARGS…` in a subprocess (see runPiped). */
export function runTaskScript(name: string, args: string[]): Promise<RunOutput> {
  return runPiped(Deno.execPath(), [
    "run",
    "-A",
    new URL(`../tasks/${name}.ts`, import.meta.url).pathname,
    ...args,
  ]);
}

/** `deno task -q NAME ARGS…` in the project root, NO_COLOR=1 (plus `env`), no stdin (see runPiped). */
export function denoTask(name: string, args: string[], env: Record<string, string> = {}): Promise<RunOutput> {
  return runPiped(Deno.execPath(), ["task", "-q", name, ...args], {
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
  });
}

/**
 * A small model folder that passes lib/export's `checkModelJson` (not a network that runs): `model.json` with
 * the SSD300 metadata, one float32 `Const` node `w` of `elements` values in the manifest, and its shards as the
 * exporter cuts them (4 MiB, the last one the rest), filled with zeros. For the model-folder checks of
 * `serve` and `loadDetector`.
 * @returns the model.json object and the shards' names and sizes
 */
export async function writeTinyModelFolder(
  dir: string,
  elements = 2,
  classes = ["background", "person"],
): Promise<{ json: Record<string, unknown>; shards: { name: string; bytes: number }[] }> {
  const total = elements * 4, shardBytes = 4 * 2 ** 20;
  const n = Math.max(1, Math.ceil(total / shardBytes));
  const shards = Array.from({ length: n }, (_, i) => ({
    name: `group1-shard${i + 1}of${n}.bin`,
    bytes: i < n - 1 ? shardBytes : total - (n - 1) * shardBytes,
  }));
  const tensor = { name: "image:0", dtype: "DT_FLOAT", tensorShape: {} };
  const json = {
    format: "graph-model",
    generatedBy: "test",
    convertedBy: "test",
    modelTopology: {
      node: [{ name: "image", op: "Placeholder" }, { name: "w", op: "Const" }],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [{
      paths: shards.map((s) => s.name),
      weights: [{ name: "w", shape: [elements], dtype: "float32" }],
    }],
    signature: { inputs: { image: tensor }, outputs: { locs: { ...tensor, name: "locs:0" } } },
    userDefinedMetadata: {
      ssd300: {
        version: 1,
        classes,
        prior_set: "reference",
        input: {
          name: "image",
          size: 300,
          layout: "NHWC",
          channels: "RGB",
          resize: "Pillow BILINEAR",
          scale: 1 / 255,
          mean: [0.485, 0.456, 0.406],
          std: [0.229, 0.224, 0.225],
        },
        detect_defaults: { min_score: 0.2, max_overlap: 0.45, top_k: 200 },
        outputs: {},
        quantization: "none",
        source: "test",
      },
    },
  };
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/model.json`, JSON.stringify(json));
  for (const s of shards) await Deno.writeFile(`${dir}/${s.name}`, new Uint8Array(s.bytes));
  return { json, shards };
}

/**
 * The arguments after `deno` of `deno task NAME` as deno.json defines it (`run`, its permission flags, the task
 * file), to spawn the task itself with its own permissions — killing that process ends the task (killing
 * `deno task` would leave the task running).
 */
export function taskRunArgs(name: string): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${PROJECT_ROOT}/deno.json`));
  const line: string = config.tasks[name];
  const words = line.split(/\s+/);
  assert.equal(words[0], "deno", `deno.json task ${name}: ${line}`);
  return words.slice(1);
}

/** Whether `path` exists (a dangling symlink counts: lstat, not stat). */
export function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Command-line flags from a record, in its order: `{ out: "x", "batch-size": 2 }` → `["--out", "x",
 * "--batch-size", "2"]`; `true` gives the bare flag.
 */
export function flagArgs(flags: Record<string, string | number | true>): string[] {
  return Object.entries(flags).flatMap(([k, v]) => v === true ? [`--${k}`] : [`--${k}`, String(v)]);
}

/**
 * Saves a random SSD300 with `classNames` (background first) as our weights at `path` (seed 9), for tests that run
 * a task on a model whose numbers do not matter. Needs an initialised TF.js backend.
 */
export async function saveRandomWeights(path: string, classNames: string[]): Promise<void> {
  const model = { ...createSsd300(classNames.length, 9), classNames };
  try {
    await saveWeights(path, model);
  } finally {
    disposeModel(model);
  }
}

/** Whether Debian's python (`/usr/bin/python3`; the first python3 on PATH may be another) imports `module`. */
export function havePythonModule(module: string): boolean {
  try {
    return new Deno.Command("/usr/bin/python3", {
      args: ["-c", `import ${module}`],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}
