/**
 * Moving SSD300 parameters between our tf.js model (HWIO, NHWC) and the reference's PyTorch state_dict (OIHW,
 * names `base.conv1_1.weight` … `rescale_factors`, `aux_convs.*`, `pred_convs.*`); replacing the VOC heads by a
 * single `person` class; importing torchvision's ImageNet VGG16 into the base; our own weights format.
 */
import * as tf from "@tensorflow/tfjs-core";
import { z } from "zod";
import { ArtifactError, readJsonArtifact, writeFileAtomic, writeJsonArtifact } from "../core/artifacts.ts";
import {
  BASE_CONVS,
  createSsd300,
  paramShapes,
  predConvs,
  type SsdModel,
  xavierUniformHwio,
} from "../ssd/model.ts";
import { ANCHOR_SET_NAMES, type AnchorSetName, BOXES_PER_LOCATION } from "../ssd/priors.ts";
import { type NamedTensor } from "../torch/read.ts";
import { InputError } from "../core/errors.ts";
import { checkModelIdentity, type CheckpointOptions, readStateDict } from "./identify.ts";

export type { NamedTensor };

/** Class index of `person` in the VOC label order (`voc_labels`), and of background. */
export const VOC_PERSON_CLASS = 15;
export const BACKGROUND_CLASS = 0;

/** VOC class names in the reference's order (`voc_labels`), index = class id. */
export const VOC_LABELS: readonly string[] = [
  "background",
  "aeroplane",
  "bicycle",
  "bird",
  "boat",
  "bottle",
  "bus",
  "car",
  "cat",
  "chair",
  "cow",
  "diningtable",
  "dog",
  "horse",
  "motorbike",
  "person",
  "pottedplant",
  "sheep",
  "sofa",
  "train",
  "tvmonitor",
];

/** Class names for a model: VOC names for 21 classes, `background`/`person` for 2. */
export function classNames(nClasses: number): readonly string[] {
  if (nClasses === VOC_LABELS.length) return VOC_LABELS;
  if (nClasses === 2) return ["background", "person"];
  return Array.from({ length: nClasses }, (_, i) => (i === 0 ? "background" : `class_${i}`));
}

/** A shape mismatch between a state_dict entry and the model (both in the reference's torch layout). */
export interface ShapeMismatch {
  name: string;
  expected: number[];
  got: number[];
}

/**
 * A state_dict that does not fit the model. Lists EVERY missing key, unexpected key and shape mismatch by name.
 */
export class StateDictError extends InputError {
  override name = "StateDictError";
  constructor(
    readonly source: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: ShapeMismatch[],
  ) {
    const lines = [
      ...missing.map((k) => `missing key ${k}`),
      ...unexpected.map((k) => `unexpected key ${k}`),
      ...mismatched.map((m) => `shape mismatch for ${m.name}: expected [${m.expected}], got [${m.got}]`),
    ];
    super(
      `${source}: state_dict does not fit SSD300 (${lines.length} problems):\n  - ${lines.join("\n  - ")}`,
    );
  }
}

const OIHW_TO_HWIO = [2, 3, 1, 0];
const HWIO_TO_OIHW = [3, 2, 0, 1];

/** A parameter's shape in the reference's torch layout, from our layout. */
function torchShape(name: string, ours: number[]): number[] {
  if (name === "rescale_factors") return [1, ours[3], 1, 1];
  if (ours.length === 4) return HWIO_TO_OIHW.map((d) => ours[d]);
  return ours;
}

/** Parameter names and shapes in the reference's torch layout (OIHW, rescale [1, 512, 1, 1]), state_dict order. */
export function torchParamShapes(nClasses: number): Map<string, number[]> {
  return new Map([...paramShapes(nClasses)].map(([name, s]) => [name, torchShape(name, s)]));
}

/**
 * Number of classes of a state_dict: out channels of `pred_convs.cl_conv4_3.weight` (or the module-relative
 * `cl_conv4_3.weight`) divided by its 4 boxes per location. Undefined when the key is absent.
 */
