/**
 * Joining the outputs of sharded runs (lib/evaluation/shards.ts) into what one unsharded run writes:
 * - {@link mergeImageShards}, `deno task detect --merge DIR… --out DIR`: the folders of `detect --images …
 *   --shard K/N` runs → one `images.json` (ids 1… = positions in the full sorted list, as every shard already
 *   numbers them), one `detections.coco.json` (COCO results: image_id, category_id, bbox [x, y, w, h] in original
 *   pixels, score) and the annotated images copied into `--out/annotated/`, committed into `--out` as one set
 *   under its lock (lib/core/run_folder.ts) as the unsharded run commits them;
 * - {@link mergeSplitShards}, `deno task ap --merge DIR… --out DIR`: the folders of `ap --dataset … --shard K/N`
 *   runs → the split's `gt.coco.json` and `detections.coco.json`, which `ap` mode A then scores.
 * Every shard 1…N of one list must be there exactly once; the result is in list order, so it equals the
 * unsharded run's files byte for byte when the detections are the same.
 * @module
 */
import { isAbsolute, join, relative, resolve } from "node:path";
import {
  OutputNames,
  READ_LIMITS,
  readJsonArtifact,
  readRegularFile,
  type RunFolder,
  withRunFolder,
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

/** The real path of `path`, else its absolute spelling. */
function realOrAbsolute(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Refuses a merge that would write an annotated copy over one of the input images (an input inside `out`, as an
 * unsharded run into `out` would have named around it).
 * @throws ShardSetError naming the image
 */
function refuseInputTargets(images: ImagesJson["images"], out: string): void {
  const root = realOrAbsolute(out);
  for (const im of images) {
    const rel = relative(root, realOrAbsolute(im.path));
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) continue;
    if (rel.normalize("NFC").toLowerCase() === im.annotated.normalize("NFC").toLowerCase()) {
      throw new ShardSetError(
        `${out}: the annotated copy of image ${im.id} would replace the input ${im.path}; merge into another folder`,
      );
    }
  }
}

/** The folder of annotated copies (as lib/evaluation/predict.ts names it). */
const ANNOTATED_DIR = "annotated";

/**
 * Merges `detect --images … --shard K/N` output folders into `out`: images.json and detections.coco.json as one
 * unsharded run writes them, and each image's annotated JPEG copied to the same relative path under `out`; all of
 * them committed as one set (annotated copies of an earlier run into `out` that are not in this one go).
 * @param folder `out` already locked by the caller; else it is locked while the merge writes
 * @throws ShardSetError when the folders are not exactly shards 1…N of one list of one model, or an `annotated`
 *   name in an images.json is not a plain unique path under `annotated/`; ArtifactError for a missing or invalid
 *   file
 */
export async function mergeImageShards(
  dirs: readonly string[],
  out: string,
  folder?: RunFolder,
): Promise<MergedImages> {
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
  // the shards' annotated names are read from files: each must be what lib/core OutputNames gives for itself
  // (inside the folder, no `..`, no hidden or control characters) and unique among all shards
  const names = new OutputNames();
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
    for (const im of s.info.images) {
      if (!im.annotated.startsWith(`${ANNOTATED_DIR}/`) || names.take(im.annotated) !== im.annotated) {
        throw new ShardSetError(
          `${s.dir}/images.json: image ${im.id}: annotated ${JSON.stringify(im.annotated)} is not a unique ` +
            `path under ${ANNOTATED_DIR}/ (not the file of a detect --shard run?)`,
        );
      }
    }
    images.push(...s.info.images);
    detections.push(...s.detections);
  }
  refuseInputTargets(images, out);
  const merged: ImagesJson = { images, categories: ordered[0].info.categories };
  return await withRunFolder(folder, out, "detect", async (held) => {
    for (const s of ordered) {
      for (const im of s.info.images) {
        await writeFileAtomic(
          held.staged(im.annotated),
          await readRegularFile(join(s.dir, im.annotated), READ_LIMITS.image),
        );
      }
    }
    await writeJsonArtifact(held.staged("images.json"), ImagesJsonSchema, merged);
    await writeJsonArtifact(held.staged("detections.coco.json"), CocoResultsSchema, detections);
    await held.commit({ replace: [ANNOTATED_DIR] });
    const [imagesJson, detectionsJson] = [held.path("images.json"), held.path("detections.coco.json")];
    return { imagesJson, detectionsJson, images: merged, detections };
  });
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
