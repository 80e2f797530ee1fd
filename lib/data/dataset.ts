/**
 * The dataset artifact (`dataset.json`): Penn-Fudan images, their instance masks and the boxes derived from them,
 * with a seeded train/test split. Builds it from a {@link DataSource} (official release layout or the course's
 * pre-split layout), validates it with zod on write and on every read, and exports the test split as COCO.
 * @module
 */
import { z } from "zod";
import { readJsonArtifact, validateArtifact, writeJsonArtifact } from "../core/artifacts.ts";
import { decodeImage, decodeMask, type GrayImage, inspectImage, type RgbImage } from "../image/codec.ts";
import { type DataSource, openDirectorySource, openZipBytes, sha256Hex, SourceError } from "./source.ts";
import { defaultTestSize, seededSplit, SPLIT_ALGORITHM } from "./split.ts";
import { InputError } from "../core/errors.ts";

/** Version of the dataset.json format written by this module. */
export const DATASET_VERSION = 1;
/** Class names; index 0 is the background class of the SSD heads, 1 is `person`. */
export const CLASSES = ["background", "person"] as const;
/** COCO category id of `person` in annotations.coco.json. */
export const PERSON_CATEGORY_ID = 1;
/** Disagreement (pixels, any coordinate) between an Annotation/*.txt box and its mask's box that is reported. */
export const ANNOTATION_TOLERANCE_PX = 1;

const int = z.number().int();
const nonNegInt = int.nonnegative();

/** Pixel box (x_min, y_min, x_max, y_max): inclusive extremes of an instance's mask pixels, original image pixels. */
export const PixelBoxSchema = z.tuple([nonNegInt, nonNegInt, nonNegInt, nonNegInt]).refine(
  ([x0, y0, x1, y1]) => x0 <= x1 && y0 <= y1,
  { message: "box must have x_min ≤ x_max and y_min ≤ y_max" },
);
export type PixelBox = [number, number, number, number];