export function stateDictClasses(tensors: Map<string, NamedTensor>): number | undefined {
  const w = tensors.get("pred_convs.cl_conv4_3.weight") ?? tensors.get("cl_conv4_3.weight");
  if (!w) return undefined;
  const n = w.shape[0] / BOXES_PER_LOCATION[0];
  if (!Number.isInteger(n) || n < 2) {
    throw new StateDictError("state_dict", [], [], [{
      name: "pred_convs.cl_conv4_3.weight",
      expected: [BOXES_PER_LOCATION[0] * 2, 512, 3, 3],
      got: w.shape,
    }]);
  }
  return n;
}

/** Adds the `pred_convs.` prefix to module-relative head names (`loc_conv4_3.weight` from a legacy heads file). */
export function headsWithPrefix(tensors: Map<string, NamedTensor>): Map<string, NamedTensor> {
  return new Map(
    [...tensors].map(([k, v]) => [/^(loc|cl)_conv[\d_]+\.(weight|bias)$/.test(k) ? `pred_convs.${k}` : k, v]),
  );
}

/** Checks `tensors` against expected torch shapes; collects every problem. */
function checkAgainst(
  source: string,
  tensors: Map<string, NamedTensor>,
  expected: Map<string, number[]>,
  opts: { requireAll: boolean },
): void {
  const missing = opts.requireAll ? [...expected.keys()].filter((k) => !tensors.has(k)) : [];
  const unexpected = [...tensors.keys()].filter((k) => !expected.has(k));
  const mismatched: ShapeMismatch[] = [];
  for (const [name, t] of tensors) {
    const e = expected.get(name);
    if (e && (e.length !== t.shape.length || e.some((d, i) => d !== t.shape[i]))) {
      mismatched.push({ name, expected: e, got: t.shape });
    } else if (e && t.data.length !== e.reduce((a, b) => a * b, 1)) {
      mismatched.push({ name, expected: e, got: [t.data.length] });
    }
  }
  if (missing.length || unexpected.length || mismatched.length) {
    throw new StateDictError(source, missing, unexpected, mismatched);
  }
}

/** One torch-layout tensor → a tf tensor in our layout. */
function toOurLayout(name: string, t: NamedTensor): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.tensor(t.data, t.shape, "float32");
    if (name === "rescale_factors") return tf.reshape(x, [1, 1, 1, t.shape[1]]); // [1, 512, 1, 1] → [1, 1, 1, 512]
    if (t.shape.length === 4) return tf.transpose(x, OIHW_TO_HWIO); // OIHW → HWIO
    return x;
  });
}

/** Our variable → a torch-layout NamedTensor (a copy). */
function toTorchLayout(name: string, v: tf.Tensor): NamedTensor {
  const shape = torchShape(name, v.shape);
  if (v.rank === 4 && name !== "rescale_factors") {
    const t = tf.transpose(v, HWIO_TO_OIHW); // HWIO → OIHW
    const data = Float32Array.from(t.dataSync() as Float32Array);
    t.dispose();
    return { shape, data };
  }
  return { shape, data: Float32Array.from(v.dataSync() as Float32Array) };
}

/**
 * Builds a model from a full reference state_dict (torch layout). The number of classes comes from
 * `pred_convs.cl_conv4_3.weight` (21-class VOC and 2-class person checkpoints are both recognised). A state_dict
 * carries no anchor set: the model gets the reference's (`anchors` undefined); a `.pth` exported from a run with
 * `--anchors pedestrian` must be paired with that set by hand (our weights manifest records it).
 * @throws StateDictError listing all missing / unexpected / mis-shaped keys together
 */
export function modelFromStateDict(tensors: Map<string, NamedTensor>, source = "state_dict"): SsdModel {
  checkModelIdentity(source, "ssd300", tensors);
  const prefixed = headsWithPrefix(tensors);
  const nClasses = stateDictClasses(prefixed);
  const expected = torchParamShapes(nClasses ?? 21);
  checkAgainst(source, prefixed, expected, { requireAll: true });
  const params = new Map<string, tf.Variable>();
  for (const name of expected.keys()) {
    const t = toOurLayout(name, prefixed.get(name)!);
    params.set(name, tf.variable(t, true));
    t.dispose();
  }
  return { nClasses: nClasses!, params };
}

