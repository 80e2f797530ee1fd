/**
 * The 8732 SSD300 prior (default) boxes, exactly as the reference's `create_prior_boxes` builds them, and the
 * named prior sets (the reference's and `pedestrian`).
 * @module
 */

/** One feature map the priors are laid on: its side in cells, its object scale and its aspect ratios. */
export interface PriorMapSpec {
  name: string;
  /** feature map side (cells), e.g. 38 for conv4_3 */
  size: number;
  /** object scale s_k as a fraction of the image side */
  scale: number;
  /** aspect ratios w/h; ratio 1 also gets the extra √(s_k·s_{k+1}) box */
  aspectRatios: readonly number[];
}

/** Feature maps, scales and aspect ratios of the reference (`fmap_dims`, `obj_scales`, `aspect_ratios`). */
export const PRIOR_MAPS: readonly PriorMapSpec[] = [
  { name: "conv4_3", size: 38, scale: 0.1, aspectRatios: [1, 2, 0.5] },
  { name: "conv7", size: 19, scale: 0.2, aspectRatios: [1, 2, 3, 0.5, 0.333] },
  { name: "conv8_2", size: 10, scale: 0.375, aspectRatios: [1, 2, 3, 0.5, 0.333] },
  { name: "conv9_2", size: 5, scale: 0.55, aspectRatios: [1, 2, 3, 0.5, 0.333] },
  { name: "conv10_2", size: 3, scale: 0.725, aspectRatios: [1, 2, 0.5] },
  { name: "conv11_2", size: 1, scale: 0.9, aspectRatios: [1, 2, 0.5] },
];

/**
 * An alternative prior set for pedestrians (`--priors pedestrian`), with the same number of boxes per location
 * as the reference so that the prediction heads keep their shapes. Penn-Fudan's 423 boxes, as fractions of the
 * (squashed) 300×300 input, have w/h between 0.17 and 0.49 for 90% of them (median 0.28, measured from the
 * prepared dataset.json); the reference's wide ratios 2 and 3 never match a pedestrian at IoU 0.5. Here every
 * ratio is tall (≤ 1), spread log-evenly over that range; ratio 1 (and its extra box) is kept for heads and
 * crowds.
 */
export const PEDESTRIAN_PRIOR_MAPS: readonly PriorMapSpec[] = PRIOR_MAPS.map((m) => ({
  ...m,
  // 3 ratios (4 boxes) on conv4_3, conv10_2, conv11_2; 5 ratios (6 boxes) elsewhere, as in the reference
  aspectRatios: m.aspectRatios.length === 3 ? [1, 0.45, 0.25] : [1, 0.5, 0.37, 0.28, 0.2],
}));

/** Named prior sets: `reference` (the homework's) and `pedestrian` (tall boxes only). */
export const PRIOR_SETS = {
  reference: PRIOR_MAPS,
  pedestrian: PEDESTRIAN_PRIOR_MAPS,
} as const satisfies Record<string, readonly PriorMapSpec[]>;
export type PriorSetName = keyof typeof PRIOR_SETS;
export const PRIOR_SET_NAMES = Object.keys(PRIOR_SETS) as PriorSetName[];

/** Boxes per feature-map location: one per aspect ratio plus the extra ratio-1 box (4, 6, 6, 6, 4, 4). */
export const BOXES_PER_LOCATION: readonly number[] = PRIOR_MAPS.map((m) => m.aspectRatios.length + 1);

/** Number of priors: Σ size² · boxes = 38²·4 + 19²·6 + 10²·6 + 5²·6 + 3²·4 + 1²·4. */
export const N_PRIORS = 8732;

/**
 * Builds the priors in the reference's order (map by map, row i, column j, then aspect ratios with the extra
 * box right after ratio 1). Arithmetic in float64 like Python, rounded once to float32, then clamped to [0, 1]
 * (`prior_boxes.clamp_(0, 1)`).
 * @param priorSet which prior set (default the reference's)
 * @throws RangeError for a name that is not in {@link PRIOR_SETS}
 * @returns Float32Array [8732 * 4]: fractional (cx, cy, w, h) per prior
 */
export function createPriorsCxcy(priorSet: PriorSetName = "reference"): Float32Array {
  const maps = PRIOR_SETS[priorSet];
  if (!maps) {
    throw new RangeError(`unknown prior set '${priorSet}' (expected ${PRIOR_SET_NAMES.join(", ")})`);
  }
  const out = new Float32Array(N_PRIORS * 4);
  let n = 0;
  maps.forEach((map, k) => {
    for (let i = 0; i < map.size; i++) {
      for (let j = 0; j < map.size; j++) {
        const cx = (j + 0.5) / map.size;
        const cy = (i + 0.5) / map.size;
        for (const ratio of map.aspectRatios) {
          out.set([cx, cy, map.scale * Math.sqrt(ratio), map.scale / Math.sqrt(ratio)], n * 4);
          n++;
          if (ratio === 1) {
            // the last map has no next scale: the reference's IndexError branch uses 1
            const extra = k + 1 < maps.length ? Math.sqrt(map.scale * maps[k + 1].scale) : 1;
            out.set([cx, cy, extra, extra], n * 4);
            n++;
          }
        }
      }
    }
  });
  if (n !== N_PRIORS) throw new Error(`internal: built ${n} priors, expected ${N_PRIORS}`);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, out[i]));
  return out;
}

const priorsCache = new Map<PriorSetName, Float32Array>();

/**
 * {@link createPriorsCxcy} built once per prior set and shared: callers must not modify the returned array.
 * @param priorSet which prior set; undefined = "reference" (a model without `priorSet`, e.g. loaded from a .pth)
 * @returns Float32Array [8732 * 4] fractional (cx, cy, w, h), the same instance on every call for that set
 */
export function priorsCxcyFor(priorSet: PriorSetName = "reference"): Float32Array {
  let p = priorsCache.get(priorSet);
  if (!p) {
    p = createPriorsCxcy(priorSet);
    priorsCache.set(priorSet, p);
  }
  return p;
}
