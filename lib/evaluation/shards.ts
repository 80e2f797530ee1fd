/**
 * Shards of an image list: `detect --images … --shard K/N` and `ap --dataset … --shard K/N` each take the K-th of N
 * contiguous, near-equal slices of the full input list (1-based K), so that N machines together cover it exactly
 * once; the record a shard writes beside its output ({@link ShardInfoSchema}) lets the merge
 * (lib/evaluation/merge_shards.ts) check that every shard of one split is there. Pure.
 * @module
 */
import { z } from "zod";
import { inlineList, InputError } from "../core/mod.ts";

/** The K-th (`index`, 1-based) of `count` slices. */
export interface Shard {
  index: number;
  count: number;
}

/** What a shard writes about itself: its index and count, and the length of the full list it is a slice of. */
export const ShardInfoSchema = z.strictObject({
  index: z.number().int().positive(),
  count: z.number().int().positive(),
  /** number of images in the full (unsharded) list */
  images: z.number().int().nonnegative(),
});
export type ShardInfo = z.infer<typeof ShardInfoSchema>;

/**
 * The positions `[start, end)` of shard `index` of `count` in a list of `total` items: slice K covers
 * ⌊(K−1)·total/N⌋ … ⌊K·total/N⌋ − 1, so slices differ in length by at most one, are in list order and together
 * cover the list once (a slice is empty when N > total).
 * @throws RangeError for an index outside 1…count
 */
export function shardRange(total: number, shard: Shard): { start: number; end: number } {
  const { index, count } = shard;
  if (!(Number.isInteger(count) && count >= 1 && Number.isInteger(index) && index >= 1 && index <= count)) {
    throw new RangeError(`shard ${index}/${count}: expected 1 ≤ K ≤ N`);
  }
  return { start: Math.floor(((index - 1) * total) / count), end: Math.floor((index * total) / count) };
}

/** Shards given to a merge that do not make one whole list: a shard missing, twice, or of another split. */
export class ShardSetError extends InputError {
  override name = "ShardSetError";
}

/**
 * Checks that `shards` (each with the folder it came from; `null`: the folder holds an unsharded output) are
 * exactly shards 1…N of one list, and returns them ordered by index.
 * @throws ShardSetError naming the folders and the shards missing or repeated
 */
export function orderShards<T extends { dir: string; shard: ShardInfo | null }>(
  shards: readonly T[],
): (T & { shard: ShardInfo })[] {
  if (shards.length === 0) throw new ShardSetError("no shard folders to merge");
  const unsharded = shards.filter((s) => s.shard === null);
  if (unsharded.length > 0) {
    throw new ShardSetError(`${unsharded[0].dir}: not the output of a --shard run (no shard record)`);
  }
  const all = shards as (T & { shard: ShardInfo })[];
  const { count, images } = all[0].shard;
  for (const s of all) {
    if (s.shard.count !== count || s.shard.images !== images) {
      throw new ShardSetError(
        `${s.dir}: shard ${s.shard.index}/${s.shard.count} of ${s.shard.images} images, but ${
          all[0].dir
        } is ` +
          `shard ${all[0].shard.index}/${count} of ${images} images: not shards of one list`,
      );
    }
  }
  const byIndex = new Map<number, string>();
  for (const s of all) {
    const seen = byIndex.get(s.shard.index);
    if (seen !== undefined) {
      throw new ShardSetError(`shard ${s.shard.index}/${count} is given twice: ${seen} and ${s.dir}`);
    }
    byIndex.set(s.shard.index, s.dir);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((k) => !byIndex.has(k));
  if (missing.length > 0) {
    throw new ShardSetError(
      `shard${missing.length > 1 ? "s" : ""} ${inlineList(missing.map(String))} of ${count} missing (given: ${
        inlineList([...byIndex.keys()].sort((a, b) => a - b).map(String))
      })`,
    );
  }
  return [...all].sort((a, b) => a.shard.index - b.shard.index);
}
