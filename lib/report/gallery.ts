/**
 * The gallery's content: which test images to show and what to mark on them. For every test image and run, the
 * detections with score ≥ t are matched to the pedestrians at IoU 0.75 with COCO's greedy rule
 * (lib/evaluation `evaluateImage`), giving correct detections, false positives and missed pedestrians; the images
 * where the runs' error counts differ most come first (with one run: the images with the most errors). Each
 * chosen image is decoded once and scaled (up or down) to the display width as a JPEG `data:` URI.
 * @module
 */
import { ArtifactError } from "../core/mod.ts";
import {
  COCO_AREA_ALL,
  type CocoResult,
  evaluateImage,
  groupByImage,
  type XywhBox,
} from "../evaluation/mod.ts";
import type { CocoGroundTruth } from "../data/mod.ts";
import { encodeJpeg, resizeBilinearPil, type RgbImage } from "../image/mod.ts";
import type { RunData } from "./run_dir.ts";

/** IoU threshold of the error view (the homework's metric). */
export const GALLERY_IOU = 0.75;

/** Options of {@link buildGallery}. */
export interface GalleryOptions {
  /** Number of test images shown. */
  count: number;
  /** Detections with a lower score are not drawn (the operating point of the error view). */
  minScore: number;
  /** Labels (scores) on at most this many of the highest-scoring detections per image; the rest are boxes only. */
  maxLabels: number;
  /** At most this many detections drawn per image (the highest scores); all of them are counted. */
  maxBoxes: number;
  /** Width of each picture on the page, CSS pixels (≥ 320 for readability). */
  width: number;
}

/** Defaults of the report task. */
export const GALLERY_DEFAULTS: Readonly<GalleryOptions> = Object.freeze({
  count: 6,
  minScore: 0.3,
  maxLabels: 3,
  maxBoxes: 10,
  width: 360,
});

/** A detection drawn in a panel (pixel xywh of the original image). */
export interface GalleryDetection {
  bbox: XywhBox;
  score: number;
  /** Matched to a pedestrian at IoU ≥ 0.75 (false: a false positive; null: matched a crowd region, ignored). */
  correct: boolean | null;
  /** One of the `maxBoxes` highest scores: drawn. */
  drawn: boolean;
  /** One of the `maxLabels` highest scores: drawn with its score. */
  labelled: boolean;
}

/** One run's view of one image. */
export interface GalleryPanel {
  runName: string;
  runIndex: number;
  /** False when the run has no detections file. */
  available: boolean;
  /** All detections of the run on this image (N in "k of N"). */
  nDetections: number;
  /** Those with score ≥ minScore, highest score first (k = their number; the first `maxBoxes` are drawn). */
  shown: GalleryDetection[];
  /** Per ground truth (same order as the item's `gt`): found by a shown detection at IoU ≥ 0.75. */
  found: boolean[];
  nCorrect: number;
  nFalsePositives: number;
  nMissed: number;
}

/** One test image with one panel per run. */
export interface GalleryItem {
  imageId: number;
  fileName: string;
  /** Original image size (the boxes' coordinate system). */
  width: number;
  height: number;
  /** Ground-truth boxes (pixel xywh) and whether each is a crowd region. */
  gt: { bbox: XywhBox; crowd: boolean }[];
  /** JPEG `data:` URI of the picture scaled to `displayWidth` × `displayHeight`. */
  dataUri: string;
  displayWidth: number;
  displayHeight: number;
  panels: GalleryPanel[];
  /** Max − min over runs of (false positives + missed) — the sort key (one run: its error count). */
  difference: number;
}

/** What {@link buildGallery} returns. */
export interface Gallery {
  items: GalleryItem[];
  options: GalleryOptions;
  /** Test images the items were chosen from. */
  nCandidates: number;
}

