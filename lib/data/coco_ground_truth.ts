/**
 * COCO ground truth of a dataset split (`annotations.coco.json`, `gt.coco.json`): the one schema of the COCO
 * ground-truth file, defined here beside its writer {@link toCocoGroundTruth} and used by every reader
 * (lib/evaluation/coco_files.ts reads any COCO ground truth a user brings with it).
 * @module
 */
import { basename } from "node:path";
import { z } from "zod";
import type { Dataset } from "./dataset.ts";

/**
 * COCO category id of the dataset's one category (class 1 of the models: `person` for Penn-Fudan, the chosen
 * category of a COCO instances file) in annotations.coco.json and the detections scored against it.
 */
export const CATEGORY_ID = 1;
/** {@link CATEGORY_ID} under its older name (Penn-Fudan's category is `person`). */
export const PERSON_CATEGORY_ID = CATEGORY_ID;

const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** COCO bbox: 4 finite numbers [x, y, w, h] with w, h ≥ 0 (pixels); for a box of ours w = x_max − x_min. */
export const CocoBboxSchema = z
  .custom<[number, number, number, number]>(
    (v) => Array.isArray(v) && v.length === 4 && v.every(isFiniteNumber),
    {
      message: "expected 4 numbers",
    },
  )
  .refine((b) => b[2] >= 0 && b[3] >= 0, { message: "expected width and height ≥ 0" });

const IdSchema = z.number().int();

/**
 * The COCO ground-truth file `{ images, annotations, categories }`: the fields evaluation uses (other fields, e.g.
 * `info` or `supercategory`, are kept); image ids unique, every annotation's image and category present.
 */
export const CocoGroundTruthSchema = z.looseObject({
  images: z.array(
    z.looseObject({
      id: IdSchema,
      width: z.number().positive().optional(),
      height: z.number().positive().optional(),
      file_name: z.string().optional(),
    }),
  ),
  annotations: z.array(
    z.looseObject({
      id: IdSchema,
      image_id: IdSchema,
      category_id: IdSchema,
      bbox: CocoBboxSchema,
      /** object area for the area ranges; absent: bbox w × h */
      area: z.number().nonnegative().optional(),
      iscrowd: z.literal([0, 1]).optional(),
    }),
  ),
  categories: z.array(z.looseObject({ id: IdSchema, name: z.string() })),
}).superRefine((gt, ctx) => {
  const imageIds = new Set<number>();
  gt.images.forEach((im, i) => {
    if (imageIds.has(im.id)) {
      ctx.addIssue({ code: "custom", path: ["images", i, "id"], message: "duplicate image id" });
    }
    imageIds.add(im.id);
  });
  const categoryIds = new Set(gt.categories.map((c) => c.id));
  gt.annotations.forEach((a, i) => {
    if (!imageIds.has(a.image_id)) {
      ctx.addIssue({ code: "custom", path: ["annotations", i, "image_id"], message: "no such image" });
    }
    if (!categoryIds.has(a.category_id)) {
      ctx.addIssue({ code: "custom", path: ["annotations", i, "category_id"], message: "no such category" });
    }
  });
});
export type CocoGroundTruth = z.infer<typeof CocoGroundTruthSchema>;

/**
 * COCO ground truth of one split: category 1 = the dataset's category (`classes[1]`), bbox [x_min, y_min,
 * x_max − x_min, y_max − y_min] (pixels), area = bbox w·h (a COCO dataset: the source's `area`), iscrowd 0; then
 * each image's crowd regions (COCO datasets) with iscrowd 1, which evaluation ignores as pycocotools; images with
 * the dataset's ids, file_name = base name of `file`, width, height.
 */
export function toCocoGroundTruth(dataset: Dataset, split: "train" | "test" = "test"): CocoGroundTruth {
  const images = dataset.images.filter((im) => im.split === split);
  const annotations: CocoGroundTruth["annotations"] = [];
  const add = ([x0, y0, x1, y1]: readonly number[], imageId: number, area: number | null, iscrowd: 0 | 1) => {
    const w = x1 - x0, h = y1 - y0;
    annotations.push({
      id: annotations.length + 1,
      image_id: imageId,
      category_id: CATEGORY_ID,
      bbox: [x0, y0, w, h],
      area: area ?? w * h,
      iscrowd,
    });
  };
  for (const im of images) {
    im.boxes.forEach((box, i) => add(box, im.id, im.mask === null ? im.mask_areas[i] : null, 0));
  }
  for (const im of images) for (const c of im.crowd ?? []) add(c.box, im.id, c.area, 1);
  const name = dataset.classes[1];
  const description = dataset.origin.layout === "coco"
    ? `${name}, ${split} split (from ${basename(dataset.origin.annotations?.path ?? "a COCO file")})`
    : `Penn-Fudan pedestrians, ${split} split (boxes from instance masks)`;
  return {
    info: { description, version: "1" },
    images: images.map((im) => ({
      id: im.id,
      file_name: basename(im.file),
      width: im.width,
      height: im.height,
    })),
    annotations,
    categories: [{ id: CATEGORY_ID, name, supercategory: name }],
  };
}
