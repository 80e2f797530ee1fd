/**
 * Our weights format: `<name>.json` manifest (`weights.json`: n_classes, class names, prior set, tensor names,
 * shapes and offsets, sha256 of the data) + `<name>.bin` (float32 little-endian, our HWIO layout). The schema
 * is defined here, beside its writer {@link saveWeights}, and read by {@link loadWeights}.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import {
  ArtifactError,
  readJsonArtifact,
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
import { checkShapes, StateDictError } from "./state_dict.ts";

/** Format tag of our weights manifest. */
export const WEIGHTS_FORMAT = "ssd300-tfjs-weights";

/** `weights.json`: what {@link saveWeights} writes and {@link loadWeights} reads. */
export const WeightsManifestSchema = z.object({
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
  /** prior set the heads were trained against (lib/ssd/priors.ts); absent in older manifests = "reference" */
  prior_set: z.enum(PRIOR_SET_NAMES as [PriorSetName, ...PriorSetName[]]).optional(),
  /** the same, as manifests before the one-word rename wrote it */
  anchors: z.enum(PRIOR_SET_NAMES as [PriorSetName, ...PriorSetName[]]).optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
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
 * Loads a model saved by {@link saveWeights}, with its prior set (a manifest without `prior_set` (or its older name `anchors`) predates the
 * field and loads as "reference") and its class names (`class_names`, when one per class).
 * @throws ArtifactError when the manifest or data file is invalid; StateDictError when tensors do not fit
 */
export async function loadWeights(path: string): Promise<SsdModel> {
  const manifest = await readJsonArtifact(path, WeightsManifestSchema);
  const binPath = join(dirname(path), manifest.bin);
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
  for (const [name, t] of byName) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset % 4 !== 0 || t.offset + n * 4 > bytes.byteLength) {
      throw new ArtifactError(path, [
        `field tensors.${name}.offset: out of range of ${binPath} (got ${t.offset})`,
      ]);
    }
  }
  checkShapes(path, new Map(manifest.tensors.map((t) => [t.name, t.shape])), expected, { requireAll: true });
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
  return {
    nClasses: manifest.n_classes,
    params,
    priorSet: manifest.prior_set ?? manifest.anchors ?? "reference",
    ...(ownClassNames(manifest) ? { classNames: manifest.class_names } : {}),
  };
}
