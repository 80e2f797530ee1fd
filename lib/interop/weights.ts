/**
 * Our weights format: `<name>.json` manifest (`weights.json`: n_classes, class names, prior set, tensor names,
 * shapes and offsets, sha256 of the data) + `<name>.bin` (float32 little-endian, our HWIO layout). The schema
 * is defined here, beside its writer {@link saveWeights}, and read by {@link loadWeights}, which trusts nothing
 * in it: `bin` must be a plain file name in the manifest's folder, `class_names` one name per class, the tensor
 * table exactly the model's (names, shapes, in-range non-overlapping offsets), the data a regular file of exactly
 * `bin_bytes` with its SHA-256, and every value finite.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import {
  ArtifactError,
  FileReadError,
  formatBytes,
  READ_LIMITS,
  readJsonArtifact,
  readRegularFile,
  sha256Hex,
  writeFileAtomic,
  writeJsonArtifact,
} from "../core/mod.ts";
import {
  classNames,
  modelClassNames,
  paramShapes,
  PRIOR_SET_NAMES,
  type PriorSetName,
  type SsdModel,
} from "../ssd/mod.ts";
import { checkFinite, checkShapes, StateDictError } from "./state_dict.ts";

/** Format tag of our weights manifest. */
export const WEIGHTS_FORMAT = "ssd300-tfjs-weights";

/** A file name without a folder: what `bin` must be (the data file lies beside its manifest). */
const PLAIN_FILE_NAME = /^(?!\.\.?$)[^/\\\0]+$/;

/** `weights.json`: what {@link saveWeights} writes and {@link loadWeights} reads. */
export const WeightsManifestSchema = z.object({
  format: z.literal(WEIGHTS_FORMAT),
  version: z.literal(1),
  n_classes: z.number().int().min(2),
  /** one per class, background first */
  class_names: z.array(z.string()),
  layout: z.literal("hwio"),
  /** the data file's name, in the manifest's folder */
  bin: z.string().regex(PLAIN_FILE_NAME, {
    message: "must be a plain file name in the manifest's folder (no /, \\, .. or NUL)",
  }),
  bin_bytes: z.number().int().nonnegative(),
  bin_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  tensors: z.array(z.object({
    name: z.string(),
    shape: z.array(z.number().int().nonnegative()),
    offset: z.number().int().nonnegative(),
  })),
  /** prior set the heads were trained against (lib/ssd/priors.ts); absent in older manifests = "reference" */
  prior_set: z.enum(PRIOR_SET_NAMES as [PriorSetName, ...PriorSetName[]]).optional(),
  /** the same, as manifests before the one-word rename wrote it */
  anchors: z.enum(PRIOR_SET_NAMES as [PriorSetName, ...PriorSetName[]]).optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
}).superRefine((m, ctx) => {
  if (m.class_names.length !== m.n_classes) {
    ctx.addIssue({
      code: "custom",
      path: ["class_names"],
      message: `${m.class_names.length} names for n_classes ${m.n_classes} (one per class, background first)`,
    });
  }
});
export type WeightsManifest = z.infer<typeof WeightsManifestSchema>;

function binPathFor(manifestPath: string): string {
  return manifestPath.replace(/\.json$/, "") + ".bin";
}

/**
 * Saves the model in our format: `path` (JSON manifest: n_classes, class names, prior set, tensor
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
    data.set(await v.data() as Float32Array, offset);
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
    class_names: [...modelClassNames(model)],
    layout: "hwio",
    bin: basename(binPath),
    bin_bytes: bytes.byteLength,
    bin_sha256: await sha256Hex(bytes),
    tensors,
    prior_set: model.priorSet ?? "reference",
    ...(meta ? { meta } : {}),
  });
}

/**
 * Whether the manifest names its classes itself: one name per class, other than the defaults of `classNames`
 * (VOC, `person`, or the placeholder `class_<id>` names, which say nothing).
 */
function ownClassNames(m: WeightsManifest): boolean {
  const defaults = classNames(m.n_classes);
  return m.class_names.length === m.n_classes && m.class_names.some((n, i) => n !== defaults[i]);
}

/**
 * The manifest's tensor table checked against the model of its `n_classes`: each name once, exactly the model's
 * names and shapes ({@link checkShapes}), offsets aligned, inside `bin_bytes` and not overlapping, and
 * `bin_bytes` the size of that model's data.
 * @returns the tensors by name
 * @throws ArtifactError naming the field; StateDictError listing the names and shapes that do not fit
 */
function checkTensorTable(path: string, m: WeightsManifest): Map<string, WeightsManifest["tensors"][number]> {
  const fail = (field: string, problem: string): never => {
    throw new ArtifactError(path, [`field ${field}: ${problem}`]);
  };
  const expected = paramShapes(m.n_classes);
  const byName = new Map<string, WeightsManifest["tensors"][number]>();
  for (const t of m.tensors) {
    if (byName.has(t.name)) fail("tensors", `${t.name} is listed twice`);
    byName.set(t.name, t);
  }
  checkShapes(path, new Map(m.tensors.map((t) => [t.name, t.shape])), expected, { requireAll: true });
  const needed = [...expected.values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (needed > READ_LIMITS.model.maxBytes) {
    fail(
      "n_classes",
      `a ${m.n_classes}-class SSD300 needs ${formatBytes(needed)} of weights, over the limit`,
    );
  }
  if (m.bin_bytes !== needed) {
    fail("bin_bytes", `the ${m.n_classes}-class SSD300's tensors take ${needed} bytes (got ${m.bin_bytes})`);
  }
  let end = 0;
  for (const t of [...m.tensors].sort((a, b) => a.offset - b.offset)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset % 4 !== 0 || t.offset < end || t.offset + n * 4 > m.bin_bytes) {
      fail(`tensors.${t.name}.offset`, `not aligned, overlapping or outside ${m.bin} (got ${t.offset})`);
    }
    end = t.offset + n * 4;
  }
  return byName;
}

/**
 * Loads a model saved by {@link saveWeights}, with its prior set (a manifest without `prior_set` (or its older
 * name `anchors`) predates the field and loads as "reference") and its class names (`class_names`).
 * Everything is checked before use (see the module doc).
 * @throws ArtifactError when the manifest or data file is invalid; StateDictError when tensors do not fit;
 *   NonFiniteWeightsError naming every tensor with NaN or infinite values
 */
export async function loadWeights(path: string): Promise<SsdModel> {
  const manifest = await readJsonArtifact(path, WeightsManifestSchema);
  const byName = checkTensorTable(path, manifest);
  const binPath = join(dirname(path), manifest.bin);
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(binPath, {
      maxBytes: manifest.bin_bytes,
      what: `the weights data of ${basename(path)} (bin_bytes)`,
    });
  } catch (e) {
    if (!(e instanceof FileReadError)) throw e;
    throw new ArtifactError(path, [`field bin: ${binPath}: ${e.reason}`]);
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
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const floats = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  const data = new Map([...expected].map(([name, shape]) => {
    const t = byName.get(name)!;
    return [name, floats.subarray(t.offset / 4, t.offset / 4 + shape.reduce((a, b) => a * b, 1))] as const;
  }));
  checkFinite(binPath, data);
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of expected) {
    const x = tf.tensor(data.get(name)!, shape, "float32");
    params.set(name, tf.variable(x, true));
    x.dispose();
  }
  return {
    nClasses: manifest.n_classes,
    params,
    priorSet: manifest.prior_set ?? manifest.anchors ?? "reference",
    ...(ownClassNames(manifest) ? { classNames: manifest.class_names } : {}),
  };
}
