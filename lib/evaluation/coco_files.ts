/**
 * COCO files at the evaluation boundary: reading ground truth (`{ images, annotations, categories }`, its one
 * schema is lib/data/coco_ground_truth.ts) and results (`[{ image_id, category_id, bbox, score }]`, schema here) with errors
 * that name the entry; conversions from the pipeline's boxes (pixel or fractional x_min, y_min, x_max, y_max) to
 * COCO's pixel (x, y, width, height); and `ap.json`, its schema beside its writer {@link evaluateCocoFiles}.
 * @module
 */
import { z } from "zod";
import { ArtifactError, describeValue, inlineList, InputError, readJsonFile } from "../core/mod.ts";
import { CocoBboxSchema, type CocoGroundTruth, CocoGroundTruthSchema } from "../data/mod.ts";
import {
  COCO_AREA_ALL,
  COCO_MAX_DETS,
  type CocoDet,
  type CocoGt,
  evaluateCoco,
  prCurveAt,
  type XywhBox,
} from "./ap.ts";
import { evaluateVoc } from "./voc.ts";

/** Pixel box (x_min, y_min, x_max, y_max). */
export type PixelXyxy = [number, number, number, number];
/** Fractional box (x_min, y_min, x_max, y_max), coordinates divided by image width/height. */
export type FractionalXyxy = [number, number, number, number];

const IdSchema = z.number().int();

/** One COCO results entry. */
export const CocoResultSchema = z.looseObject({
  image_id: IdSchema,
  category_id: IdSchema,
  bbox: CocoBboxSchema,
  score: z.number().refine(Number.isFinite, { message: "expected a finite number" }),
});
export type CocoResult = z.infer<typeof CocoResultSchema>;
/** COCO results file: a list of detections. */
export const CocoResultsSchema = z.array(CocoResultSchema);

/**
 * Formats a zod path the COCO way: `entry 17 field bbox` (results), `annotations entry 3 field iscrowd` (ground
 * truth). The value shown is the whole field (e.g. the bbox), not one element of it.
 */
function formatIssues(root: unknown, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = [...issue.path];
    const parts: string[] = [];
    let value: unknown = root;
    let i = 0;
    if (typeof path[0] === "string" && typeof path[1] === "number") {
      parts.push(`${path[0]} entry ${path[1]}`);
      value = (value as Record<string, unknown[]>)?.[path[0]]?.[path[1]];
      i = 2;
    } else if (typeof path[0] === "number") {
      parts.push(`entry ${path[0]}`);
      value = (value as unknown[])?.[path[0]];
      i = 1;
    }
    if (i < path.length) {
      const field = path[i];
      parts.push(`field ${String(field)}`);
      value = (value as Record<PropertyKey, unknown>)?.[field as PropertyKey];
    } else if (i === 0 && path.length > 0) {
      parts.push(`field ${path.map(String).join(".")}`);
    }
    const where = parts.length ? parts.join(" ") : "(root)";
    return `${where}: ${issue.message} (got ${describeValue(value)})`;
  });
}

function parseWith<S extends z.ZodType>(file: string, schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ArtifactError(file, formatIssues(value, result.error.issues));
}

/**
 * Validates a parsed COCO ground-truth object with the one ground-truth schema (lib/data/coco_ground_truth.ts: entries, unique
 * image ids, every annotation's image and category present). `file` names the file in errors.
 * @throws ArtifactError naming the entry and field.
 */
export function parseCocoGtFile(file: string, value: unknown): CocoGroundTruth {
  return parseWith(file, CocoGroundTruthSchema, value);
}

/**
 * Validates a parsed COCO results list. With `imageIds`, every entry's image must be among them (as
 * pycocotools' `COCO.loadRes` asserts).
 * @throws ArtifactError naming the entry and field.
 */
export function parseCocoResults(file: string, value: unknown, imageIds?: ReadonlySet<number>): CocoResult[] {
  const results = parseWith(file, CocoResultsSchema, value);
  if (imageIds) {
    const problems: string[] = [];
    results.forEach((r, i) => {
      if (!imageIds.has(r.image_id)) {
        problems.push(`entry ${i} field image_id: not an image of the ground truth (got ${r.image_id})`);
      }
    });
    if (problems.length) throw new ArtifactError(file, problems.slice(0, 20));
  }
  return results;
}