/** The model's parameters as a reference state_dict (torch layout, reference names and order). */
export function modelToStateDict(model: SsdModel): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const name of torchParamShapes(model.nClasses).keys()) {
    const v = model.params.get(name);
    if (!v) throw new StateDictError("model", [name], [], []);
    out.set(name, toTorchLayout(name, v));
  }
  return out;
}

/** `{ anchors }` when the model has an anchor set, else nothing (spread into a new model). */
function anchorsOf(model: SsdModel): { anchors?: AnchorSetName } {
  return model.anchors === undefined ? {} : { anchors: model.anchors };
}

/** Deep copy of a model (new variables, same anchor set). */
export function cloneModel(model: SsdModel): SsdModel {
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of model.params) params.set(name, tf.variable(v.clone(), v.trainable));
  return { nClasses: model.nClasses, params, ...anchorsOf(model) };
}

/**
 * A new model with the base and aux convs of `model` and the prediction heads of `heads` (names `pred_convs.*`
 * or module-relative `loc_conv4_3.weight` …, as in a legacy heads file). The class count comes from the heads;
 * the anchor set is `model`'s (heads files carry none).
 * @throws StateDictError listing every missing / unexpected / mis-shaped head key
 */
export function mergeHeads(model: SsdModel, heads: Map<string, NamedTensor>, source = "heads"): SsdModel {
  const prefixed = headsWithPrefix(heads);
  const nClasses = stateDictClasses(prefixed);
  const expected = new Map([...torchParamShapes(nClasses ?? 2)].filter(([k]) => k.startsWith("pred_convs.")));
  checkAgainst(source, prefixed, expected, { requireAll: true });
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of model.params) {
    if (!name.startsWith("pred_convs.")) params.set(name, tf.variable(v.clone(), v.trainable));
  }
  for (const name of expected.keys()) {
    const t = toOurLayout(name, prefixed.get(name)!);
    params.set(name, tf.variable(t, true));
    t.dispose();
  }
  return { nClasses: nClasses!, params, ...anchorsOf(model) };
}

/**
 * A 2-class (`background`, `person`) model from a VOC model: base, aux convs and rescale copied.
 * - `voc-person`: each cl_conv keeps, for every box slot b, channels b·21+0 (background) and b·21+15 (person);
 *   the loc convs are copied unchanged.
 * - `random`: all prediction convs re-initialised as the reference does (xavier-uniform weights, zero bias).
 * A model that already has 2 classes is returned as a copy (its heads kept). The anchor set is kept.
 * Every parameter gets its own freshly allocated buffer (the WASM FusedConv2D kernel rejects a bias variable
 * made straight from `tf.gather` output: "only supports rank-1 bias but got rank 4").
 * @param seed seed of the `random` initialisation
 */
