/**
 * Joining the outputs of sharded runs (lib/evaluation/shards.ts) into what one unsharded run writes:
 * - {@link mergeImageShards}, `deno task detect --merge DIR… --out DIR`: the folders of `detect --images …
 *   --shard K/N` runs → one `images.json` (ids 1… = positions in the full sorted list, as every shard already
 *   numbers them), one `detections.coco.json` (COCO results: image_id, category_id, bbox [x, y, w, h] in original
 *   pixels, score) and the annotated images copied into `--out/annotated/`;
 * - {@link mergeSplitShards}, `deno task ap --merge DIR… --out DIR`: the folders of `ap --dataset … --shard K/N`
 *   runs → the split's `gt.coco.json` and `detections.coco.json`, which `ap` mode A then scores.
 * Every shard 1…N of one list must be there exactly once; the result is in list order, so it equals the
 * unsharded run's files byte for byte when the detections are the same.
 * @module
 */
import { join, resolve } from "node:path";
import {
  READ_LIMITS,
  readJsonArtifact,
  readRegularFile,
  writeFileAtomic,
  writeJsonArtifact,
} from "../core/mod.ts";
import { type CocoGroundTruth, CocoGroundTruthSchema } from "../data/mod.ts";
import { ApJsonSchema, type CocoResult, CocoResultsSchema } from "./coco_files.ts";
import { type ImagesJson, ImagesJsonSchema } from "./predict.ts";
import { orderShards, ShardInfoSchema, shardRange, ShardSetError } from "./shards.ts";

/** What {@link mergeImageShards} wrote. */
export interface MergedImages {
  imagesJson: string;
  detectionsJson: string;
  images: ImagesJson;
  detections: CocoResult[];
}

/** Checks that a shard's image ids are exactly its slice's positions (1-based) of the full list. */
function checkShardIds(
  dir: string,
  ids: readonly number[],
  shard: { index: number; count: number; images: number },
) {
  const { start, end } = shardRange(shard.images, shard);
  const ok = ids.length === end - start && ids.every((id, k) => id === start + k + 1);
  if (!ok) {
    throw new ShardSetError(
      `${dir}: shard ${shard.index}/${shard.count} of ${shard.images} images should hold the images ${
        start + 1
      }…${end}` +
        `, but holds ${ids.length} image(s)${ids.length ? ` with ids ${ids[0]}…${ids[ids.length - 1]}` : ""}`,
    );
  }
}

/**
 * Merges `detect --images … --shard K/N` output folders into `out`: images.json and detections.coco.json as one
 * unsharded run writes them, and each image's annotated JPEG copied to the same relative path under `out`.
 * @throws ShardSetError when the folders are not exactly shards 1…N of one list of one model; ArtifactError for a
 *   missing or invalid file
 */
export async function mergeImageShards(dirs: readonly string[], out: string): Promise<MergedImages> {
  const shards = [];
  for (const dir of dirs) {
    const info = await readJsonArtifact(join(dir, "images.json"), ImagesJsonSchema);
    const detections = await readJsonArtifact(join(dir, "detections.coco.json"), CocoResultsSchema);
    shards.push({ dir, shard: info.shard ?? null, info, detections });
  }
  const ordered = orderShards(shards);
  const categories = JSON.stringify(ordered[0].info.categories);
  const images: ImagesJson["images"] = [];
  const detections: CocoResult[] = [];
  for (const s of ordered) {
    if (JSON.stringify(s.info.categories) !== categories) {
      throw new ShardSetError(`${s.dir}: other categories than ${ordered[0].dir} (shards of another model?)`);
    }
    const ids = s.info.images.map((im) => im.id);
    checkShardIds(s.dir, ids, s.shard);
    const own = new Set(ids);
    const stray = s.detections.find((d) => !own.has(d.image_id));
    if (stray) {
      throw new ShardSetError(
        `${s.dir}/detections.coco.json: image_id ${stray.image_id} is not an image of this shard`,
      );
    }
    images.push(...s.info.images);
    detections.push(...s.detections);
  }
  for (const s of ordered) {
    for (const im of s.info.images) {
      const from = join(s.dir, im.annotated), to = join(out, im.annotated);
      if (resolve(from) !== resolve(to)) {
        await writeFileAtomic(to, await readRegularFile(from, READ_LIMITS.image));
      }
    }
  }
  const merged: ImagesJson = { images, categories: ordered[0].info.categories };
  const imagesJson = join(out, "images.json");
  const detectionsJson = join(out, "detections.coco.json");
  await writeJsonArtifact(imagesJson, ImagesJsonSchema, merged);
  await writeJsonArtifact(detectionsJson, CocoResultsSchema, detections);
  return { imagesJson, detectionsJson, images: merged, detections };
}

/** The settings of `ap` mode B that every shard of one evaluation shares. */
const SAME_SETTINGS = [
  "dataset",
  "split",
  "weights",
  "checkpoint",
  "class",
  "min_score",
  "max_overlap",
  "top_k",
  "limit",
];

/**
 * Joins `ap --dataset … --shard K/N` output folders (ap.json with its shard record, gt.coco.json,
 * detections.coco.json): the split's ground truth (images in split order, annotations by id, as the unsharded
 * run's gt.coco.json) and its detections, in image order.
 * @throws ShardSetError when the folders are not exactly shards 1…N of one evaluation (same dataset, split,
 *   model and detector settings); ArtifactError for a missing or invalid file
 */
export async function mergeSplitShards(
  dirs: readonly string[],
): Promise<{ groundTruth: CocoGroundTruth; detections: CocoResult[] }> {
  const shards = [];
  for (const dir of dirs) {
    const ap = await readJsonArtifact(join(dir, "ap.json"), ApJsonSchema);
    const record = ShardInfoSchema.safeParse(ap.settings.shard);
    const groundTruth = await readJsonArtifact(join(dir, "gt.coco.json"), CocoGroundTruthSchema);
    const detections = await readJsonArtifact(join(dir, "detections.coco.json"), CocoResultsSchema);
    shards.push({ dir, shard: record.success ? record.data : null, ap, groundTruth, detections });
  }
  const ordered = orderShards(shards);
  const first = ordered[0];
  const images: CocoGroundTruth["images"] = [];
  const annotations: CocoGroundTruth["annotations"] = [];
  const detections: CocoResult[] = [];
  for (const s of ordered) {
    for (const key of SAME_SETTINGS) {
      const [a, b] = [first.ap.settings[key], s.ap.settings[key]];
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        throw new ShardSetError(
          `${s.dir}/ap.json: settings.${key} ${JSON.stringify(b)}, but ${first.dir} has ${
            JSON.stringify(a)
          }: ` +
            "not shards of one evaluation",
        );
      }
    }
    const { start, end } = shardRange(s.shard.images, s.shard);
    if (s.groundTruth.images.length !== end - start) {
      throw new ShardSetError(
        `${s.dir}/gt.coco.json: ${s.groundTruth.images.length} images, but shard ${s.shard.index}/` +
          `${s.shard.count} of ${s.shard.images} should hold ${end - start}`,
      );
    }
    images.push(...s.groundTruth.images);
    annotations.push(...s.groundTruth.annotations);
    detections.push(...s.detections);
  }
  annotations.sort((a, b) => a.id - b.id);
  return { groundTruth: { ...first.groundTruth, images, annotations }, detections };
}