/** Reads and validates a COCO ground-truth file. */
export async function readCocoGtFile(file: string): Promise<CocoGroundTruth> {
  return parseCocoGtFile(file, await readJsonFile(file));
}

/** Reads and validates a COCO results file (see {@link parseCocoResults}). */
export async function readCocoResults(file: string, imageIds?: ReadonlySet<number>): Promise<CocoResult[]> {
  return parseCocoResults(file, await readJsonFile(file), imageIds);
}

/**
 * Picks the category to evaluate: by `name` or `id` when given, else the only category, else `person`.
 * @param file the ground truth's file, for the message
 * @throws InputError listing the categories (the first 20) when the choice is ambiguous or absent.
 */
export function selectCategory(
  gt: CocoGroundTruth,
  want: { name?: string; id?: number } = {},
  file = "ground truth",
): { id: number; name: string } {
  const list = inlineList(gt.categories.map((c) => `${c.id}:${c.name}`));
  let found;
  if (want.id !== undefined) found = gt.categories.find((c) => c.id === want.id);
  else if (want.name !== undefined) found = gt.categories.find((c) => c.name === want.name);
  else if (gt.categories.length === 1) found = gt.categories[0];
  else found = gt.categories.find((c) => c.name === "person");
  if (!found) {
    const asked = want.id !== undefined
      ? `id ${want.id}`
      : want.name !== undefined
      ? `"${want.name}"`
      : "one";
    throw new InputError(`${file}: cannot choose category ${asked} among [${list}]; pass --category`);
  }
  return { id: found.id, name: found.name };
}

/** The evaluation inputs of one category: ground truths and detections in {@link evaluateCoco}'s form. */
export function cocoToEvalInputs(
  gt: CocoGroundTruth,
  results: readonly CocoResult[],
  categoryId: number,
): { imageIds: number[]; gts: CocoGt[]; dets: CocoDet[] } {
  return {
    imageIds: gt.images.map((im) => im.id),
    gts: gt.annotations.filter((a) => a.category_id === categoryId).map((a) => ({
      image_id: a.image_id,
      bbox: [...a.bbox] as XywhBox,
      iscrowd: a.iscrowd ?? 0,
      area: a.area ?? a.bbox[2] * a.bbox[3],
    })),
    dets: results.filter((r) => r.category_id === categoryId).map((r) => ({
      image_id: r.image_id,
      bbox: [...r.bbox] as XywhBox,
      score: r.score,
    })),
  };
}

/** Pixel (x_min, y_min, x_max, y_max) → COCO pixel (x, y, w, h): w = x_max − x_min (no +1, as pycocotools). */
export function pixelXyxyToXywh(box: readonly number[]): XywhBox {
  return [box[0], box[1], box[2] - box[0], box[3] - box[1]];
}

/** COCO pixel (x, y, w, h) → pixel (x_min, y_min, x_max, y_max). */
export function xywhToPixelXyxy(box: readonly number[]): PixelXyxy {
  return [box[0], box[1], box[0] + box[2], box[1] + box[3]];
}

/**
 * Fractional (x_min, y_min, x_max, y_max) of an image of `width` × `height` pixels → COCO pixel (x, y, w, h):
 * the box × [W, H, W, H] (as the reference scales detections back to the original image), then xywh.
 */
export function fractionalXyxyToPixelXywh(box: readonly number[], width: number, height: number): XywhBox {
  return pixelXyxyToXywh([box[0] * width, box[1] * height, box[2] * width, box[3] * height]);
}

/** `ap.json`'s `bootstrap` field: how its `*_ci` intervals were computed (lib/evaluation/bootstrap.ts). */
export const BootstrapSettingsSchema = z.object({
  /** B, the number of resamples; 0 when skipped. */
  resamples: z.number().int().nonnegative(),
  /** Resamples holding ground truth (the intervals use these). */
  valid_resamples: z.number().int().nonnegative(),
  seed: z.number().int(),
  confidence: z.number().gt(0).lt(1),
  /** What is resampled with replacement (the test images), and how the interval is read off the resamples. */
  unit: z.literal("image"),
  method: z.literal("percentile"),
  seconds: z.number().nonnegative().optional(),
});
export type BootstrapSettings = z.infer<typeof BootstrapSettingsSchema>;

