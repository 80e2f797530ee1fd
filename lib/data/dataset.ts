/**
 * The dataset artifact, `dataset.json`: Penn-Fudan images, their instance masks and the boxes derived from them
 * (or the images and boxes of one category of a COCO instances file, with its crowd regions), with a seeded
 * train/test split. The schema (defined here, beside its writer {@link writeDataset}; validated on
 * write and on every read), reading and writing, and opening the file tree (zip or directory) the dataset's
 * `file`/`mask` paths are inside. Built by lib/data/build.ts.
 * @module
 */
import { dirname, isAbsolute, join } from "node:path";
import { z } from "zod";
import {
  FileReadError,
  READ_LIMITS,
  readJsonArtifact,
  readRegularFile,
  sha256Hex,
  writeJsonArtifact,
} from "../core/mod.ts";
import { decodeImage, decodeMask, type GrayImage, readImageHeader, type RgbImage } from "../image/mod.ts";
import { type DataProblem, DatasetError } from "./problems.ts";
import { type DataSource, openDirectorySource, openZipBytes, SourceError } from "./source.ts";

/**
 * Version of the dataset.json format written by this module. Version 1 called `origin` `source`; version 2 had
 * no COCO origin, no crowd regions and always the class `person`; both still read (see {@link DatasetSchema}).
 */
export const DATASET_VERSION = 3;
/** Class names of a Penn-Fudan dataset; index 0 is the background class of the SSD heads, 1 is `person`. */
export const CLASSES = ["background", "person"] as const;

const int = z.number().int();
const nonNegInt = int.nonnegative();

const nonNeg = z.number().nonnegative();

/**
 * Pixel box (x_min, y_min, x_max, y_max), original image pixels: inclusive extremes of an instance's mask pixels
 * (integers), or from a COCO bbox [x, y, w, h] as (x, y, x + w, y + h) (any non-negative numbers).
 */
export const PixelBoxSchema = z.tuple([nonNeg, nonNeg, nonNeg, nonNeg]).refine(
  ([x0, y0, x1, y1]) => x0 <= x1 && y0 <= y1,
  { message: "box must have x_min ≤ x_max and y_min ≤ y_max" },
);
export type PixelBox = [number, number, number, number];

/**
 * Smallest side of a pixel box accepted, `x_max − x_min` and `y_max − y_min` (the reference's width: box / [W, H, W, H]
 * with no +1). A zero side (a stray pixel, a one-pixel line) is a log(0) = −∞ in the SSD offset encoding
 * (`cxcy_to_gcxgcy`: log(w / prior_w)) and stops training with a non-finite loss, as torchvision refuses boxes of
 * non-positive width or height. (The real Penn-Fudan's smallest side is 5 px; the fixtures have a 1-px one.)
 */
export const MIN_BOX_SIDE_PX = 1;
/**
 * Fewest mask pixels of an instance accepted: fewer are mask noise (a speck), not a pedestrian. The real
 * Penn-Fudan's smallest instance has 77 pixels; the fixtures' 12.
 */
export const MIN_INSTANCE_PIXELS = 4;

/**
 * Why an instance is degenerate — a box side under {@link MIN_BOX_SIDE_PX}, or (when `area` is given) fewer than
 * {@link MIN_INSTANCE_PIXELS} mask pixels — or null when it is not.
 */
export function degenerateBoxReason([x0, y0, x1, y1]: readonly number[], area?: number): string | null {
  const w = x1 - x0, h = y1 - y0;
  if (w < MIN_BOX_SIDE_PX || h < MIN_BOX_SIDE_PX) {
    return `degenerate box (${x0}, ${y0}, ${x1}, ${y1}): width ${w} and height ${h} px ` +
      `(x_max − x_min, y_max − y_min) must both be at least ${MIN_BOX_SIDE_PX}`;
  }
  if (area !== undefined && area < MIN_INSTANCE_PIXELS) {
    return `degenerate instance: box (${x0}, ${y0}, ${x1}, ${y1}) of ${area} mask pixels ` +
      `(fewer than ${MIN_INSTANCE_PIXELS}: mask noise)`;
  }
  return null;
}

