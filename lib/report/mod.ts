/**
 * The HTML report that answers the homework's question from evaluation runs: run directories (run_dir.ts), the
 * paired comparison (compare.ts) and the verdict (verdict.ts), the framing (framing.ts), charts (chart.ts,
 * training.ts), the gallery (gallery.ts, gallery_html.ts), the sections (sections.ts) and the page (page.ts).
 * @module
 */
export {
  CHART_MARGIN,
  type ChartOptions,
  chartScale,
  type ChartSeries,
  lineChartSvg,
  niceTicks,
} from "./chart.ts";
export { type CompareOptions, compareRuns, type Comparisons, type RunComparison } from "./compare.ts";
export {
  type DatasetInfo,
  describeDataset,
  reportTitle,
  settingName,
  type SettingsTable,
  settingsTable,
  SMOKE_MAX_TEST_IMAGES,
  smokeReasons,
  startText,
  UNTRAINED_AP50,
} from "./framing.ts";
export {
  analysePanel,
  buildGallery,
  type Gallery,
  GALLERY_DEFAULTS,
  GALLERY_IOU,
  type GalleryDetection,
  type GalleryItem,
  type GalleryOptions,
  type GalleryPanel,
  jpegDataUri,
  scaleToWidth,
} from "./gallery.ts";
export { gallerySection, panelCaption, panelSvg } from "./gallery_html.ts";
export {
  cssColor,
  ERROR_COLOR,
  formatAp,
  formatInterval,
  formatSigned,
  GT_COLOR,
  RUN_COLORS,
  runColor,
} from "./notation.ts";
export { renderReportHtml, type ReportContent } from "./page.ts";
export { buildReport, type ReportOptions } from "./report.ts";
export { loadRunDir, perImageEvalOf, type RunData } from "./run_dir.ts";
export {
  howToReadBox,
  hypothesisSection,
  prCurveSection,
  resultsSection,
  settingsSection,
  smokeBanner,
  trainingSections,
} from "./sections.ts";
export { bestEpochSeries, lossSeries, type TrainingCurves, trainingCurves } from "./training.ts";
export { decideVerdict, differenceText, intervalVerdict, type Verdict, type VerdictKind } from "./verdict.ts";
