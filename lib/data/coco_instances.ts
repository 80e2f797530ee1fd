/**
 * Building `dataset.json` from a COCO-format instances file (`{ images, annotations, categories }`) and the
 * directory its `file_name`s are in, for ONE category: its non-crowd boxes become the training targets (class 1),
 * its crowd annotations (iscrowd = 1) the images' ignore regions in evaluation (as pycocotools: any number of
 * detections may match one, IoU = intersection / detection area, and they neither count as TP nor FP). Every
 * problem is collected, each naming its file; nothing is built unless there are none.
 *
 * Box convention: a COCO bbox [x, y, w, h] (pixels) becomes the pixel box (x, y, x + w, y + h), so that
 * annotations.coco.json gives back the same bbox. Images without a (non-crowd) box of the category are left out
 * (warning): training needs at least one target per image.
 * @module
 */
import { inlineList, validateArtifact } from "../core/mod.ts";
import { decodeImage, inspectImage } from "../image/mod.ts";
import { assembleDataset, type BuildOptions, seededSplitOf } from "./build.ts";
import { type CocoGroundTruth, CocoGroundTruthSchema } from "./coco_ground_truth.ts";
import type { Dataset, DatasetImage, DatasetWarning, PixelBox } from "./dataset.ts";
import { type DataProblem, DatasetError, problemOf } from "./problems.ts";
import type { DataSource } from "./source.ts";

/** A COCO bbox may overhang its image by this much (pixels, float rounding in exported files); it is clipped. */
export const COCO_BOX_TOLERANCE_PX = 1;

/** Options of {@link buildCocoDataset}. */
export interface CocoBuildOptions extends Omit<BuildOptions, "origin"> {
  /** The instances file: its path (as recorded) and SHA-256 of its bytes. */
  annotations: { path: string; sha256: string };
  /** The image directory's path as recorded in dataset.json's origin. */
  imagesPath: string;
  /** Category to keep, by name; needed when the file has several. */
  category?: string;
}

/**
 * Parses the instances file's JSON text with the one COCO ground-truth schema (lib/data/coco_ground_truth.ts).
 * @throws DatasetError naming the file and each bad field
 */
export function parseCocoInstances(text: string, file: string): CocoGroundTruth {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DatasetError([{ file, message: `not JSON: ${(e as Error).message}` }]);
  }
  try {
    return validateArtifact(file, CocoGroundTruthSchema, value);
  } catch (e) {
    const problems = (e as { problems?: string[] }).problems ?? [(e as Error).message];
    throw new DatasetError(problems.map((message) => ({ file, message })));
  }
}

/**
 * The category `name` of `gt`, or its only one.
 * @throws DatasetError listing the categories (id:name) when `name` is absent or not given among several
 */
export function chooseCocoCategory(
  gt: CocoGroundTruth,
  file: string,
  name?: string,
): { id: number; name: string } {
  const list = inlineList(gt.categories.map((c) => `${c.id}:${c.name}`)) || "none";
  const found = name !== undefined
    ? gt.categories.filter((c) => c.name === name)
    : gt.categories.length === 1
    ? gt.categories
    : [];
  if (found.length === 1 && found[0].name !== "background" && found[0].name.trim() !== "") {
    return { id: found[0].id, name: found[0].name };
  }
  const message = name === undefined
    ? `${gt.categories.length} categories (${list}); choose one with --category NAME`
    : found.length > 1
    ? `several categories named "${name}" (${list})`
    : `no usable category "${name}" (categories: ${list})`;
  throw new DatasetError([{ file, message }]);
}

/** (x, y, x + w, y + h) of a COCO bbox, clipped to the image when it overhangs by ≤ the tolerance; null if more. */
function boxInImage(bbox: readonly number[], width: number, height: number): PixelBox | null {
  const [x, y, w, h] = bbox;
  const x1 = x + w, y1 = y + h, t = COCO_BOX_TOLERANCE_PX;
  if (x < -t || y < -t || x1 > width + t || y1 > height + t) return null;
  return [Math.max(0, x), Math.max(0, y), Math.min(width, x1), Math.min(height, y1)];
}

/**
 * Builds the dataset of one category of a COCO instances file whose images are in `images` (a directory source).
 * Each image's size is read from the file (and checked against the file's width/height when given).
 * @throws DatasetError listing EVERY problem (missing or unreadable images, size mismatches, boxes outside their
 *   image, no or ambiguous category, an impossible split), each naming its file
 */