export function toSingleClass(model: SsdModel, headInit: "random" | "voc-person", seed = 0): SsdModel {
  if (model.nClasses === 2) return cloneModel(model);
  if (headInit === "voc-person" && model.nClasses !== VOC_LABELS.length) {
    throw new RangeError(
      `toSingleClass: voc-person needs a ${VOC_LABELS.length}-class model, got ${model.nClasses}`,
    );
  }
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of model.params) {
    if (!name.startsWith("pred_convs.")) params.set(name, tf.variable(v.clone(), v.trainable));
  }
  predConvs(2).forEach((c, i) => {
    const isCl = c.name.startsWith("pred_convs.cl_");
    let w: tf.Tensor, b: tf.Tensor;
    if (headInit === "random") {
      w = xavierUniformHwio([c.k, c.k, c.inC, c.outC], (seed * 7919 + i * 104729 + 1) >>> 0);
      b = tf.zeros([c.outC]);
    } else if (!isCl) {
      w = model.params.get(`${c.name}.weight`)!.clone();
      b = model.params.get(`${c.name}.bias`)!.clone();
    } else {
      const boxes = c.outC / 2;
      const keep: number[] = []; // for each box slot: its background and person channels of the 21-class conv
      for (let s = 0; s < boxes; s++) keep.push(s * 21 + BACKGROUND_CLASS, s * 21 + VOC_PERSON_CLASS);
      const idx = tf.tensor1d(keep, "int32");
      const gw = tf.gather(model.params.get(`${c.name}.weight`)!, idx, 3); // [3, 3, in, boxes·2]
      const gb = tf.gather(model.params.get(`${c.name}.bias`)!, idx); // [boxes·2]
      // copy the values out into new tensors: variables must not share the gathered tensors' backend data
      w = tf.tensor(gw.dataSync().slice(), gw.shape, "float32");
      b = tf.tensor(gb.dataSync().slice(), gb.shape, "float32");
      tf.dispose([idx, gw, gb]);
    }
    params.set(`${c.name}.weight`, tf.variable(w, true));
    params.set(`${c.name}.bias`, tf.variable(b, true));
    tf.dispose([w, b]);
  });
  // keep the reference's state_dict order
  const ordered = new Map([...paramShapes(2).keys()].map((k) => [k, params.get(k)!]));
  return { nClasses: 2, params: ordered, ...anchorsOf(model) };
}

/** Every `step`-th index along each dim (`None` = all): the reference's `decimate`. */
function decimate(t: NamedTensor, steps: (number | null)[]): NamedTensor {
  const keep = t.shape.map((n, d) => {
    const s = steps[d] ?? 1;
    return Array.from({ length: Math.ceil(n / s) }, (_, i) => i * s);
  });
  const shape = keep.map((k) => k.length);
  const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < data.length; o++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += keep[d][idx[d]] * strides[d];
    data[o] = t.data[src];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { shape, data };
}

/** torchvision VGG16 `features.N` indices of the 13 convs, in order conv1_1 … conv5_3. */
export const VGG16_FEATURE_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28] as const;

/**
 * The reference's `load_pretrained_layers`: torchvision VGG16 state_dict → `base.*` entries (torch layout).
 * features.{0,2,5,…,28} → conv1_1 … conv5_3; classifier.0 (fc6, [4096, 25088] viewed [4096, 512, 7, 7])
 * decimated by [4, –, 3, 3] → conv6 [1024, 512, 3, 3]; classifier.3 (fc7, [4096, 4096] viewed [4096, 4096, 1, 1])
 * decimated by [4, 4, –, –] → conv7 [1024, 1024, 1, 1]; their biases by 4.
 * @throws StateDictError listing every missing or mis-shaped torchvision key (other keys, e.g. classifier.6, are
 *   ignored)
 */
export function importTorchvisionVgg16(
  tensors: Map<string, NamedTensor>,
  source = "vgg16",
): Map<string, NamedTensor> {
  checkModelIdentity(source, "vgg16", tensors);
  const expected = new Map<string, number[]>();
  const target = torchParamShapes(21);
  VGG16_FEATURE_CONVS.forEach((f, i) => {
    const name = BASE_CONVS[i].name;
    expected.set(`features.${f}.weight`, target.get(`${name}.weight`)!);
    expected.set(`features.${f}.bias`, target.get(`${name}.bias`)!);
  });
  expected.set("classifier.0.weight", [4096, 512 * 7 * 7]);
  expected.set("classifier.0.bias", [4096]);
  expected.set("classifier.3.weight", [4096, 4096]);
  expected.set("classifier.3.bias", [4096]);
  const relevant = new Map([...tensors].filter(([k]) => expected.has(k)));
  checkAgainst(source, relevant, expected, { requireAll: true });

  const out = new Map<string, NamedTensor>();
  VGG16_FEATURE_CONVS.forEach((f, i) => {
    const name = BASE_CONVS[i].name;
    for (const kind of ["weight", "bias"]) {
      const t = tensors.get(`features.${f}.${kind}`)!;
      out.set(`${name}.${kind}`, { shape: [...t.shape], data: t.data.slice() });
    }
  });
  const fc6 = tensors.get("classifier.0.weight")!;
  out.set("base.conv6.weight", decimate({ shape: [4096, 512, 7, 7], data: fc6.data }, [4, null, 3, 3]));
  out.set("base.conv6.bias", decimate(tensors.get("classifier.0.bias")!, [4]));
  const fc7 = tensors.get("classifier.3.weight")!;
  out.set("base.conv7.weight", decimate({ shape: [4096, 4096, 1, 1], data: fc7.data }, [4, 4, null, null]));
  out.set("base.conv7.bias", decimate(tensors.get("classifier.3.bias")!, [4]));
  return out;
}