/** A confidence interval [lo, hi] of an AP value. */
const ApIntervalSchema = z.tuple([z.number().min(-1).max(1), z.number().min(-1).max(1)])
  .refine(([lo, hi]) => lo <= hi, { message: "expected lo ≤ hi" });

/**
 * `ap.json`: what `deno task ap` writes (both modes). AP values are −1 when there is no ground truth. The
 * intervals (`*_ci`, `bootstrap`) are absent in files written before they existed or with `--bootstrap 0`.
 */
export const ApJsonSchema = z.object({
  /** AP at IoU 0.5 (COCO 101-point, maxDets 100, area all). */
  ap50: z.number().min(-1).max(1),
  /** AP at IoU 0.75 — the homework's headline number. */
  ap75: z.number().min(-1).max(1),
  /** AP averaged over IoU 0.50:0.05:0.95. */
  ap: z.number().min(-1).max(1),
  /** 95% bootstrap intervals (test images resampled with replacement) of ap50, ap75, ap. */
  ap50_ci: ApIntervalSchema.optional(),
  ap75_ci: ApIntervalSchema.optional(),
  ap_ci: ApIntervalSchema.optional(),
  bootstrap: BootstrapSettingsSchema.optional(),
  /** AR with 100 detections per image. */
  ar100: z.number().min(-1).max(1),
  ar1: z.number().min(-1).max(1),
  ar10: z.number().min(-1).max(1),
  /** PASCAL VOC all-point AP (VOC matching) at IoU 0.5 and 0.75, for comparison. */
  voc_ap50: z.number().min(-1).max(1),
  voc_ap75: z.number().min(-1).max(1),
  /** [recall threshold, interpolated precision] × 101 at IoU 0.75 (empty when there is no ground truth). */
  pr_curve_75: z.array(z.tuple([z.number(), z.number()])),
  /** The same at IoU 0.5. */
  pr_curve_50: z.array(z.tuple([z.number(), z.number()])),
  settings: z.looseObject({
    mode: z.enum(["coco-files", "detector"]),
    category: z.object({ id: z.number().int(), name: z.string() }),
    iou_thresholds: z.array(z.number()),
    recall_thresholds: z.number().int(),
    max_dets: z.array(z.number().int()),
    area_range: z.tuple([z.number(), z.number()]),
  }),
  n_images: z.number().int().nonnegative(),
  /** Ground truths that count (non-crowd, in the area range). */
  n_gt: z.number().int().nonnegative(),
  /** Detections of the category given (before the per-image cut at 100). */
  n_detections: z.number().int().nonnegative(),
});
export type ApJson = z.infer<typeof ApJsonSchema>;

/**
 * Evaluates one category of a COCO ground truth and results (pycocotools semantics, see lib/evaluation/ap.ts) and builds
 * the `ap.json` object; `settings` is merged into its `settings` (mode, inputs, detector parameters …).
 */
export function evaluateCocoFiles(
  gt: CocoGroundTruth,
  results: readonly CocoResult[],
  category: { id: number; name: string },
  settings: Record<string, unknown> & { mode: "coco-files" | "detector" },
): ApJson {
  const { imageIds, gts, dets } = cocoToEvalInputs(gt, results, category.id);
  const r = evaluateCoco(gts, dets, { imageIds });
  return {
    ap50: r.ap50,
    ap75: r.ap75,
    ap: r.ap,
    ar100: r.ar100,
    ar1: r.ar1,
    ar10: r.ar10,
    voc_ap50: evaluateVoc(gts, dets, { iouThreshold: 0.5 }).ap,
    voc_ap75: evaluateVoc(gts, dets, { iouThreshold: 0.75 }).ap,
    pr_curve_75: prCurveAt(r, 0.75),
    pr_curve_50: prCurveAt(r, 0.5),
    settings: {
      ...settings,
      category,
      iou_thresholds: r.iouThresholds,
      recall_thresholds: r.recallThresholds.length,
      max_dets: [...COCO_MAX_DETS],
      area_range: [COCO_AREA_ALL[0], COCO_AREA_ALL[1]],
    },
    n_images: r.nImages,
    n_gt: r.nGt,
    n_detections: r.nDetections,
  };
}