export function buildCocoDataset(gt: CocoGroundTruth, images: DataSource, opts: CocoBuildOptions): Dataset {
  const file = opts.annotations.path;
  const category = chooseCocoCategory(gt, file, opts.category);
  const problems: DataProblem[] = [];
  const warnings: DatasetWarning[] = [];
  const byImage = new Map<number, CocoGroundTruth["annotations"]>();
  for (const a of gt.annotations) {
    if (a.category_id !== category.id) continue;
    const list = byImage.get(a.image_id) ?? [];
    list.push(a);
    byImage.set(a.image_id, list);
  }
  const built: Omit<DatasetImage, "id" | "split">[] = [];
  const seen = new Map<string, number>();
  const fileOf = (im: { file_name?: string }) => im.file_name ?? "";
  const sorted = [...gt.images].sort((a, b) => (fileOf(a) < fileOf(b) ? -1 : fileOf(a) > fileOf(b) ? 1 : 0));
  let done = 0;
  for (const im of sorted) {
    opts.onProgress?.(++done, sorted.length);
    const where = `${file}: image id ${im.id}`;
    if (im.file_name === undefined || im.file_name === "") {
      problems.push({ file: where, message: "no file_name" });
      continue;
    }
    const path = im.file_name.replace(/^\.?\/+/, "");
    const full = `${images.location}/${path}`;
    if (seen.has(path)) {
      problems.push({ file: full, message: `listed twice (image ids ${seen.get(path)} and ${im.id})` });
      continue;
    }
    seen.set(path, im.id);
    if (!images.has(path)) {
      problems.push({ file: full, message: `missing (file_name of image id ${im.id} in ${file})` });
      continue;
    }
    let size: { width: number; height: number };
    try {
      const bytes = images.read(path);
      size = opts.decodeImages ? decodeImage(bytes, full) : inspectImage(bytes, full);
    } catch (e) {
      problems.push(problemOf(e, full));
      continue;
    }
    if (
      (im.width !== undefined && im.width !== size.width) ||
      (im.height !== undefined && im.height !== size.height)
    ) {
      problems.push({
        file: full,
        message: `is ${size.width}×${size.height} but ${file} says ${im.width}×${im.height}`,
      });
      continue;
    }
    const boxes: PixelBox[] = [], ids: number[] = [], areas: number[] = [];
    const crowd: { box: PixelBox; area: number }[] = [];
    for (const a of byImage.get(im.id) ?? []) {
      const box = boxInImage(a.bbox, size.width, size.height);
      if (box === null) {
        problems.push({
          file: full,
          message: `annotation id ${a.id}: bbox [${
            a.bbox.join(", ")
          }] outside the ${size.width}×${size.height} image`,
        });
        continue;
      }
      const area = a.area ?? a.bbox[2] * a.bbox[3];
      if (a.iscrowd === 1) crowd.push({ box, area });
      else if (box[2] <= box[0] || box[3] <= box[1]) {
        warnings.push({ file: full, message: `annotation id ${a.id}: empty bbox, not a training target` });
      } else {
        boxes.push(box);
        ids.push(a.id);
        areas.push(area);
      }
    }
    if (boxes.length === 0) {
      warnings.push({
        file: full,
        message: `no ${category.name} box${crowd.length ? ` (only ${crowd.length} crowd)` : ""}; left out`,
      });
      continue;
    }
    built.push({
      name: path.replace(/^.*\//, "").replace(/\.[^.]*$/, ""),
      file: path,
      mask: null,
      annotation: null,
      width: size.width,
      height: size.height,
      boxes,
      instance_ids: ids,
      mask_areas: areas,
      ...(crowd.length ? { crowd } : {}),
    });
  }
  if (built.length === 0 && problems.length === 0) {
    problems.push({ file, message: `no image with a ${category.name} box` });
  }
  if (problems.length > 0) throw new DatasetError(problems);
  const { split, testFiles } = seededSplitOf(built.map((b) => b.file), opts, file);
  return assembleDataset(built, split, testFiles, {
    origin: {
      kind: "directory",
      path: opts.imagesPath,
      url: null,
      sha256: null,
      layout: "coco",
      root: "",
      annotations: opts.annotations,
    },
    classes: ["background", category.name],
    warnings,
  });
}
