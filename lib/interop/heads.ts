/**
 * Head surgery: a model with other prediction heads (`pred_convs.*`), from a heads file (the reference's
 * `person_heads.pth`, a legacy module-relative one too) or derived from the 21-class VOC heads for a
 * single-class model (`person`, or any VOC class).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  BACKGROUND_CLASS,
  cloneModel,
  paramShapes,
  predConvs,
  type SsdModel,
  VOC_LABELS,
  VOC_PERSON_CLASS,
  xavierUniformHwio,
} from "../ssd/mod.ts";
import type { NamedTensor } from "../torch/mod.ts";
import {
  checkAgainst,
  headsWithPrefix,
  stateDictClasses,
  toOurLayout,
  torchParamShapes,
} from "./state_dict.ts";

/** `{ priorSet }` when the model has an prior set, else nothing (spread into a new model). */
function priorSetOf(model: SsdModel): Pick<SsdModel, "priorSet"> {
  return model.priorSet === undefined ? {} : { priorSet: model.priorSet };
}

/**
 * A new model with the base and aux convs of `model` and the prediction heads of `heads` (names `pred_convs.*`
 * or module-relative `loc_conv4_3.weight` …, as in a legacy heads file). The class count comes from the heads;
 * the prior set is `model`'s (heads files carry none).
 * @throws StateDictError listing every missing / unexpected / mis-shaped head key
 */
export function mergeHeads(model: SsdModel, heads: Map<string, NamedTensor>, file = "heads"): SsdModel {
  const prefixed = headsWithPrefix(heads);
  const nClasses = stateDictClasses(prefixed);
  const expected = new Map([...torchParamShapes(nClasses ?? 2)].filter(([k]) => k.startsWith("pred_convs.")));
  checkAgainst(file, prefixed, expected, { requireAll: true });
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of model.params) {
    if (!name.startsWith("pred_convs.")) params.set(name, tf.variable(v.clone(), v.trainable));
  }
  for (const name of expected.keys()) {
    const t = toOurLayout(name, prefixed.get(name)!);
    params.set(name, tf.variable(t, true));
    t.dispose();
  }
  return { nClasses: nClasses!, params, ...priorSetOf(model) };
}

/** VOC class id (`voc_labels` index, 1..20) of a category name, or null when VOC has no class of that name. */
export function vocClassOf(name: string): number | null {
  const id = VOC_LABELS.indexOf(name.trim().toLowerCase());
  return id > 0 ? id : null;
}

/**
 * A 2-class (`background`, one object class) model from a VOC model: base, aux convs and rescale copied.
 * - `voc` (class `vocClass`, default person) and its alias `voc-person`: each cl_conv keeps, for every box slot
 *   b, channels b·21+0 (background) and b·21+vocClass; the loc convs are copied unchanged.
 * - `random`: all prediction convs re-initialised as the reference does (xavier-uniform weights, zero bias).
 * A model that already has 2 classes is returned as a copy (its heads kept). The prior set is kept.
 * Every parameter gets its own freshly allocated buffer (the WASM FusedConv2D kernel rejects a bias variable
 * made straight from `tf.gather` output: "only supports rank-1 bias but got rank 4").
 * @param seed seed of the `random` initialisation
 * @param vocClass the VOC class id `voc` keeps (1..20; `voc-person` always keeps {@link VOC_PERSON_CLASS})
 */
export function toSingleClass(
  model: SsdModel,
  headInit: "random" | "voc" | "voc-person",
  seed = 0,
  vocClass = VOC_PERSON_CLASS,
): SsdModel {
  if (model.nClasses === 2) return cloneModel(model);
  if (headInit !== "random" && model.nClasses !== VOC_LABELS.length) {
    throw new RangeError(
      `toSingleClass: ${headInit} needs a ${VOC_LABELS.length}-class model, got ${model.nClasses}`,
    );
  }
  const keepClass = headInit === "voc-person" ? VOC_PERSON_CLASS : vocClass;
  if (!(Number.isInteger(keepClass) && keepClass > 0 && keepClass < VOC_LABELS.length)) {
    throw new RangeError(`toSingleClass: VOC class id must be 1..${VOC_LABELS.length - 1}, got ${keepClass}`);
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
      const keep: number[] = []; // for each box slot: its background and object channels of the 21-class conv
      for (let s = 0; s < boxes; s++) keep.push(s * 21 + BACKGROUND_CLASS, s * 21 + keepClass);
      // picked on the host into new tensors (variables must not share a gathered tensor's backend data); the
      // loaded model's values are on the host on every backend (lib/interop/state_dict.ts `toOurLayout`)
      w = tf.tensor(
        keepLastAxis(model.params.get(`${c.name}.weight`)!.dataSync(), 21 * boxes, keep),
        [c.k, c.k, c.inC, c.outC],
      ); // [3, 3, in, boxes·2]
      b = tf.tensor(keepLastAxis(model.params.get(`${c.name}.bias`)!.dataSync(), 21 * boxes, keep), [c.outC]);
    }
    params.set(`${c.name}.weight`, tf.variable(w, true));
    params.set(`${c.name}.bias`, tf.variable(b, true));
    tf.dispose([w, b]);
  });
  // keep the reference's state_dict order
  const ordered = new Map([...paramShapes(2).keys()].map((k) => [k, params.get(k)!]));
  return { nClasses: 2, params: ordered, ...priorSetOf(model) };
}

/** The entries `keep` of every row of a row-major array whose last axis has `width` entries. */
function keepLastAxis(src: ArrayLike<number>, width: number, keep: readonly number[]): Float32Array {
  const rows = src.length / width;
  const out = new Float32Array(rows * keep.length);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < keep.length; j++) out[r * keep.length + j] = src[r * width + keep[j]];
  }
  return out;
}
