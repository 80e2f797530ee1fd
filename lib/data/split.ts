/**
 * The deterministic, seeded train/test split of a dataset's images (recorded in dataset.json).
 * @module
 */

import { mulberry32 } from "../core/mod.ts";

/** Default test-set size for the official 170-image release (the course split: 120 train / 50 test). */
export const DEFAULT_TEST_SIZE = 50;
/** Number of images in the official Penn-Fudan release. */
export const PENN_FUDAN_IMAGES = 170;
/** Default split seed. */
export const DEFAULT_SPLIT_SEED = 0;
/** Human-readable name of the algorithm in {@link seededSplit}, recorded in dataset.json. */
export const SPLIT_ALGORITHM =
  "fisher-yates shuffle (mulberry32 PRNG) of images sorted by file; first test_size → test";

/**
 * The default test size for `n` images: 50 for the full release (n ≥ 170); smaller datasets (e.g. the synthetic
 * fixtures) keep the release's test fraction 50/170, rounded, at least 1.
 */
export function defaultTestSize(n: number): number {
  if (n >= PENN_FUDAN_IMAGES) return DEFAULT_TEST_SIZE;
  return Math.max(1, Math.round((n * DEFAULT_TEST_SIZE) / PENN_FUDAN_IMAGES));
}

/**
 * Splits `keys` into train and test: sorts a copy, shuffles it with Fisher–Yates driven by {@link mulberry32}(seed),
 * takes the first `testSize` as test. Both halves are returned sorted. Does not mutate `keys`.
 * @throws RangeError unless 0 < testSize < keys.length, keys are unique, and seed is a 32-bit unsigned integer.
 */
export function seededSplit<K extends string | number>(
  keys: readonly K[],
  testSize: number,
  seed: number,
): { train: K[]; test: K[] } {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`split seed must be an integer in [0, 2^32), got ${seed}`);
  }
  if (!Number.isInteger(testSize) || testSize < 1 || testSize >= keys.length) {
    throw new RangeError(
      `test size must be an integer in [1, ${keys.length - 1}] for ${keys.length} images, got ${testSize}`,
    );
  }
  if (new Set(keys).size !== keys.length) throw new RangeError("split keys must be unique");
  const order = [...keys].sort(compareKeys);
  const random = mulberry32(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return { test: order.slice(0, testSize).sort(compareKeys), train: order.slice(testSize).sort(compareKeys) };
}

function compareKeys(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
