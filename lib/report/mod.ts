/**
 * The HTML report that answers the homework's question from evaluation runs.
 * @module
 */
export {
  buildGallery,
  type ChartOptions,
  type ChartSeries,
  escapeHtml,
  type GalleryCell,
  type GalleryOptions,
  type GalleryRow,
  lineChartSvg,
  loadRunDir,
  pngDataUri,
  renderGalleryImage,
  renderReportHtml,
  type ReportOptions,
  RUN_COLORS,
  type RunData,
} from "./report.ts";
