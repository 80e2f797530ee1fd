/**
 * COCO ground truth of a dataset split (`annotations.coco.json`, `gt.coco.json`): the one schema of the COCO
 * ground-truth file, defined here beside its writer {@link toCocoGroundTruth} and used by every reader
 * (lib/eval/coco.ts reads any COCO ground truth a user brings with it).
 * @module
 */
import { z } from "zod";
import type { Dataset } from "./dataset.ts";

/** COCO category id of `person` in annotations.coco.json. */
export const PERSON_CATEGORY_ID = 1;

const int = z.number().int();

export const CocoGroundTruthSchema = z.object({
  info: z.object({ description: z.string(), version: z.string() }).passthrough(),
  images: z.array(
    z.object({ id: int.positive(), file_name: z.string(), width: int.positive(), height: int.positive() }),
  ),
  annotations: z.array(z.object({
    id: int.positive(),
    image_id: int.positive(),
    category_id: int.positive(),
    /** [x, y, w, h] with w = x_max − x_min, h = y_max − y_min of the inclusive pixel box. */
    bbox: z.tuple([z.number(), z.number(), z.number().nonnegative(), z.number().nonnegative()]),
    area: z.number().nonnegative(),
    iscrowd: z.union([z.literal(0), z.literal(1)]),
  })),
  categories: z.array(z.object({ id: int.positive(), name: z.string(), supercategory: z.string() })),
});
export type CocoGroundTruth = z.infer<typeof CocoGroundTruthSchema>;

/**
 * COCO ground truth of one split: category 1 `person`, bbox [x_min, y_min, x_max − x_min, y_max − y_min] (pixels),
 * area = bbox w·h, iscrowd 0; images with the dataset's ids, file_name = base name of `file`, width, height.
 */
export function toCocoGroundTruth(dataset: Dataset, split: "train" | "test" = "test"): CocoGroundTruth {
  const images = dataset.images.filter((im) => im.split === split);
  const annotations: CocoGroundTruth["annotations"] = [];
  for (const im of images) {
    for (const [x0, y0, x1, y1] of im.boxes) {
      const w = x1 - x0, h = y1 - y0;
      annotations.push({
        id: annotations.length + 1,
        image_id: im.id,
        category_id: PERSON_CATEGORY_ID,
        bbox: [x0, y0, w, h],
        area: w * h,
        iscrowd: 0,
      });
    }
  }
  return {
    info: { description: `Penn-Fudan pedestrians, ${split} split (boxes from instance masks)`, version: "1" },
    images: images.map((im) => ({
      id: im.id,
      file_name: im.file.slice(im.file.lastIndexOf("/") + 1),
      width: im.width,
      height: im.height,
    })),
    annotations,
    categories: [{ id: PERSON_CATEGORY_ID, name: "person", supercategory: "person" }],
  };
}
