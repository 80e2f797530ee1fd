/**
 * The reference's PyTorch state_dict ↔ our model: names (`base.conv1_1.weight` … `rescale_factors`,
 * `aux_convs.*`, `pred_convs.*`, in state_dict order) and layouts (torch OIHW weights and [1, 512, 1, 1] rescale
 * vs our HWIO and [1, 1, 1, 512]), with every mismatch between a state_dict and the model reported at once, and
 * weights with NaN or infinite values refused naming the tensor ({@link checkFinite}).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { bulletList, inlineList, InputError, transpose4d } from "../core/mod.ts";
import { BOXES_PER_LOCATION, paramShapes, type SsdModel } from "../ssd/mod.ts";
import type { NamedTensor } from "../torch/mod.ts";
import { checkModelIdentity } from "./identify.ts";

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
    readonly file: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: ShapeMismatch[],
  ) {
    const lines = [
      ...missing.map((k) => `missing key ${k}`),
      ...unexpected.map((k) => `unexpected key ${k}`),
      ...mismatched.map((m) => `shape mismatch for ${m.name}: expected [${m.expected}], got [${m.got}]`),
    ];
    super(`${file}: state_dict does not fit SSD300 (${lines.length} problems):${bulletList(lines)}`);
  }
}

/** One tensor's non-finite values: how many, and the first one's flat index and value. */
export interface NonFiniteTensor {
  name: string;
  count: number;
  index: number;
  value: number;
}

/** Weights with NaN or ±Infinity values (a corrupt file, or a diverged training): names every such tensor. */
export class NonFiniteWeightsError extends InputError {
  override name = "NonFiniteWeightsError";
  constructor(readonly file: string, readonly tensors: NonFiniteTensor[]) {
    const each = tensors.map((t) =>
      `${t.name} (${t.count} non-finite, the first ${t.value} at index ${t.index})`
    );
    super(`${file}: non-finite weights in ${tensors.length} tensor(s): ${inlineList(each, "; ")}`);
  }
}

/** The non-finite values of `data`: their count and the first one's index and value (null: none). */
export function nonFiniteValues(
  data: ArrayLike<number>,
): { count: number; index: number; value: number } | null {
  let count = 0, index = -1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) { // NaN or ±Infinity (Infinity − Infinity is NaN)
      if (count++ === 0) index = i;
    }
  }
  return count === 0 ? null : { count, index, value: data[index] };
}

/**
 * Refuses weights with NaN or ±Infinity values, naming each such tensor.
 * @param tensors name → values
 * @throws NonFiniteWeightsError naming `file` and every non-finite tensor
 */
