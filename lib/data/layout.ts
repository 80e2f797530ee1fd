/**
 * Finding the Penn-Fudan layout in a file tree: the official release (`PNGImages/`, `PedMasks/`, `Annotation/`)
 * or the course's pre-split one (`Images/{train,test}`, `Masks/{train,test}`), pairing each image with its mask
 * and annotation file, and listing the files that do not fit.
 * @module
 */
import { inlineList } from "../core/mod.ts";
import { type DataProblem, DatasetError } from "./problems.ts";
import type { DataSource } from "./source.ts";

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
    throw new DatasetError([{ file: where, message: `several dataset roots: ${inlineList([...roots])}` }]);
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
