/**
 * Building `dataset.json` from a file tree: every image inspected (or decoded), every mask decoded into boxes,
 * annotations cross-checked, the split made (seeded, or kept from a pre-split layout), all problems collected.
 * @module
 */
import { validateArtifact } from "../core/mod.ts";
import { decodeImage, decodeMask, inspectImage } from "../image/mod.ts";
import { crossCheckAnnotation, parseAnnotation } from "./annotation.ts";
import {
  CLASSES,
  type Dataset,
  DATASET_VERSION,
  type DatasetImage,
  DatasetSchema,
  type DatasetWarning,
  degenerateBoxReason,
} from "./dataset.ts";
import { discoverLayout } from "./layout.ts";
import { boxesFromMask, type MaskInstance } from "./masks.ts";
import { DatasetError, problemOf } from "./problems.ts";
import type { DataSource } from "./source.ts";
import { defaultTestSize, seededSplit, SPLIT_ALGORITHM } from "./split.ts";

/** Options of {@link buildDataset}. */
export interface BuildOptions {
  /** The origin recorded in dataset.json (path, url, sha256 of the file tree); kind, layout, root are filled in. */
  origin: { path: string; url?: string | null; sha256: string | null };
  /** Test images for a seeded split (ignored for the pre-split layout). Default {@link defaultTestSize}. */
  testSize?: number;
  /** Seed of the split. Default 0. */
  seed?: number;
  /**
   * Fully decode every image (slow) instead of checking its structure and checksums with {@link inspectImage}.
   * Default false: masks are always decoded (boxes need their pixels), images only inspected.
   */
  decodeImages?: boolean;
  /**
   * Drop instances with a degenerate box (lib/data/dataset.ts `degenerateBoxReason`), each with a warning, instead
   * of refusing them as problems. Default false.
   */
  dropDegenerate?: boolean;
  /** Called after each image with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Reads every image and mask of `source`, derives boxes from the masks, cross-checks the annotation files, splits
 * train/test, and returns the validated dataset (not yet written).
 * @throws DatasetError listing EVERY problem found (unreadable entries, non-images, missing masks, masks without
 *   instances, degenerate instances unless dropped, image/mask size mismatches, images or masks over the pixel
 *   limit, unreadable annotations), each naming its file.
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
        instances = boxesFromMask(mask).filter((inst) => {
          const reason = degenerateBoxReason(inst.box, inst.area);
          if (!reason) return true;
          const message = `instance ${inst.id} (${inst.area} px): ${reason}`;
          const entry = opts.dropDegenerate
            ? { file: item.mask!, message: `dropped ${message}` }
            : { file: item.mask!, message: `${message}; --drop-degenerate drops such instances` };
          (opts.dropDegenerate ? warnings : problems).push(entry);
          return false;
        });
        if (instances.length === 0 && !problems.some((p) => p.file === item.mask)) {
          const message = warnings.some((w) => w.file === item.mask)
            ? "mask has no instance left after dropping the degenerate ones"
            : "mask has no instance (all pixels 0)";
          problems.push({ file: item.mask, message });
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
    ({ split, testFiles } = seededSplitOf(built.map((b) => b.file), opts, source.location));
  }
  return assembleDataset(built.map(({ presplit: _, ...b }) => b), split, testFiles, {
    origin: {
      kind: source.kind,
      path: opts.origin.path,
      url: opts.origin.url ?? null,
      sha256: opts.origin.sha256,
      layout: scan.layout,
      root: scan.root,
    },
    classes: [...CLASSES],
    warnings,
  });
}

/**
 * The seeded split of `files` (opts.testSize, default {@link defaultTestSize}; opts.seed, default 0) as recorded in
 * dataset.json, and the set of test files.
 * @throws DatasetError naming `location` for an impossible test size
 */
export function seededSplitOf(
  files: string[],
  opts: Pick<BuildOptions, "testSize" | "seed">,
  location: string,
): { split: Dataset["split"]; testFiles: Set<string> } {
  const testSize = opts.testSize ?? defaultTestSize(files.length);
  const seed = opts.seed ?? 0;
  let parts;
  try {
    parts = seededSplit(files, testSize, seed);
  } catch (e) {
    throw new DatasetError([{ file: location, message: (e as Error).message }]);
  }
  return {
    split: {
      method: "seeded",
      seed,
      algorithm: SPLIT_ALGORITHM,
      train_size: parts.train.length,
      test_size: testSize,
    },
    testFiles: new Set(parts.test),
  };
}

/** The validated dataset of `built` images (ids 1.. in order; split by `testFiles`), with counts filled in. */
export function assembleDataset(
  built: Omit<DatasetImage, "id" | "split">[],
  split: Dataset["split"],
  testFiles: ReadonlySet<string>,
  rest: Pick<Dataset, "origin" | "classes" | "warnings">,
): Dataset {
  const images: DatasetImage[] = built.map((b, i) => ({
    id: i + 1,
    ...b,
    split: testFiles.has(b.file) ? "test" : "train",
  }));
  const dataset: Dataset = {
    version: DATASET_VERSION,
    origin: rest.origin,
    classes: rest.classes,
    split,
    counts: {
      images: images.length,
      boxes: images.reduce((s, im) => s + im.boxes.length, 0),
      train: images.filter((im) => im.split === "train").length,
      test: images.filter((im) => im.split === "test").length,
    },
    images,
    warnings: rest.warnings,
  };
  return validateArtifact("dataset.json", DatasetSchema, dataset);
}
