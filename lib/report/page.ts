/**
 * The report page: one self-contained HTML file (inline CSS, inline SVG, pictures as `data:` URIs, a Content
 * Security Policy that forbids every fetch, no script), assembled from the sections in the order a reader needs
 * them: title, smoke banner, how to read, hypothesis and verdict, results, settings, PR curves, training, gallery.
 * All markup is built with lib/core's `markup` tag (every text escaped exactly once).
 * @module
 */
import { joinMarkup, type Markup, markup, rawMarkup } from "../core/mod.ts";
import type { RunComparison } from "./compare.ts";
import { objectNoun, type SettingsTable } from "./framing.ts";
import { type Gallery } from "./gallery.ts";
import { gallerySection } from "./gallery_html.ts";
import { plural } from "./notation.ts";
import type { RunData } from "./run_dir.ts";
import * as sections from "./sections.ts";
import type { Verdict } from "./verdict.ts";

const STYLE = rawMarkup(`
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1180px; color: #222; padding: 0 16px; }
h1 { font-size: 25px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 30px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta, .note, .small { color: #555; font-size: 13px; }
.banner { background: #fff4ce; border: 2px solid #e0a800; padding: 10px 14px; margin: 14px 0; }
.howto { background: #f6f6f6; border: 1px solid #ddd; padding: 4px 16px 8px; margin: 16px 0; }
.howto h2 { border: none; margin-top: 10px; font-size: 16px; }
.howto dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 6px 0; }
.howto dt { font-weight: 600; } .howto dd { margin: 0; }
.hypothesis { background: #f4f7fb; border-left: 4px solid #1f77b4; padding: 8px 14px; }
.verdict { font-size: 16px; } .verdict-head { font-weight: 700; }
.verdict[data-verdict="supported"] .verdict-head { color: #11712c; }
.verdict[data-verdict="not-supported"] .verdict-head { color: #a01818; }
.verdict[data-verdict="undecided"] .verdict-head, .verdict[data-verdict="incomplete"] .verdict-head { color: #8a5a00; }
table.results, table.settings { border-collapse: collapse; margin-top: 10px; }
table.results { width: 100%; }
table.results th, table.results td, table.settings th, table.settings td { border: 1px solid #ccc; padding: 6px 9px; text-align: left; vertical-align: top; }
table.results th, table.settings thead th { background: #f0f0f0; }
table.settings tbody th { font-weight: 500; color: #444; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best .value { font-weight: 700; } .ci { color: #666; font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; }
svg.chart { border: 1px solid #ddd; background: #fff; display: block; margin-top: 6px; }
svg .grid { stroke: #eee; } svg .frame { fill: none; stroke: #888; }
svg .tick { font-size: 11px; fill: #555; } svg .axis-label { font-size: 12px; fill: #333; }
svg .legend { font-size: 12px; fill: #222; }
.legend-row { display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 13px; margin: 8px 0 12px; }
.legend-row svg { vertical-align: -3px; margin-right: 4px; }
.gallery { display: flex; flex-wrap: wrap; gap: 18px; }
.item { border: 1px solid #ddd; padding: 8px; background: #fafafa; }
.item-head { font-size: 13px; margin-bottom: 6px; }
.panels { display: flex; gap: 10px; }
figure.panel { margin: 0; } figure.panel svg.shot { display: block; }
.panel-run { font-size: 13px; font-weight: 600; border-left: 5px solid; padding-left: 6px; margin-bottom: 4px; }
figcaption { font-size: 12px; color: #444; margin-top: 4px; }
svg.shot .label text { font-family: system-ui, sans-serif; font-weight: 600; }
`);

/** Everything the page shows, computed beforehand (see `buildReport`). */
export interface ReportContent {
  runs: readonly RunData[];
  title: string;
  /** ISO time shown in the header. */
  generatedAt: string;
  verdict: Verdict;
  comparisons: readonly RunComparison[];
  settings: SettingsTable;
  /** Why this is a smoke run; empty for a real experiment. */
  smokeReasons: readonly string[];
  /** Resamples behind the intervals (for the "how to read" box). */
  resamples: number;
  gallery?: Gallery;
}

/** The page. Pure: the same content gives the same text; no URL outside the page appears in it. */
export function renderReportHtml(c: ReportContent): string {
  const h: Markup[] = [];
  h.push(markup`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">`);
  h.push(joinMarkup([
    markup`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; `,
    markup`style-src 'unsafe-inline'">`,
  ]));
  h.push(markup`<title>${c.title}</title><style>${STYLE}</style></head><body>`);
  h.push(markup`<h1>${c.title}</h1>`);
  h.push(joinMarkup([
    markup`<p class="meta">Generated ${c.generatedAt} by <code>deno task report</code> from `,
    markup`${plural(c.runs.length, "run directory", "run directories")}: `,
    joinMarkup(c.runs.map((r) => markup`<code>${r.dir}</code>`), ", "),
    markup`.</p>`,
  ]));
  h.push(sections.smokeBanner(c.smokeReasons));
  h.push(sections.hypothesisSection(c.verdict, c.comparisons, c.runs));
  h.push(sections.howToReadBox(c.resamples, objectNoun(c.runs)));
  h.push(sections.resultsSection(c.runs));
  h.push(sections.settingsSection(c.settings));
  h.push(sections.prCurveSection(c.runs, 0.75));
  h.push(sections.prCurveSection(c.runs, 0.5));
  h.push(sections.trainingSections(c.runs));
  h.push(gallerySection(c.gallery, c.runs.map((r) => r.name), objectNoun(c.runs)));
  h.push(markup`</body></html>\n`);
  return joinMarkup(h, "\n").markup;
}
