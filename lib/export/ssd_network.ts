/**
 * The SSD300 network of lib/ssd/model.ts `ssdForward` as one walk over its layer tables (`BASE_CONVS`, the
 * pools after conv1_2, 2_2, 3_3, 4_3, 5_3, the conv4_3 L2 norm, `AUX_CONVS`, the heads of `predConvs`), shared
 * by the exported graphs: lib/export/ssd_graph.ts (TF GraphDef, NHWC) and lib/export/onnx_graph.ts (ONNX,
 * NCHW) each supply their own ops for the steps; the order, the feature maps and the spatial sides come from
 * here. Pools are given in torch's terms (kernel, stride, symmetric padding, ceil mode).
 * @module
 */
import { AUX_CONVS, BASE_CONVS, type ConvSpec, predConvs } from "../ssd/model.ts";
import { BOXES_PER_LOCATION, N_PRIORS, PRIOR_MAPS } from "../ssd/priors.ts";
import { SSD_INPUT_SIDE } from "../ssd/preprocess.ts";

/** A max-pool of the reference's `VGGBase` (torch's `nn.MaxPool2d` arguments). */
export interface PoolSpec {
  name: string;
  k: number;
  stride: number;
  /** symmetric zero padding (never counted in the max) */
  pad: number;
  /** torch's ceil_mode: an overhanging last window counts */
  ceilMode: boolean;
}

/** The pools of `VGGBase`, keyed by the conv they follow. */
export const POOLS_AFTER: Readonly<Record<string, PoolSpec>> = {
  "base.conv1_2": { name: "base.pool1", k: 2, stride: 2, pad: 0, ceilMode: false }, // 300 → 150
  "base.conv2_2": { name: "base.pool2", k: 2, stride: 2, pad: 0, ceilMode: false }, // 150 → 75
  "base.conv3_3": { name: "base.pool3", k: 2, stride: 2, pad: 0, ceilMode: true }, // 75 → 38
  "base.conv4_3": { name: "base.pool4", k: 2, stride: 2, pad: 0, ceilMode: false }, // 38 → 19
  "base.conv5_3": { name: "base.pool5", k: 3, stride: 1, pad: 1, ceilMode: false }, // 19 → 19
};

/** Output side of torch's conv: ⌊(in + 2·pad − dilation·(k − 1) − 1) / stride⌋ + 1. */
export function torchConvSide(side: number, c: ConvSpec): number {
  return Math.floor((side + 2 * c.pad - c.dilation * (c.k - 1) - 1) / c.stride) + 1;
}

/** Output side of torch's max-pool: (in + 2·pad − k) / stride + 1, rounded down, or up in ceil mode. */
export function torchPoolSide(side: number, p: PoolSpec): number {
  const steps = (side + 2 * p.pad - p.k) / p.stride;
  return (p.ceilMode ? Math.ceil(steps) : Math.floor(steps)) + 1;
}

/**
 * The ops of one graph format. `T` is how that format names a tensor (a node name); each call adds nodes and
 * returns the name of the result.
 */
export interface NetworkOps<T> {
  /** conv + bias (+ ReLU when `c.relu`) on a side × side map */
  conv(c: ConvSpec, x: T, side: number): T;
  pool(p: PoolSpec, x: T, side: number): T;
  /** conv4_3 (38 × 38 × 512) divided by its L2 norm over channels, times `rescale_factors` */
  l2norm(conv43: T): T;
  /**
   * A prediction head: conv `c` on the feature map, then its boxes in the reference's prior order (row,
   * column, box: `permute(0, 2, 3, 1).view(N, −1, width)`) as [N, priors, width]
   */
  head(c: ConvSpec, map: T, side: number, priors: number, width: number): T;
  /** the heads' outputs joined along the prior axis: [N, 8732, width] */
  concat(name: "locs" | "scores", parts: T[]): T;
}

/**
 * Walks the network from the [N, 300, 300, 3] (or NCHW) image `input` through `ops`.
 * @returns the `locs` [N, 8732, 4] offsets and `scores` [N, 8732, nClasses] logits, as `ops.concat` named them
 */
export function walkSsdNetwork<T>(nClasses: number, input: T, ops: NetworkOps<T>): { locs: T; scores: T } {
  let x = input, side = SSD_INPUT_SIDE;
  let conv43 = x;
  for (const c of BASE_CONVS) {
    x = ops.conv(c, x, side);
    side = torchConvSide(side, c);
    if (c.name === "base.conv4_3") conv43 = x; // 38 × 38 × 512
    const p = POOLS_AFTER[c.name];
    if (p) {
      x = ops.pool(p, x, side);
      side = torchPoolSide(side, p);
    }
  }
  const maps = [{ x: ops.l2norm(conv43), side: PRIOR_MAPS[0].size }, { x, side }]; // conv7: 19 × 19 × 1024
  for (let i = 0; i < AUX_CONVS.length; i += 2) {
    for (const c of [AUX_CONVS[i], AUX_CONVS[i + 1]]) {
      x = ops.conv(c, x, side);
      side = torchConvSide(side, c);
    }
    maps.push({ x, side }); // conv8_2 10², conv9_2 5², conv10_2 3², conv11_2 1²
  }
  const heads = predConvs(nClasses);
  const locParts: T[] = [], scoreParts: T[] = [];
  maps.forEach((m, i) => {
    if (m.side !== PRIOR_MAPS[i].size) {
      throw new Error(`internal: feature map ${PRIOR_MAPS[i].name} is ${m.side}×${m.side}`);
    }
    const priors = m.side * m.side * BOXES_PER_LOCATION[i];
    locParts.push(ops.head(heads[i], m.x, m.side, priors, 4));
    scoreParts.push(ops.head(heads[i + maps.length], m.x, m.side, priors, nClasses));
  });
  const total = PRIOR_MAPS.reduce((s, m, i) => s + m.size * m.size * BOXES_PER_LOCATION[i], 0);
  if (total !== N_PRIORS) throw new Error(`internal: ${total} priors, expected ${N_PRIORS}`);
  return { locs: ops.concat("locs", locParts), scores: ops.concat("scores", scoreParts) };
}

/** Priors [8732 * 4] (cx, cy, w, h) → centres and sizes, [8732 * 2] each. */
export function splitPriors(priorsCxcy: Float32Array): { centres: Float32Array; sizes: Float32Array } {
  if (priorsCxcy.length !== N_PRIORS * 4) {
    throw new RangeError(`priors: ${priorsCxcy.length / 4}, expected ${N_PRIORS}`);
  }
  const centres = new Float32Array(N_PRIORS * 2), sizes = new Float32Array(N_PRIORS * 2);
  for (let p = 0; p < N_PRIORS; p++) {
    centres.set(priorsCxcy.subarray(p * 4, p * 4 + 2), p * 2);
    sizes.set(priorsCxcy.subarray(p * 4 + 2, p * 4 + 4), p * 2);
  }
  return { centres, sizes };
}