/**
 * Overwrites some of the model's parameters from torch-layout tensors (e.g. the `base.*` of
 * {@link importTorchvisionVgg16}).
 * @throws StateDictError listing every unknown or mis-shaped key (nothing is assigned then)
 */
export function assignStateDict(
  model: SsdModel,
  tensors: Map<string, NamedTensor>,
  source = "state_dict",
): void {
  checkAgainst(source, tensors, torchParamShapes(model.nClasses), { requireAll: false });
  for (const [name, t] of tensors) {
    const x = toOurLayout(name, t);
    model.params.get(name)!.assign(x);
    x.dispose();
  }
}

/**
 * A fresh SSD300 whose VGG base comes from torchvision's ImageNet VGG16 (the reference's start for training);
 * aux/pred convs initialised as in {@link createSsd300}.
 */
export function createSsd300FromVgg16(
  nClasses: number,
  vgg16: Map<string, NamedTensor>,
  seed = 0,
  source = "vgg16",
): SsdModel {
  const base = importTorchvisionVgg16(vgg16, source);
  const model = createSsd300(nClasses, seed);
  assignStateDict(model, base, source);
  return model;
}

// ---------------------------------------------------------------------------------------------------------------
// Our weights format: `<name>.json` manifest + `<name>.bin` (float32 little-endian, our HWIO layout)

/** Format tag of our weights manifest. */
export const WEIGHTS_FORMAT = "ssd300-tfjs-weights";

const WeightsManifestSchema = z.object({
  format: z.literal(WEIGHTS_FORMAT),
  version: z.literal(1),
  n_classes: z.number().int().min(2),
  class_names: z.array(z.string()),
  layout: z.literal("hwio"),
  bin: z.string().min(1),
  bin_bytes: z.number().int().nonnegative(),
  bin_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  tensors: z.array(z.object({
    name: z.string(),
    shape: z.array(z.number().int().nonnegative()),
    offset: z.number().int().nonnegative(),
  })),
  /** anchor set the heads were trained against (lib/priors.ts); absent in older manifests = "reference" */
  anchors: z.enum(ANCHOR_SET_NAMES as [AnchorSetName, ...AnchorSetName[]]).optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
});
export type WeightsManifest = z.infer<typeof WeightsManifestSchema>;

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function binPathFor(manifestPath: string): string {
  return manifestPath.replace(/\.json$/, "") + ".bin";
}

/**
 * Saves the model in our format: `path` (JSON manifest: n_classes, class names, anchor set, tensor
 * names/shapes/offsets, sha256 of the data) and a sibling `.bin` with float32 values in our layout. Both are written atomically,
 * the `.bin` first, so a manifest always describes a complete data file.
 * @param path manifest path, conventionally ending in `.json`
 */
export async function saveWeights(
  path: string,
  model: SsdModel,
  meta?: Record<string, unknown>,
): Promise<void> {
  const names = [...paramShapes(model.nClasses).keys()];
  const total = names.reduce((s, n) => s + model.params.get(n)!.size, 0);
  const data = new Float32Array(total);
  const tensors: WeightsManifest["tensors"] = [];
  let offset = 0;
  for (const name of names) {
    const v = model.params.get(name);
    if (!v) throw new StateDictError("model", [name], [], []);
    data.set(v.dataSync() as Float32Array, offset);
    tensors.push({ name, shape: v.shape, offset: offset * 4 });
    offset += v.size;
  }
  const bytes = new Uint8Array(data.buffer);
  const binPath = binPathFor(path);
  await writeFileAtomic(binPath, bytes);
  await writeJsonArtifact(path, WeightsManifestSchema, {
    format: WEIGHTS_FORMAT,
    version: 1,
    n_classes: model.nClasses,
    class_names: [...classNames(model.nClasses)],
    layout: "hwio",
    bin: binPath.slice(binPath.lastIndexOf("/") + 1),
    bin_bytes: bytes.byteLength,
    bin_sha256: await sha256Hex(bytes),
    tensors,
    anchors: model.anchors ?? "reference",
    ...(meta ? { meta } : {}),
  });
}