export function checkFinite(file: string, tensors: Iterable<readonly [string, ArrayLike<number>]>): void {
  const bad: NonFiniteTensor[] = [];
  for (const [name, data] of tensors) {
    const found = nonFiniteValues(data);
    if (found) bad.push({ name, ...found });
  }
  if (bad.length > 0) throw new NonFiniteWeightsError(file, bad);
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

/**
 * Checks parameter shapes by name against the expected ones; collects every problem.
 * @param file names the file (or what) the shapes come from, in the error
 * @throws StateDictError listing every missing (when `requireAll`), unexpected and mis-shaped name
 */
export function checkShapes(
  file: string,
  shapes: ReadonlyMap<string, readonly number[]>,
  expected: ReadonlyMap<string, number[]>,
  opts: { requireAll: boolean },
): void {
  const missing = opts.requireAll ? [...expected.keys()].filter((k) => !shapes.has(k)) : [];
  const unexpected = [...shapes.keys()].filter((k) => !expected.has(k));
  const mismatched: ShapeMismatch[] = [];
  for (const [name, got] of shapes) {
    const e = expected.get(name);
    if (e && (e.length !== got.length || e.some((d, i) => d !== got[i]))) {
      mismatched.push({ name, expected: e, got: [...got] });
    }
  }
  if (missing.length || unexpected.length || mismatched.length) {
    throw new StateDictError(file, missing, unexpected, mismatched);
  }
}

/**
 * {@link checkShapes} of torch-layout tensors (a tensor whose data does not fill its shape counts as shaped
 * [its data length]), then {@link checkFinite} of their values.
 * @throws StateDictError, NonFiniteWeightsError
 */
export function checkAgainst(
  file: string,
  tensors: ReadonlyMap<string, NamedTensor>,
  expected: ReadonlyMap<string, number[]>,
  opts: { requireAll: boolean },
): void {
  const shapes = new Map(
    [...tensors].map((
      [k, t],
    ) => [k, t.data.length === t.shape.reduce((a, b) => a * b, 1) ? t.shape : [t.data.length]]),
  );
  checkShapes(file, shapes, expected, opts);
  checkFinite(file, [...tensors].map(([k, t]) => [k, t.data] as const));
}

/**
 * One torch-layout tensor → a tf tensor in our layout (the caller disposes it). Conv weights are transposed here
 * on the CPU, so that a loaded model's values are on the host on every backend (a GPU backend reads back
 * asynchronously only; lib/interop/heads.ts reads them synchronously).
 */
export function toOurLayout(name: string, t: NamedTensor): tf.Tensor {
  if (name === "rescale_factors") return tf.tensor(t.data, [1, 1, 1, t.shape[1]], "float32"); // [1, 512, 1, 1]
  if (t.shape.length === 4) {
    return tf.tensor(
      oihwToHwio(t.data, t.shape),
      OIHW_TO_HWIO.map((a) => t.shape[a]),
    );
  }
  return tf.tensor(t.data, t.shape, "float32");
}

/** OIHW → HWIO of a float32 array (the permutation {@link OIHW_TO_HWIO}). */
function oihwToHwio(src: ArrayLike<number>, shape: readonly number[]): Float32Array {
  return transpose4d(src, shape, OIHW_TO_HWIO);
}

/** Our variable → a torch-layout NamedTensor (a copy, read back with `await data()`). */
async function toTorchLayout(name: string, v: tf.Tensor): Promise<NamedTensor> {
  const shape = torchShape(name, v.shape);
  if (v.rank === 4 && name !== "rescale_factors") {
    const t = tf.transpose(v, HWIO_TO_OIHW); // HWIO → OIHW
    try {
      return { shape, data: Float32Array.from(await t.data() as Float32Array) };
    } finally {
      t.dispose();
    }
  }
  return { shape, data: Float32Array.from(await v.data() as Float32Array) };
}

/**
 * Builds a model from a full reference state_dict (torch layout). The number of classes comes from
 * `pred_convs.cl_conv4_3.weight` (21-class VOC and 2-class person checkpoints are both recognised). A state_dict
 * carries no prior set: the model gets the reference's (`priorSet` undefined); a `.pth` exported from a run with
 * `--priors pedestrian` must be paired with that set by hand (our weights manifest records it).
 * @throws StateDictError listing all missing / unexpected / mis-shaped keys together
 */
export function modelFromStateDict(tensors: Map<string, NamedTensor>, file = "state_dict"): SsdModel {
  checkModelIdentity(file, "ssd300", tensors);
  const prefixed = headsWithPrefix(tensors);
  const nClasses = stateDictClasses(prefixed);
  const expected = torchParamShapes(nClasses ?? 21);
  checkAgainst(file, prefixed, expected, { requireAll: true });
  const params = new Map<string, tf.Variable>();
  for (const name of expected.keys()) {
    const t = toOurLayout(name, prefixed.get(name)!);
    params.set(name, tf.variable(t, true));
    t.dispose();
  }
  return { nClasses: nClasses!, params };
}

/** The model's parameters as a reference state_dict (torch layout, reference names and order). */
export async function modelToStateDict(model: SsdModel): Promise<Map<string, NamedTensor>> {
  const out = new Map<string, NamedTensor>();
  for (const name of torchParamShapes(model.nClasses).keys()) {
    const v = model.params.get(name);
    if (!v) throw new StateDictError("model", [name], [], []);
    out.set(name, await toTorchLayout(name, v));
  }
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
  file = "state_dict",
): void {
  checkAgainst(file, tensors, torchParamShapes(model.nClasses), { requireAll: false });
  for (const [name, t] of tensors) {
    const x = toOurLayout(name, t);
    model.params.get(name)!.assign(x);
    x.dispose();
  }
}