export const DatasetImageSchema = z.object({
  /** 1-based, in order of file path; the COCO image_id. */
  id: int.positive(),
  /** File stem, e.g. "FudanPed00001". */
  name: z.string().min(1),
  /** Path of the image inside the file tree (`origin`). */
  file: z.string().min(1),
  /** Path of the instance mask inside the file tree; null for a COCO dataset (boxes from its bboxes). */
  mask: z.string().min(1).nullable(),
  /** Path of the Annotation/*.txt file inside the file tree, or null if there is none. */
  annotation: z.string().min(1).nullable(),
  width: int.positive(),
  height: int.positive(),
  split: z.enum(["train", "test"]),
  /** One box per instance, in the order of `instance_ids`. */
  boxes: z.array(PixelBoxSchema).min(1),
  /** The mask value (instance id > 0) of each box; for a COCO dataset, the annotation id. */
  instance_ids: z.array(int.positive()).min(1),
  /** Number of mask pixels of each instance; for a COCO dataset, the annotation's `area`. */
  mask_areas: z.array(nonNeg).min(1),
  /**
   * COCO crowd regions (iscrowd = 1) of the category: not training targets; in evaluation ignored regions that
   * any number of detections may match, as pycocotools. Absent: none.
   */
  crowd: z.array(z.object({ box: PixelBoxSchema, area: nonNeg })).optional(),
}).superRefine((img, ctx) => {
  if (img.instance_ids.length !== img.boxes.length || img.mask_areas.length !== img.boxes.length) {
    ctx.addIssue({ code: "custom", message: "boxes, instance_ids and mask_areas must have the same length" });
  }
  // mask boxes hold inclusive pixel indices (< W); COCO boxes end at x + w (≤ W)
  const exclusive = img.mask !== null;
  const outside = ([, , x1, y1]: number[]) =>
    exclusive ? x1 >= img.width || y1 >= img.height : x1 > img.width || y1 > img.height;
  for (const [i, c] of (img.crowd ?? []).entries()) {
    if (outside(c.box)) {
      ctx.addIssue({
        code: "custom",
        path: ["crowd", i],
        message: `box outside the ${img.width}×${img.height} image`,
      });
    }
  }
  img.boxes.forEach((box, i) => {
    // a COCO annotation's area is its polygon's, not a count of mask pixels
    const degenerate = degenerateBoxReason(box, img.mask !== null ? img.mask_areas[i] : undefined);
    if (degenerate) {
      ctx.addIssue({ code: "custom", path: ["boxes", i], message: `image ${img.name}: ${degenerate}` });
    }
    if (outside(box)) {
      ctx.addIssue({
        code: "custom",
        path: ["boxes", i],
        message: `box outside the ${img.width}×${img.height} image`,
      });
    }
  });
});
export type DatasetImage = z.infer<typeof DatasetImageSchema>;

export const WarningSchema = z.object({ file: z.string(), message: z.string() });
export type DatasetWarning = z.infer<typeof WarningSchema>;