/**
 * Loads a model saved by {@link saveWeights}, with its anchor set (a manifest without `anchors` predates the
 * field and loads as "reference").
 * @throws ArtifactError when the manifest or data file is invalid; StateDictError when tensors do not fit
 */
export async function loadWeights(path: string): Promise<SsdModel> {
  const manifest = await readJsonArtifact(path, WeightsManifestSchema);
  const dir = path.lastIndexOf("/") >= 0 ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  const binPath = dir + manifest.bin;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(binPath);
  } catch (e) {
    throw new ArtifactError(path, [`field bin: cannot read ${binPath}: ${(e as Error).message}`]);
  }
  if (bytes.byteLength !== manifest.bin_bytes) {
    throw new ArtifactError(path, [
      `field bin_bytes: ${binPath} has ${bytes.byteLength} bytes (got ${manifest.bin_bytes})`,
    ]);
  }
  if (await sha256Hex(bytes) !== manifest.bin_sha256) {
    throw new ArtifactError(path, [
      `field bin_sha256: ${binPath} does not match (got ${manifest.bin_sha256})`,
    ]);
  }
  const expected = paramShapes(manifest.n_classes);
  const byName = new Map(manifest.tensors.map((t) => [t.name, t]));
  const missing = [...expected.keys()].filter((k) => !byName.has(k));
  const unexpected = [...byName.keys()].filter((k) => !expected.has(k));
  const mismatched: ShapeMismatch[] = [];
  for (const [name, t] of byName) {
    const e = expected.get(name);
    if (e && (e.length !== t.shape.length || e.some((d, i) => d !== t.shape[i]))) {
      mismatched.push({ name, expected: e, got: t.shape });
    }
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset % 4 !== 0 || t.offset + n * 4 > bytes.byteLength) {
      throw new ArtifactError(path, [
        `field tensors.${name}.offset: out of range of ${binPath} (got ${t.offset})`,
      ]);
    }
  }
  if (missing.length || unexpected.length || mismatched.length) {
    throw new StateDictError(path, missing, unexpected, mismatched);
  }
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const floats = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of expected) {
    const t = byName.get(name)!;
    const n = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(floats.subarray(t.offset / 4, t.offset / 4 + n), shape, "float32");
    params.set(name, tf.variable(x, true));
    x.dispose();
  }
  return { nClasses: manifest.n_classes, params, anchors: manifest.anchors ?? "reference" };
}

/** True when `bytes` look like our JSON weights manifest rather than a torch file. */
function looksLikeJson(bytes: Uint8Array): boolean {
  for (const b of bytes.subarray(0, 64)) {
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
    return b === 0x7b; // "{"
  }
  return false;
}

/**
 * Loads a full SSD300 from a `.pth`/`.pth.tar` reference checkpoint (zip or legacy, via `readStateDict`: refuses
 * pickles that would run code unless `opts.trustCheckpoint`, strips a DataParallel prefix telling `opts.onNote`)
 * or from our weights manifest (`.json`).
 * @throws WrongModelError when it is another model's; StateDictError (listing every problem) when a torch file is
 *   not a full SSD300 state_dict
 */
export async function loadCheckpointFile(path: string, opts: CheckpointOptions = {}): Promise<SsdModel> {
  const bytes = await Deno.readFile(path);
  if (looksLikeJson(bytes)) return await loadWeights(path);
  return modelFromStateDict(readStateDict(bytes, path, "ssd300", opts), path);
}
