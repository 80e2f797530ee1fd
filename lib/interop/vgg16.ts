/**
 * The ImageNet VGG16 start of the reference's training: torchvision's VGG16 state_dict → the SSD300 base
 * (`load_pretrained_layers`: 13 convs copied, fc6/fc7 decimated into conv6/conv7).
 * @module
 */
import { BASE_CONVS, createSsd300, type SsdModel } from "../ssd/mod.ts";
import type { NamedTensor } from "../torch/mod.ts";
import { checkModelIdentity } from "./identify.ts";
import { assignStateDict, checkAgainst, torchParamShapes } from "./state_dict.ts";

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
  file = "vgg16",
): Map<string, NamedTensor> {
  checkModelIdentity(file, "vgg16", tensors);
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
  checkAgainst(file, relevant, expected, { requireAll: true });

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
 * A fresh SSD300 whose VGG base comes from torchvision's ImageNet VGG16 (the reference's start for training);
 * aux/pred convs initialised as in {@link createSsd300}.
 */
export function createSsd300FromVgg16(
  nClasses: number,
  vgg16: Map<string, NamedTensor>,
  seed = 0,
  file = "vgg16",
): SsdModel {
  const base = importTorchvisionVgg16(vgg16, file);
  const model = createSsd300(nClasses, seed);
  assignStateDict(model, base, file);
  return model;
}