export const DatasetImageSchema = z.object({
  /** 1-based, in order of file path; the COCO image_id. */
  id: int.positive(),
  /** File stem, e.g. "FudanPed00001". */
  name: z.string().min(1),
  /** Path of the image inside the source. */
  file: z.string().min(1),
  /** Path of the instance mask inside the source. */
  mask: z.string().min(1),
  /** Path of the Annotation/*.txt file inside the source, or null if there is none. */
  annotation: z.string().min(1).nullable(),
  width: int.positive(),
  height: int.positive(),
  split: z.enum(["train", "test"]),
  /** One box per instance, in the order of `instance_ids`. */
  boxes: z.array(PixelBoxSchema).min(1),
  /** The mask value (instance id > 0) of each box. */
  instance_ids: z.array(int.min(1).max(255)).min(1),
  /** Number of mask pixels of each instance. */
  mask_areas: z.array(int.positive()).min(1),
}).superRefine((img, ctx) => {
  if (img.instance_ids.length !== img.boxes.length || img.mask_areas.length !== img.boxes.length) {
    ctx.addIssue({ code: "custom", message: "boxes, instance_ids and mask_areas must have the same length" });
  }
  img.boxes.forEach(([, , x1, y1], i) => {
    if (x1 >= img.width || y1 >= img.height) {
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

export const DatasetSchema = z.object({
  version: z.literal(DATASET_VERSION),
  source: z.object({
    kind: z.enum(["zip", "directory"]),
    /** Absolute path of the zip file or directory that `file`/`mask` paths are inside. */
    path: z.string().min(1),
    /** Where the zip was downloaded from, or null. */
    url: z.string().url().nullable(),
    /** SHA-256 (hex) of the zip archive; null for a directory. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
    /** "official": PNGImages/, PedMasks/, Annotation/; "presplit": the course's Images/{train,test}, Masks/{train,test}. */
    layout: z.enum(["official", "presplit"]),
    /** Common prefix of the layout's folders inside the source, e.g. "PennFudanPed/" (may be ""). */
    root: z.string(),
  }),
  classes: z.tuple([z.literal("background"), z.literal("person")]),
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
export type Dataset = z.infer<typeof DatasetSchema>;

/** One problem with the input data, naming the file it is about. */
export interface DataProblem {
  file: string;
  message: string;
}

/** The input data has problems; lists every problem found (each naming its file), not just the first. */
export class DatasetError extends InputError {
  override name = "DatasetError";
  constructor(readonly problems: DataProblem[]) {
    super(
      `${problems.length} problem${problems.length === 1 ? "" : "s"} in the input data:\n` +
        problems.map((p) => `  - ${p.file}: ${p.message}`).join("\n"),
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Boxes from masks, annotation files.

/** One instance of a mask: its id, inclusive pixel extremes and pixel count. */
export interface MaskInstance {
  id: number;
  box: PixelBox;
  area: number;
}

/**
 * For every instance id > 0 present in `mask`, the inclusive pixel extremes (x_min, y_min, x_max, y_max) of its
 * pixels and its pixel count, in ascending id order (as the reference's `extract_boxes`, which uses np.unique).
 */
export function boxesFromMask(mask: GrayImage): MaskInstance[] {
  const { width, height, data } = mask;
  if (data.length !== width * height) {
    throw new RangeError(`mask data length ${data.length} != ${width}×${height}`);
  }
  const xmin = new Int32Array(256).fill(width), ymin = new Int32Array(256).fill(height);
  const xmax = new Int32Array(256).fill(-1), ymax = new Int32Array(256).fill(-1);
  const area = new Int32Array(256);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const id = data[row + x];
      if (id === 0) continue;
      area[id]++;
      if (x < xmin[id]) xmin[id] = x;
      if (x > xmax[id]) xmax[id] = x;
      if (y < ymin[id]) ymin[id] = y;
      ymax[id] = y; // rows ascend
    }
  }
  const out: MaskInstance[] = [];
  for (let id = 1; id < 256; id++) {
    if (area[id] > 0) out.push({ id, box: [xmin[id], ymin[id], xmax[id], ymax[id]], area: area[id] });
  }
  return out;
}

/** A parsed Penn-Fudan `Annotation/*.txt` (PASCAL Annotation Version 1.00). */
export interface Annotation {
  /** "Image size (X x Y x C)", if present. */
  imageSize: { width: number; height: number; channels: number } | null;
  /** "Objects with ground truth : N", if present. */
  declaredObjects: number | null;
  /** Bounding boxes, 1-based inclusive pixel coordinates as written in the file. */
  objects: { index: number; label: string; box1Based: PixelBox }[];
}

/** The annotation text cannot be parsed. */
export class AnnotationError extends InputError {
  override name = "AnnotationError";
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
  }
}

const BOX_LINE =
  /^Bounding box for object (\d+) "([^"]*)" \(Xmin, Ymin\) - \(Xmax, Ymax\) : \((-?\d+), (-?\d+)\) - \((-?\d+), (-?\d+)\)\s*$/;
const SIZE_LINE = /^Image size \(X x Y x C\) : (\d+) x (\d+) x (\d+)\s*$/;
const OBJECTS_LINE = /^Objects with ground truth : (\d+)/;

/**
 * Parses an annotation file, e.g. `Bounding box for object 1 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) :
 * (160, 182) - (302, 431)` (coordinates 1-based: "Top left pixel co-ordinates : (1, 1)").
 * @throws AnnotationError if it is not text in that format, has no box line, or a line starting like a box line is
 *   malformed, or the declared object count differs from the number of boxes.
 */
export function parseAnnotation(bytes: Uint8Array, file: string): Annotation {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new AnnotationError(file, "not UTF-8 text");
  }
  if (text.includes("\0")) throw new AnnotationError(file, "binary data, not an annotation text");
  let imageSize: Annotation["imageSize"] = null;
  let declaredObjects: number | null = null;
  const objects: Annotation["objects"] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const size = SIZE_LINE.exec(line);
    if (size) imageSize = { width: +size[1], height: +size[2], channels: +size[3] };
    const declared = OBJECTS_LINE.exec(line);
    if (declared) declaredObjects = +declared[1];
    if (line.startsWith("Bounding box for object")) {
      const m = BOX_LINE.exec(line);
      if (!m) {
        throw new AnnotationError(
          file,
          `line ${i + 1}: malformed bounding box line: ${JSON.stringify(line)}`,
        );
      }
      const box = [+m[3], +m[4], +m[5], +m[6]] as PixelBox;
      if (box[0] > box[2] || box[1] > box[3]) {
        throw new AnnotationError(file, `line ${i + 1}: box has Xmin > Xmax or Ymin > Ymax`);
      }
      objects.push({ index: +m[1], label: m[2], box1Based: box });
    }
  });
  if (objects.length === 0) throw new AnnotationError(file, "no 'Bounding box for object' line");
  if (declaredObjects !== null && declaredObjects !== objects.length) {
    throw new AnnotationError(file, `declares ${declaredObjects} objects but has ${objects.length} boxes`);
  }
  return { imageSize, declaredObjects, objects };
}

/**
 * Compares annotation boxes (1-based) with mask boxes: object k ↔ mask instance id k. Returns one message per
 * disagreement over {@link ANNOTATION_TOLERANCE_PX} or per object missing on either side.
 */
export function crossCheckAnnotation(
  annotation: Annotation,
  instances: readonly MaskInstance[],
  size: { width: number; height: number },
): string[] {
  const messages: string[] = [];
  const byId = new Map(instances.map((inst) => [inst.id, inst]));
  const s = annotation.imageSize;
  if (s && (s.width !== size.width || s.height !== size.height)) {
    messages.push(`annotation says image size ${s.width}×${s.height}, image is ${size.width}×${size.height}`);
  }
  for (const obj of annotation.objects) {
    const inst = byId.get(obj.index);
    const b = obj.box1Based;
    if (!inst) {
      messages.push(
        `object ${obj.index} (${b.join(", ")}; 1-based) has no mask instance with id ${obj.index}`,
      );
      continue;
    }
    const diff = Math.max(...inst.box.map((v, i) => Math.abs(v - (b[i] - 1))));
    if (diff > ANNOTATION_TOLERANCE_PX) {
      messages.push(
        `object ${obj.index}: annotation box (${
          b.join(", ")
        }) (1-based) differs by ${diff} px from its mask box ` +
          `(${inst.box.join(", ")}) (0-based)`,
      );
    }
  }
  const annotated = new Set(annotation.objects.map((o) => o.index));
  for (const inst of instances) {
    if (!annotated.has(inst.id)) messages.push(`mask instance ${inst.id} has no annotation box`);
  }
  return messages;
}

// ---------------------------------------------------------------------------------------------------------------
// Layout discovery.

const IMAGE_EXT = /\.(png|jpe?g)$/i;
const MASK_SUFFIX = "_mask.png";

/** One image of the source with its companion files. */
export interface LayoutItem {
  name: string;
  file: string;
  mask: string | null;
  annotation: string | null;
  split: "train" | "test" | null;
}

/** What {@link discoverLayout} found: the layout, the items, and the problems (non-image files, orphan masks…). */
export interface LayoutScan {
  layout: "official" | "presplit";
  root: string;
  items: LayoutItem[];
  problems: DataProblem[];
  /** Things worth knowing that do not stop the build (recorded in dataset.json's warnings). */
  warnings: DataProblem[];
}

function isJunk(path: string): boolean {
  return path.startsWith("__MACOSX/") || path.split("/").some((part) => part.startsWith("."));
}

function stemOf(fileName: string): string {
  return fileName.replace(/\.[^.]*$/, "");
}

/**
 * Finds the Penn-Fudan layout in a source: the official `…/PNGImages/*.png`, `…/PedMasks/*_mask.png`,
 * `…/Annotation/*.txt`, or the course's pre-split `…/Images/{train,test}/*`, `…/Masks/{train,test}/*_mask.png`
 * (annotations, if any, from `…/Annotation/`); if both are present the pre-split one is used (with a warning).
 * Files in the image or mask folders that are not images, masks without an image and images without a mask are
 * reported as problems.
 * @throws DatasetError if neither layout is found, or the layout is found under several roots.
 */
export function discoverLayout(source: DataSource): LayoutScan {
  const files = source.list().filter((p) => !isJunk(p));
  const official = /^((?:[^/]+\/)*)PNGImages\/([^/]+)$/;
  const officialMask = /^((?:[^/]+\/)*)PedMasks\/([^/]+)$/;
  const presplit = /^((?:[^/]+\/)*)Images\/(train|test)\/([^/]+)$/;
  const presplitMask = /^((?:[^/]+\/)*)Masks\/(train|test)\/([^/]+)$/;
  const officialRoots = new Set<string>(), presplitRoots = new Set<string>();
  for (const f of files) {
    const m = official.exec(f) ?? officialMask.exec(f);
    if (m) officialRoots.add(m[1]);
    const p = presplit.exec(f) ?? presplitMask.exec(f);
    if (p) presplitRoots.add(p[1]);
  }
  const where = source.location;
  if (officialRoots.size === 0 && presplitRoots.size === 0) {
    throw new DatasetError([{
      file: where,
      message: "no Penn-Fudan layout found (expected PNGImages/ and PedMasks/, or Images/{train,test} and " +
        "Masks/{train,test})",
    }]);
  }
  const warnings: DataProblem[] = [];
  // Both layouts (e.g. a course archive that kept the release's folders): the pre-split one wins, keeping its split.
  const layout = presplitRoots.size > 0 ? "presplit" : "official";
  if (officialRoots.size > 0 && presplitRoots.size > 0) {
    warnings.push({
      file: where,
      message:
        "holds both the pre-split (Images/{train,test}) and the official layout; using the pre-split one",
    });
  }
  const roots = layout === "official" ? officialRoots : presplitRoots;
  if (roots.size > 1) {
    throw new DatasetError([{ file: where, message: `several dataset roots: ${[...roots].join(", ")}` }]);
  }
  const root = [...roots][0];
  const problems: DataProblem[] = [];
  const images = new Map<string, { file: string; split: "train" | "test" | null }>(); // key: split/stem
  const masks = new Map<string, string>();
  const annotations = new Map<string, string>();
  for (const f of files) {
    if (!f.startsWith(root)) continue;
    const rel = f.slice(root.length);
    const parts = rel.split("/");
    let kind: "image" | "mask" | "annotation" | null = null;
    let split: "train" | "test" | null = null;
    if (layout === "official" && parts.length === 2) {
      kind = parts[0] === "PNGImages"
        ? "image"
        : parts[0] === "PedMasks"
        ? "mask"
        : parts[0] === "Annotation"
        ? "annotation"
        : null;
    } else if (layout === "presplit" && parts.length === 3 && (parts[1] === "train" || parts[1] === "test")) {
      kind = parts[0] === "Images" ? "image" : parts[0] === "Masks" ? "mask" : null;
      split = parts[1];
    } else if (parts.length === 2 && parts[0] === "Annotation") {
      kind = "annotation";
    } else if (
      (layout === "official" && ["PNGImages", "PedMasks"].includes(parts[0])) ||
      (layout === "presplit" && ["Images", "Masks"].includes(parts[0]))
    ) {
      problems.push({ file: f, message: "unexpected file in the image/mask folders" });
      continue;
    }
    const base = parts[parts.length - 1];
    if (kind === "image") {
      if (!IMAGE_EXT.test(base)) {
        problems.push({ file: f, message: "not an image file (expected .png, .jpg or .jpeg)" });
        continue;
      }
      const key = `${split ?? ""}/${stemOf(base)}`;
      if (images.has(key)) {
        problems.push({ file: f, message: `duplicate image name (also ${images.get(key)!.file})` });
      } else images.set(key, { file: f, split });
    } else if (kind === "mask") {
      if (!base.toLowerCase().endsWith(MASK_SUFFIX)) {
        problems.push({ file: f, message: `not a mask file (expected <image name>${MASK_SUFFIX})` });
        continue;
      }
      masks.set(`${split ?? ""}/${base.slice(0, -MASK_SUFFIX.length)}`, f);
    } else if (kind === "annotation") {
      if (base.toLowerCase().endsWith(".txt")) annotations.set(stemOf(base), f);
    }
  }
  const items: LayoutItem[] = [];
  for (const [key, { file, split }] of images) {
    const name = key.slice(key.indexOf("/") + 1);
    const mask = masks.get(key) ?? null;
    if (mask === null) {
      const expected = layout === "official"
        ? `${root}PedMasks/${name}${MASK_SUFFIX}`
        : `${root}Masks/${split}/${name}${MASK_SUFFIX}`;
      problems.push({ file, message: `missing mask (expected ${expected})` });
    }
    items.push({ name, file, mask, annotation: annotations.get(name) ?? null, split });
  }
  for (const [key, mask] of masks) {
    if (!images.has(key)) problems.push({ file: mask, message: "mask without an image" });
  }
  if (images.size === 0) problems.push({ file: where, message: "no images found" });
  items.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { layout, root, items, problems, warnings };
}

// ---------------------------------------------------------------------------------------------------------------
// Building the dataset.

/** Options of {@link buildDataset}. */
export interface BuildOptions {
  /** Source description recorded in dataset.json (path, url, sha256); kind/layout/root are filled in. */
  source: { path: string; url?: string | null; sha256: string | null };
  /** Test images for a seeded split (ignored for the pre-split layout). Default {@link defaultTestSize}. */
  testSize?: number;
  /** Seed of the split. Default 0. */
  seed?: number;
  /**
   * Fully decode every image (slow) instead of checking its structure and checksums with {@link inspectImage}.
   * Default false: masks are always decoded (boxes need their pixels), images only inspected.
   */
  decodeImages?: boolean;
  /** Called after each image with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Reads every image and mask of `source`, derives boxes from the masks, cross-checks the annotation files, splits
 * train/test, and returns the validated dataset (not yet written).
 * @throws DatasetError listing EVERY problem found (unreadable entries, non-images, missing masks, masks without
 *   instances, image/mask size mismatches, unreadable annotations), each naming its file.
 */
export function buildDataset(source: DataSource, opts: BuildOptions): Dataset {
  const scan = discoverLayout(source);
  const problems = [...scan.problems];
  const warnings: DatasetWarning[] = [...scan.warnings];
  type Built = Omit<DatasetImage, "id" | "split"> & { presplit: "train" | "test" | null };
  const built: Built[] = [];
  const total = scan.items.length;
  let done = 0;
  for (const item of scan.items) {
    const before = problems.length;
    let size: { width: number; height: number } | null = null;
    try {
      const bytes = source.read(item.file);
      const img = opts.decodeImages ? decodeImage(bytes, item.file) : inspectImage(bytes, item.file);
      size = { width: img.width, height: img.height };
    } catch (e) {
      problems.push(problemOf(e, item.file));
    }
    let instances: MaskInstance[] = [];
    if (item.mask !== null) {
      try {
        const mask = decodeMask(source.read(item.mask), item.mask);
        if (size && (mask.width !== size.width || mask.height !== size.height)) {
          problems.push({
            file: item.mask,
            message:
              `mask is ${mask.width}×${mask.height} but its image ${item.file} is ${size.width}×${size.height}`,
          });
        }
        instances = boxesFromMask(mask);
        if (instances.length === 0) {
          problems.push({ file: item.mask, message: "mask has no instance (all pixels 0)" });
        }
      } catch (e) {
        problems.push(problemOf(e, item.mask));
      }
    }
    if (item.annotation !== null) {
      try {
        const annotation = parseAnnotation(source.read(item.annotation), item.annotation);
        if (size && instances.length > 0) {
          for (const message of crossCheckAnnotation(annotation, instances, size)) {
            warnings.push({ file: item.annotation, message });
          }
        }
      } catch (e) {
        problems.push(problemOf(e, item.annotation));
      }
    } else if (scan.layout === "official") {
      warnings.push({
        file: item.file,
        message: `no annotation file ${scan.root}Annotation/${item.name}.txt`,
      });
    }
    if (problems.length === before && size && item.mask) {
      built.push({
        name: item.name,
        file: item.file,
        mask: item.mask,
        annotation: item.annotation,
        width: size.width,
        height: size.height,
        boxes: instances.map((i) => i.box),
        instance_ids: instances.map((i) => i.id),
        mask_areas: instances.map((i) => i.area),
        presplit: item.split,
      });
    }
    opts.onProgress?.(++done, total);
  }
  if (problems.length > 0) throw new DatasetError(problems);

  let split: Dataset["split"];
  let testFiles: Set<string>;
  if (scan.layout === "presplit") {
    testFiles = new Set(built.filter((b) => b.presplit === "test").map((b) => b.file));
    split = {
      method: "predefined",
      seed: null,
      algorithm: "kept from the source's Images/{train,test} folders",
      train_size: built.length - testFiles.size,
      test_size: testFiles.size,
    };
  } else {
    const testSize = opts.testSize ?? defaultTestSize(built.length);
    const seed = opts.seed ?? 0;
    let parts;
    try {
      parts = seededSplit(built.map((b) => b.file), testSize, seed);
    } catch (e) {
      throw new DatasetError([{ file: source.location, message: (e as Error).message }]);
    }
    testFiles = new Set(parts.test);
    split = {
      method: "seeded",
      seed,
      algorithm: SPLIT_ALGORITHM,
      train_size: parts.train.length,
      test_size: testSize,
    };
  }
  const images: DatasetImage[] = built.map(({ presplit: _, ...b }, i) => ({
    id: i + 1,
    ...b,
    split: testFiles.has(b.file) ? "test" : "train",
  }));
  const dataset: Dataset = {
    version: DATASET_VERSION,
    source: {
      kind: source.kind,
      path: opts.source.path,
      url: opts.source.url ?? null,
      sha256: opts.source.sha256,
      layout: scan.layout,
      root: scan.root,
    },
    classes: [...CLASSES],
    split,
    counts: {
      images: images.length,
      boxes: images.reduce((s, im) => s + im.boxes.length, 0),
      train: images.filter((im) => im.split === "train").length,
      test: images.filter((im) => im.split === "test").length,
    },
    images,
    warnings,
  };
  return validateArtifact("dataset.json", DatasetSchema, dataset);
}

function problemOf(e: unknown, file: string): DataProblem {
  if (e instanceof SourceError || e instanceof AnnotationError) return { file, message: e.reason };
  if (e && typeof e === "object" && "reason" in e && typeof e.reason === "string") {
    return { file, message: e.reason };
  }
  return { file, message: e instanceof Error ? e.message : String(e) };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading and writing the artifacts.

/** Reads and validates dataset.json. @throws ArtifactError naming the file, field and bad value. */
export function readDataset(path: string): Promise<Dataset> {
  return readJsonArtifact(path, DatasetSchema);
}

/** Validates and writes dataset.json atomically. @throws ArtifactError if it does not satisfy the schema. */
export function writeDataset(path: string, dataset: Dataset): Promise<void> {
  return writeJsonArtifact(path, DatasetSchema, dataset);
}

/** The source the dataset's `file`/`mask` paths are inside, plus helpers to decode them. */
export interface OpenedDataset extends DataSource {
  /** Decodes an image of the dataset to RGB. */
  readImage(image: DatasetImage): RgbImage;
  /** Decodes an image's instance mask. */
  readMask(image: DatasetImage): GrayImage;
}

/**
 * Opens the source a dataset.json points at (zip or directory) to read the files it references. A relative
 * `source.path` is taken relative to the directory of `datasetPath`. For a zip, checks its SHA-256 against the one
 * recorded, so that boxes never get paired with different images.
 * @throws SourceError if the source is missing, unreadable or changed since `deno task prepare`.
 */
export async function openDatasetSource(dataset: Dataset, datasetPath: string): Promise<OpenedDataset> {
  const dir = datasetPath.includes("/") ? datasetPath.slice(0, datasetPath.lastIndexOf("/")) || "/" : ".";
  const path = dataset.source.path.startsWith("/") ? dataset.source.path : `${dir}/${dataset.source.path}`;
  let source: DataSource;
  if (dataset.source.kind === "zip") {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      throw new SourceError(
        path,
        `cannot read the dataset's source (from ${datasetPath}): ${(e as Error).message}`,
      );
    }
    if (dataset.source.sha256 !== null) {
      const actual = await sha256Hex(bytes);
      if (actual !== dataset.source.sha256) {
        throw new SourceError(
          path,
          `SHA-256 ${actual} differs from ${dataset.source.sha256} recorded in ${datasetPath}; run prepare again`,
        );
      }
    }
    source = openZipBytes(bytes, path);
  } else {
    source = await openDirectorySource(path);
  }
  return {
    ...source,
    list: source.list,
    has: source.has,
    read: source.read,
    readImage: (image) => decodeImage(source.read(image.file), image.file),
    readMask: (image) => decodeMask(source.read(image.mask), image.mask),
  };
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

// ---------------------------------------------------------------------------------------------------------------
// COCO export.

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
