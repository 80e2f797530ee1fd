/**
 * The hypothesis report from run directories: compares the runs (paired bootstrap), decides the verdict, frames
 * the page (title, smoke banner, settings) and builds the gallery, then renders the page (lib/report/page.ts).
 * @module
 */
import type { CocoGroundTruth } from "../data/mod.ts";
import type { RgbImage } from "../image/mod.ts";
import { compareRuns } from "./compare.ts";
import { type DatasetInfo, objectNoun, reportTitle, settingsTable, smokeReasons } from "./framing.ts";
import { buildGallery, type GalleryOptions } from "./gallery.ts";
import { renderReportHtml } from "./page.ts";
import type { RunData } from "./run_dir.ts";
import { decideVerdict } from "./verdict.ts";

/** Options of {@link buildReport}. */
export interface ReportOptions {
  /** Default: from the data and the runs ({@link reportTitle}). */
  title?: string;
  /** ISO time in the header (default: now). */
  generatedAt?: string;
  /** What the evaluated data is (title, smoke banner). */
  dataset?: DatasetInfo;
  /** Bootstrap resamples of the paired comparison (default 1000) and their seed (default 0). */
  resamples?: number;
  seed?: number;
  /** The test images for the gallery; without it there is no gallery. */
  images?: {
    /** Image id → RGB pixels. */
    read(imageId: number): RgbImage;
    /** Ground truth when no run has a gt.coco.json. */
    groundTruth?: CocoGroundTruth;
  };
  gallery?: Partial<GalleryOptions>;
}

/** The report page for `runs` (one HTML string). */
export function buildReport(runs: readonly RunData[], opts: ReportOptions = {}): string {
  const resamples = opts.resamples ?? 1000;
  const { comparisons } = compareRuns(runs, { resamples, seed: opts.seed });
  const gallery = opts.images && (opts.gallery?.count ?? 1) > 0
    ? buildGallery(runs, (id) => opts.images!.read(id), opts.gallery, opts.images.groundTruth)
    : undefined;
  return renderReportHtml({
    runs,
    title: opts.title ?? reportTitle(runs, opts.dataset),
    generatedAt: opts.generatedAt ?? new Date().toISOString(),
    verdict: decideVerdict(runs, comparisons, objectNoun(runs)),
    comparisons,
    settings: settingsTable(runs),
    smokeReasons: smokeReasons(runs, opts.dataset),
    resamples,
    gallery,
  });
}