/** Where the dataset came from: the file tree its `file`/`mask` paths are inside, and how it was obtained. */
export const OriginSchema = z.object({
  kind: z.enum(["zip", "directory"]),
  /** Path of the zip file or directory that `file`/`mask` paths are inside (relative: to dataset.json's folder). */
  path: z.string().min(1),
  /** Where the zip was downloaded from, or null. */
  url: z.string().url().nullable(),
  /** SHA-256 (hex) of the zip archive; null for a directory. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  /**
   * "official": PNGImages/, PedMasks/, Annotation/; "presplit": the course's Images/{train,test}, Masks/{train,test};
   * "coco": a COCO instances file (`annotations`) whose `file_name`s are inside the image directory `path`.
   */
  layout: z.enum(["official", "presplit", "coco"]),
  /** Common prefix of the layout's folders inside the file tree, e.g. "PennFudanPed/" (may be ""). */
  root: z.string(),
  /** The COCO instances file (layout "coco"): its path (as `path`) and SHA-256; absent for Penn-Fudan. */
  annotations: z.object({ path: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
});
export type DatasetOrigin = z.infer<typeof OriginSchema>;

/**
 * dataset.json as versions 1 and 2 wrote it, as version 3: version 1 called `origin` `source`; both are Penn-Fudan
 * datasets of class `person` (which version 3 reads as they are).
 */
function upgradeOldVersions(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const { version, source, ...rest } = value as Record<string, unknown>;
  if (version === 1 && source !== undefined && !("origin" in rest)) {
    return { version: DATASET_VERSION, origin: source, ...rest };
  }
  if (version === 2) return { ...value, version: DATASET_VERSION };
  return value;
}

const DatasetV3Schema = z.object({
  version: z.literal(DATASET_VERSION),
  origin: OriginSchema,
  /** ["background", the category's name]: `person` for Penn-Fudan, the chosen category for COCO. */
  classes: z.tuple([
    z.literal("background"),
    z.string().min(1).refine((n) => n !== "background", {
      message: "the category cannot be called background",
    }),
  ]),
  split: z.object({
    /** "seeded": {@link seededSplit}; "predefined": kept from the pre-split layout. */
    method: z.enum(["seeded", "predefined"]),
    seed: nonNegInt.nullable(),
    algorithm: z.string(),
    train_size: nonNegInt,
    test_size: nonNegInt,
  }),
  counts: z.object({ images: nonNegInt, boxes: nonNegInt, train: nonNegInt, test: nonNegInt }),
  images: z.array(DatasetImageSchema).min(1),
  warnings: z.array(WarningSchema),
}).superRefine((d, ctx) => {
  const ids = new Set(d.images.map((im) => im.id));
  if (ids.size !== d.images.length) {
    ctx.addIssue({ code: "custom", path: ["images"], message: "image ids not unique" });
  }
  const train = d.images.filter((im) => im.split === "train").length;
  const boxes = d.images.reduce((s, im) => s + im.boxes.length, 0);
  const expected = { images: d.images.length, boxes, train, test: d.images.length - train };
  for (const [k, v] of Object.entries(expected)) {
    if (d.counts[k as keyof typeof expected] !== v) {
      ctx.addIssue({ code: "custom", path: ["counts", k], message: `does not match images (expected ${v})` });
    }
  }
  if (d.split.train_size !== train || d.split.test_size !== d.images.length - train) {
    ctx.addIssue({
      code: "custom",
      path: ["split"],
      message: "train_size/test_size do not match the images' split",
    });
  }
});

/** `dataset.json` (version 3; a version-1 or -2 file is read as its version-3 equivalent). */
export const DatasetSchema = z.preprocess(upgradeOldVersions, DatasetV3Schema);
export type Dataset = z.infer<typeof DatasetV3Schema>;

/** The dataset's category (class 1 of the models trained on it): `person` for Penn-Fudan. */
export function categoryName(dataset: Pick<Dataset, "classes">): string {
  return dataset.classes[1];
}

/** Reads and validates dataset.json. @throws ArtifactError naming the file, field and bad value. */
export function readDataset(path: string): Promise<Dataset> {
  return readJsonArtifact(path, DatasetSchema);
}

/** Validates and writes dataset.json atomically. @throws ArtifactError if it does not satisfy the schema. */
export function writeDataset(path: string, dataset: Dataset): Promise<void> {
  return writeJsonArtifact(path, DatasetSchema, dataset);
}

/** The file tree the dataset's `file`/`mask` paths are inside, plus helpers to decode them. */
export interface OpenedDataset extends DataSource {
  /** Decodes an image of the dataset to RGB. */
  readImage(image: DatasetImage): RgbImage;
  /** Decodes an image's instance mask. */
  readMask(image: DatasetImage): GrayImage;
}

/**
 * Opens the file tree a dataset.json points at (`origin`: zip or directory) to read the files it references. A
 * relative `origin.path` is taken relative to the directory of `datasetPath`. For a zip, checks its SHA-256 against the one
 * recorded, so that boxes never get paired with different images. Then checks every image's and mask's
 * `width`/`height` against its file's header ({@link checkImageSizes}; header only, nothing decompressed).
 * @throws SourceError if the source is missing, unreadable or changed since `deno task prepare`; DatasetError
 *   listing every file whose header size differs from dataset.json's.
 */
export async function openDatasetSource(dataset: Dataset, datasetPath: string): Promise<OpenedDataset> {
  const path = isAbsolute(dataset.origin.path)
    ? dataset.origin.path
    : join(dirname(datasetPath), dataset.origin.path);
  let source: DataSource;
  if (dataset.origin.kind === "zip") {
    let bytes: Uint8Array;
    try {
      bytes = await readRegularFile(path, READ_LIMITS.archive);
    } catch (e) {
      if (!(e instanceof FileReadError)) throw e;
      throw new SourceError(path, `cannot read the dataset's source (from ${datasetPath}): ${e.reason}`);
    }
    if (dataset.origin.sha256 !== null) {
      const actual = await sha256Hex(bytes);
      if (actual !== dataset.origin.sha256) {
        throw new SourceError(
          path,
          `SHA-256 ${actual} differs from ${dataset.origin.sha256} recorded in ${datasetPath}; run prepare again`,
        );
      }
    }
    source = openZipBytes(bytes, path);
  } else {
    source = await openDirectorySource(path);
  }
  checkImageSizes(dataset, source, datasetPath);
  return {
    ...source,
    list: source.list,
    has: source.has,
    read: source.read,
    readImage: (image) => decodeImage(source.read(image.file), image.file),
    readMask(image) {
      if (image.mask === null) throw new SourceError(image.file, "a COCO dataset image has no instance mask");
      return decodeMask(source.read(image.mask), image.mask);
    },
  };
}

/**
 * Compares every image's and mask's size in the header of its file with dataset.json's `width`/`height` (an
 * edited size would silently mis-scale every box). Files without a readable header are left to the decoder.
 * @throws DatasetError listing every mismatch, naming the file and both sizes.
 */
export function checkImageSizes(dataset: Dataset, source: DataSource, datasetPath: string): void {
  const problems: DataProblem[] = [];
  for (const image of dataset.images) {
    for (const file of image.mask === null ? [image.file] : [image.file, image.mask]) {
      let header;
      try {
        header = readImageHeader(source.read(file));
      } catch (e) {
        problems.push({ file, message: `cannot read: ${(e as Error).message}` });
        continue;
      }
      if (header && (header.width !== image.width || header.height !== image.height)) {
        problems.push({
          file,
          message: `its header says ${header.width}×${header.height} but ${datasetPath} says ` +
            `${image.width}×${image.height} (image ${image.id}); run prepare again`,
        });
      }
    }
  }
  if (problems.length > 0) throw new DatasetError(problems);
}

/**
 * Ground-truth boxes as the reference model uses them: pixel box / [W, H, W, H] (no +1), fractional xyxy.
 * @returns Float32Array [nBoxes*4].
 */
export function fractionalBoxes(image: DatasetImage): Float32Array {
  const out = new Float32Array(image.boxes.length * 4);
  image.boxes.forEach(([x0, y0, x1, y1], i) => {
    out.set([x0 / image.width, y0 / image.height, x1 / image.width, y1 / image.height], i * 4);
  });
  return out;
}