/** Matches one run's shown detections on one image (score ≥ t) to its ground truth at IoU 0.75. */
export function analysePanel(
  gt: readonly { bbox: XywhBox; crowd: boolean }[],
  detections: readonly { bbox: readonly number[]; score: number }[],
  opts: Pick<GalleryOptions, "minScore" | "maxLabels" | "maxBoxes">,
): Omit<GalleryPanel, "runName" | "runIndex" | "available"> {
  const kept = detections.filter((d) => d.score >= opts.minScore)
    .map((d) => ({ image_id: 0, bbox: [...d.bbox] as XywhBox, score: d.score }));
  const e = evaluateImage(
    gt.map((g) => ({ image_id: 0, bbox: g.bbox, iscrowd: g.crowd ? 1 : 0 })),
    kept,
    COCO_AREA_ALL,
    kept.length,
    [GALLERY_IOU],
  );
  // evaluateImage orders detections by score (stable) and ground truths with crowds last; map back.
  const shown = e.dtOrder.map((di, k): GalleryDetection => ({
    bbox: kept[di].bbox,
    score: kept[di].score,
    correct: e.dtIgnore[0][k] ? null : e.dtMatched[0][k] === 1,
    drawn: k < opts.maxBoxes,
    labelled: k < Math.min(opts.maxLabels, opts.maxBoxes),
  }));
  const found = new Array<boolean>(gt.length).fill(false);
  e.gtOrder.forEach((gi, k) => (found[gi] = e.gtMatched[0][k] === 1));
  const real = gt.map((g, i) => ({ g, i })).filter(({ g }) => !g.crowd);
  return {
    nDetections: detections.length,
    shown,
    found,
    nCorrect: shown.filter((d) => d.correct === true).length,
    nFalsePositives: shown.filter((d) => d.correct === false).length,
    nMissed: real.filter(({ i }) => !found[i]).length,
  };
}

/** `data:image/jpeg;base64,…` of an RGB image (jpeg-js, quality 85). */
export function jpegDataUri(img: RgbImage, quality = 85): string {
  const bytes = encodeJpeg(img, quality);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return `data:image/jpeg;base64,${btoa(bin)}`;
}

/** `img` scaled (Pillow bilinear) to `width` pixels wide, aspect ratio kept. */
export function scaleToWidth(img: RgbImage, width: number): RgbImage {
  if (img.width === width) return img;
  return resizeBilinearPil(img, width, Math.max(1, Math.round((img.height * width) / img.width)));
}

/**
 * The gallery over the runs' test images: ground truth from the first run with a gt.coco.json, else
 * `fallbackGroundTruth`; every image analysed, the `count` with the largest difference between runs decoded
 * (`readImage`: image id → RGB pixels) and scaled.
 * @throws ArtifactError when no ground truth is available
 */
export function buildGallery(
  runs: readonly RunData[],
  readImage: (imageId: number) => RgbImage,
  options: Partial<GalleryOptions> = {},
  fallbackGroundTruth?: CocoGroundTruth,
): Gallery {
  const opts = { ...GALLERY_DEFAULTS, ...options };
  const source = runs.find((r) => r.groundTruth);
  const gtFile = source?.groundTruth ?? fallbackGroundTruth;
  if (!gtFile) throw new ArtifactError(runs[0]?.dir ?? "(no runs)", ["gt.coco.json: needed for the gallery"]);
  const categoryId = source?.ap.settings.category.id ?? runs[0]?.ap.settings.category.id;
  const gtByImage = groupByImage(
    gtFile.annotations.filter((a) => categoryId === undefined || a.category_id === categoryId),
  );
  const detsByRun = runs.map((r) =>
    r.detections &&
    groupByImage(r.detections.filter((d: CocoResult) => d.category_id === r.ap.settings.category.id))
  );
  const analysed = gtFile.images.map((im) => {
    const gt = (gtByImage.get(im.id) ?? []).map((a) => ({
      bbox: [...a.bbox] as XywhBox,
      crowd: a.iscrowd === 1,
    }));
    const panels = runs.map((r, i): GalleryPanel => {
      const dets = detsByRun[i]?.get(im.id) ?? [];
      return { runName: r.name, runIndex: i, available: !!detsByRun[i], ...analysePanel(gt, dets, opts) };
    });
    const errors = panels.filter((p) => p.available).map((p) => p.nFalsePositives + p.nMissed);
    const difference = errors.length > 1 ? Math.max(...errors) - Math.min(...errors) : (errors[0] ?? 0);
    return { im, gt, panels, difference, errors: errors.reduce((a, b) => a + b, 0) };
  });
  analysed.sort((a, b) => b.difference - a.difference || b.errors - a.errors || a.im.id - b.im.id);
  const items = analysed.slice(0, opts.count).map(({ im, gt, panels, difference }): GalleryItem => {
    const pixels = readImage(im.id);
    const scaled = scaleToWidth(pixels, opts.width);
    return {
      imageId: im.id,
      fileName: im.file_name ?? String(im.id),
      width: pixels.width,
      height: pixels.height,
      gt,
      dataUri: jpegDataUri(scaled),
      displayWidth: scaled.width,
      displayHeight: scaled.height,
      panels,
      difference,
    };
  });
  return { items, options: opts, nCandidates: gtFile.images.length };
}
