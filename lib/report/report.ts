/**
 * The hypothesis report: one self-contained HTML page (inline CSS, inline SVG charts, images as `data:` PNG URIs,
 * no network) comparing evaluation runs — the original 21-class VOC detector scored on `person` against the
 * fine-tuned single-class model(s).
 *
 * A run directory holds (see {@link loadRunDir}):
 * - `ap.json` (required) — `deno task ap` output: AP@0.5, AP@0.75, AP@[.5:.95], AR@100, PR curve at IoU 0.75,
 *   settings (incl. `dataset`, `checkpoint`/`weights`, detector parameters);
 * - `detections.coco.json` — COCO results of the evaluated split (needed for the gallery);
 * - `gt.coco.json` — the split's COCO ground truth (written by `deno task ap` mode B);
 * - `train-log.json` — optional training curves `{ steps: [{epoch, step, loss}], epochs: [{epoch, train_loss,
 *   val_loss, val_ap75}] }` (extra fields allowed, e.g. `settings`);
 * - `run.json` — optional `{ name, kind: "original" | "finetuned", description, dataset, settings }`: display
 *   name, role and training settings shown in the table.
 * @module
 */
import { ArtifactError, readJsonArtifact } from "../core/artifacts.ts";
import {
  type ApJson,
  ApJsonSchema,
  type CocoGtFile,
  type CocoResult,
  readCocoGtFile,
  readCocoResults,
  xywhToPixelXyxy,
} from "../eval/coco.ts";
import { drawBoxes, type Rgb } from "../image/draw.ts";
import { encodePng, resizeBilinearPil, type RgbImage } from "../image/codec.ts";
// the schema files themselves, not lib/train/mod.ts: the report stays free of TF.js
import { readRunJson, type RunJson, type RunNote } from "../train/run_json.ts";
import { readTrainingLog, type TrainingLog } from "../train/train_log.ts";

/** Everything the report shows about one run. */
export interface RunData {
  dir: string;
  name: string;
  kind: "original" | "finetuned";
  description?: string;
  ap: ApJson;
  detections?: CocoResult[];
  groundTruth?: CocoGtFile;
  trainLog?: TrainingLog;
  /** Settings shown in the table: run.json settings, else train-log settings. */
  trainingSettings?: Record<string, unknown>;
  /** dataset.json path, resolved relative to the run directory when relative. */
  dataset?: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function resolveFrom(dir: string, path: string): string {
  return path.startsWith("/") ? path : `${dir}/${path}`;
}

/**
 * Reads a run directory (layout in the module doc). Only `ap.json` is required.
 * @throws ArtifactError naming the file and field when a present file is malformed or ap.json is missing.
 */
export async function loadRunDir(dir: string): Promise<RunData> {
  const d = dir.replace(/\/+$/, "") || "/";
  const ap = await readJsonArtifact(`${d}/ap.json`, ApJsonSchema);
  const run: RunJson | RunNote = (await exists(`${d}/run.json`)) ? await readRunJson(`${d}/run.json`) : {};
  const trainLog = (await exists(`${d}/train-log.json`))
    ? await readTrainingLog(`${d}/train-log.json`)
    : undefined;
  const groundTruth = (await exists(`${d}/gt.coco.json`))
    ? await readCocoGtFile(`${d}/gt.coco.json`)
    : undefined;
  const detections = (await exists(`${d}/detections.coco.json`))
    ? await readCocoResults(
      `${d}/detections.coco.json`,
      groundTruth && new Set(groundTruth.images.map((im) => im.id)),
    )
    : undefined;
  const nClasses = ap.settings.n_classes;
  const kind = run.kind ?? (nClasses === 21 ? "original" : "finetuned");
  const datasetSetting = run.dataset ??
    (typeof ap.settings.dataset === "string" ? ap.settings.dataset : undefined);
  return {
    dir: d,
    name: run.name ?? d.slice(d.lastIndexOf("/") + 1),
    kind,
    description: run.description,
    ap,
    detections,
    groundTruth,
    trainLog,
    trainingSettings: run.settings ?? trainLog?.settings,
    dataset: datasetSetting && (run.dataset ? resolveFrom(d, datasetSetting) : datasetSetting),
  };
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** Colours of the runs in charts and the table (Tableau 10). */
export const RUN_COLORS: readonly Rgb[] = [
  [31, 119, 180],
  [214, 39, 40],
  [44, 160, 44],
  [148, 103, 189],
  [255, 127, 14],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
];
const css = (c: Rgb) => `rgb(${c[0]},${c[1]},${c[2]})`;
/** Ground-truth box colour in the gallery. */
const GT_COLOR: Rgb = [0, 200, 0];

/** One line of a chart. */
export interface ChartSeries {
  name: string;
  color: Rgb;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
}

/** Options of {@link lineChartSvg}. */
export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Axis ranges; default: the data's extent (y from 0). */
  xDomain?: [number, number];
  yDomain?: [number, number];
  width?: number;
  height?: number;
  /** `data-chart` attribute value, for tests and styling. */
  id?: string;
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

function fmtTick(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0)
    ? v.toExponential(1)
    : String(Number(v.toFixed(3)));
}

/**
 * An inline SVG line chart (axes, ticks, grid, legend); each series is a `<polyline>` with `data-series` = its
 * name. Pure: the same input gives the same text.
 */
export function lineChartSvg(series: readonly ChartSeries[], opts: ChartOptions): string {
  const width = opts.width ?? 520;
  // The legend goes under the plot, one line per series, so that long run names are never cut.
  const legendHeight = 16 * series.length + 4;
  const height = (opts.height ?? 320) + legendHeight;
  const m = { left: 56, right: 16, top: 30, bottom: 46 + legendHeight };
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const xDomain = opts.xDomain ?? [Math.min(0, ...xs), xs.length ? Math.max(...xs) : 1];
  const yDomain = opts.yDomain ?? [Math.min(0, ...ys), ys.length ? Math.max(...ys) : 1];
  if (xDomain[1] <= xDomain[0]) xDomain[1] = xDomain[0] + 1;
  if (yDomain[1] <= yDomain[0]) yDomain[1] = yDomain[0] + 1;
  const pw = width - m.left - m.right, ph = height - m.top - m.bottom;
  const sx = (x: number) => m.left + ((x - xDomain[0]) / (xDomain[1] - xDomain[0])) * pw;
  const sy = (y: number) => m.top + ph - ((y - yDomain[0]) / (yDomain[1] - yDomain[0])) * ph;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${
      escapeHtml(opts.id ?? opts.title)
    }" ` +
      `width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${
        escapeHtml(opts.title)
      }">`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(
    `<text x="${width / 2}" y="18" text-anchor="middle" class="chart-title">${escapeHtml(opts.title)}</text>`,
  );
  for (const t of niceTicks(xDomain[0], xDomain[1])) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" class="grid"/>`);
    parts.push(
      `<text x="${x}" y="${m.top + ph + 16}" text-anchor="middle" class="tick">${fmtTick(t)}</text>`,
    );
  }
  for (const t of niceTicks(yDomain[0], yDomain[1])) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" class="grid"/>`);
    parts.push(
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" class="tick">${
        fmtTick(t)
      }</text>`,
    );
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" class="frame"/>`);
  parts.push(
    `<text x="${m.left + pw / 2}" y="${m.top + ph + 34}" text-anchor="middle" class="axis-label">${
      escapeHtml(opts.xLabel)
    }</text>`,
  );
  parts.push(
    `<text x="14" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 14 ${
      m.top + ph / 2
    })" class="axis-label">${escapeHtml(opts.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]))
      .map((p) => `${sx(p[0]).toFixed(2)},${sy(p[1]).toFixed(2)}`).join(" ");
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    parts.push(
      `<polyline data-series="${escapeHtml(s.name)}" points="${pts}" fill="none" stroke="${
        css(s.color)
      }" stroke-width="2"${dash}/>`,
    );
    if (s.points.length === 1) {
      const [x, y] = s.points[0];
      parts.push(`<circle cx="${sx(x).toFixed(2)}" cy="${sy(y).toFixed(2)}" r="3" fill="${css(s.color)}"/>`);
    }
    const ly = height - legendHeight + 8 + i * 16;
    parts.push(
      `<line x1="${m.left}" y1="${ly}" x2="${m.left + 22}" y2="${ly}" stroke="${
        css(s.color)
      }" stroke-width="3"${dash}/>`,
    );
    parts.push(
      `<text x="${m.left + 28}" y="${ly}" dominant-baseline="middle" class="legend">${
        escapeHtml(s.name)
      }</text>`,
    );
  });
  parts.push(`</svg>`);
  return parts.join("\n");
}

/** One gallery cell: an image with ground truth and one run's predictions drawn in. */
export interface GalleryCell {
  runName: string;
  /** PNG `data:` URI. */
  dataUri: string;
  nShown: number;
}

/** One gallery row: a test image, one cell per run. */
export interface GalleryRow {
  imageId: number;
  fileName: string;
  nGt: number;
  cells: GalleryCell[];
}

/** `data:image/png;base64,…` of an RGB image. */
export function pngDataUri(img: RgbImage): string {
  const bytes = encodePng(img);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return `data:image/png;base64,${btoa(bin)}`;
}

/**
 * Draws ground truth (green) and a run's detections with score ≥ `minScore` (at most `maxBoxes`, labelled with
 * their score) on `img`, shrunk to at most `maxSide` pixels first so that the page stays small.
 * @param gtBoxes, detections: pixel xywh boxes of the original image
 */
export function renderGalleryImage(
  img: RgbImage,
  gtBoxes: readonly (readonly number[])[],
  detections: readonly { bbox: readonly number[]; score: number }[],
  color: Rgb,
  opts: { minScore: number; maxBoxes: number; maxSide: number },
): { image: RgbImage; nShown: number } {
  const scale = Math.min(1, opts.maxSide / Math.max(img.width, img.height));
  const small = scale < 1
    ? resizeBilinearPil(
      img,
      Math.max(1, Math.round(img.width * scale)),
      Math.max(1, Math.round(img.height * scale)),
    )
    : img;
  const sx = small.width / img.width, sy = small.height / img.height;
  const toBox = (b: readonly number[]) => {
    const [x0, y0, x1, y1] = xywhToPixelXyxy(b);
    return [x0 * sx, y0 * sy, x1 * sx, y1 * sy] as [number, number, number, number];
  };
  const shown = [...detections].filter((d) => d.score >= opts.minScore).sort((a, b) => b.score - a.score)
    .slice(0, opts.maxBoxes);
  const boxes = [
    ...gtBoxes.map((b) => ({ box: toBox(b), color: GT_COLOR })),
    // lowest score first so that the best boxes and labels are drawn on top
    ...shown.reverse().map((d) => ({ box: toBox(d.bbox), color, label: d.score.toFixed(2) })),
  ];
  return { image: drawBoxes(small, boxes, { lineWidth: 2 }), nShown: shown.length };
}

const fmt = (v: number | undefined) => v === undefined ? "–" : v < 0 ? "n/a" : v.toFixed(4);

function settingsText(settings: Record<string, unknown> | undefined): string {
  if (!settings) return "";
  return Object.entries(settings).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("; ");
}

function detectorText(ap: ApJson): string {
  const s = ap.settings;
  const model = s.weights ?? s.checkpoint ?? s.detections ?? "";
  const bits = [
    model ? `model: ${model}` : "",
    s.n_classes !== undefined ? `${s.n_classes} classes` : "",
    s.class !== undefined
      ? `class ${s.class}${s.class_index !== undefined ? ` (#${s.class_index})` : ""}`
      : "",
    s.min_score !== undefined
      ? `min_score ${s.min_score}, max_overlap ${s.max_overlap}, top_k ${s.top_k}`
      : "",
    s.split !== undefined ? `split ${s.split}` : "",
  ];
  return bits.filter(Boolean).join("; ");
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1150px; color: #222; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #666; font-size: 12px; }
.hypothesis { background: #f4f7fb; border-left: 4px solid #1f77b4; padding: 10px 14px; }
.verdict { font-weight: 600; }
table.results { border-collapse: collapse; width: 100%; margin-top: 8px; }
table.results th, table.results td { border: 1px solid #ccc; padding: 6px 8px; text-align: left; vertical-align: top; }
table.results td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.results th { background: #f0f0f0; }
td.best { font-weight: 700; background: #eef8ee; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; }
.settings { font-size: 12px; color: #444; max-width: 420px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg.chart { border: 1px solid #ddd; background: #fff; }
svg .grid { stroke: #eee; } svg .frame { fill: none; stroke: #888; }
svg .tick { font-size: 11px; fill: #555; } svg .axis-label { font-size: 12px; fill: #333; }
svg .chart-title { font-size: 13px; font-weight: 600; fill: #222; } svg .legend { font-size: 11px; fill: #222; }
table.gallery { border-collapse: collapse; }
table.gallery td, table.gallery th { padding: 6px; vertical-align: top; text-align: center; font-size: 12px; }
table.gallery img { display: block; max-width: 100%; border: 1px solid #ccc; }
`;

/** Options of {@link renderReportHtml}. */
export interface ReportOptions {
  title?: string;
  /** ISO time shown in the header. */
  generatedAt?: string;
  gallery?: GalleryRow[];
  /** Note shown above the gallery (thresholds used). */
  galleryNote?: string;
}

/**
 * The report page: hypothesis and verdict, results table, PR curves at IoU 0.75, training curves (runs with a
 * train-log), gallery. Pure and self-contained (no external URL anywhere).
 */
export function renderReportHtml(runs: readonly RunData[], opts: ReportOptions = {}): string {
  const title = opts.title ?? "SSD300 person detector: original VOC model vs fine-tuned on Penn-Fudan";
  const color = (i: number) => RUN_COLORS[i % RUN_COLORS.length];
  const best = (key: "ap50" | "ap75" | "ap" | "ar100") => Math.max(...runs.map((r) => r.ap[key]));
  const h: string[] = [];
  h.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">`);
  h.push(
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`,
  );
  h.push(`<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>`);
  h.push(`<h1>${escapeHtml(title)}</h1>`);
  h.push(
    `<p class="meta">Generated ${
      escapeHtml(opts.generatedAt ?? new Date().toISOString())
    } by <code>deno task report</code>. ` +
      `AP is COCO's (pycocotools semantics: 101-point interpolated, maxDets 100, area all), on the test split.</p>`,
  );

  // Hypothesis and verdict.
  const original = runs.find((r) => r.kind === "original");
  const tuned = runs.filter((r) => r.kind === "finetuned");
  h.push(
    `<h2>Hypothesis</h2><div class="hypothesis"><p>Fine-tuning SSD300 with a single <code>person</code> class on ` +
      `Penn-Fudan raises person AP at IoU 0.75 on the held-out test images above the original 21-class VOC detector ` +
      `scored on its <code>person</code> class.</p>`,
  );
  if (original && tuned.length) {
    const top = tuned.reduce((a, b) => (b.ap.ap75 > a.ap.ap75 ? b : a));
    const delta = top.ap.ap75 - original.ap.ap75;
    h.push(
      `<p class="verdict" data-verdict="${delta > 0 ? "supported" : "not-supported"}">` +
        `${delta > 0 ? "Supported" : "Not supported"}: AP@0.75 ${fmt(original.ap.ap75)} (${
          escapeHtml(original.name)
        }) → ` +
        `${fmt(top.ap.ap75)} (${escapeHtml(top.name)}), ${delta >= 0 ? "+" : ""}${delta.toFixed(4)}.</p>`,
    );
  } else {
    h.push(
      `<p class="verdict" data-verdict="incomplete">Not decided: the report needs one run of kind "original" and ` +
        `at least one of kind "finetuned" (have: ${
          runs.map((r) => `${escapeHtml(r.name)} = ${r.kind}`).join(", ")
        }).</p>`,
    );
  }
  h.push(`</div>`);

  // Results table.
  h.push(
    `<h2>Results</h2><table class="results" id="results"><thead><tr><th>run</th><th>kind</th>` +
      `<th>AP@0.5</th><th>AP@0.75</th><th>AP@[.5:.95]</th><th>AR@100</th><th>images / gt / detections</th>` +
      `<th>detector</th><th>training settings</th></tr></thead><tbody>`,
  );
  runs.forEach((r, i) => {
    const cell = (key: "ap50" | "ap75" | "ap" | "ar100") =>
      `<td class="num${runs.length > 1 && r.ap[key] === best(key) ? " best" : ""}" data-metric="${key}">${
        fmt(r.ap[key])
      }</td>`;
    h.push(
      `<tr data-run="${escapeHtml(r.name)}"><td><span class="swatch" style="background:${
        css(color(i))
      }"></span>` +
        `${escapeHtml(r.name)}${
          r.description ? `<br><span class="settings">${escapeHtml(r.description)}</span>` : ""
        }</td>` +
        `<td>${r.kind}</td>${cell("ap50")}${cell("ap75")}${cell("ap")}${cell("ar100")}` +
        `<td class="num">${r.ap.n_images} / ${r.ap.n_gt} / ${r.ap.n_detections}</td>` +
        `<td class="settings">${escapeHtml(detectorText(r.ap))}</td>` +
        `<td class="settings">${escapeHtml(settingsText(r.trainingSettings)) || "–"}</td></tr>`,
    );
  });
  h.push(`</tbody></table>`);

  // PR curves.
  h.push(`<h2>Precision–recall at IoU 0.75</h2><div class="charts">`);
  h.push(lineChartSvg(
    runs.map((r, i) => ({
      name: `${r.name} (AP ${fmt(r.ap.ap75)})`,
      color: color(i),
      points: r.ap.pr_curve_75,
    })),
    {
      title: "PR curve, IoU 0.75 (COCO interpolated)",
      xLabel: "recall",
      yLabel: "precision",
      xDomain: [0, 1],
      yDomain: [0, 1],
      id: "pr75",
    },
  ));
  h.push(lineChartSvg(
    runs.map((r, i) => ({
      name: `${r.name} (AP ${fmt(r.ap.ap50)})`,
      color: color(i),
      points: r.ap.pr_curve_50,
      dashed: true,
    })),
    {
      title: "PR curve, IoU 0.5 (COCO interpolated)",
      xLabel: "recall",
      yLabel: "precision",
      xDomain: [0, 1],
      yDomain: [0, 1],
      id: "pr50",
    },
  ));
  h.push(`</div>`);

  // Training curves.
  const logged = runs.map((r, i) => ({ r, i })).filter(({ r }) => r.trainLog);
  if (logged.length) {
    h.push(`<h2>Training</h2><div class="charts">`);
    for (const { r, i } of logged) {
      const log = r.trainLog!;
      const stepsPerEpoch = new Map<number, number>();
      for (const s of log.steps) {
        stepsPerEpoch.set(s.epoch, Math.max(stepsPerEpoch.get(s.epoch) ?? 0, s.step + 1));
      }
      const loss: ChartSeries[] = [
        { name: "step loss", color: [170, 170, 170], points: log.steps.map((s, k) => [k + 1, s.loss]) },
      ];
      // Epoch values placed at the step index where the epoch ends.
      let cum = 0;
      const epochEnd = new Map<number, number>();
      for (const e of [...stepsPerEpoch.keys()].sort((a, b) => a - b)) {
        cum += stepsPerEpoch.get(e)!;
        epochEnd.set(e, cum);
      }
      const at = (e: number) => epochEnd.get(e) ?? e;
      const tl = log.epochs.filter((e) => typeof e.train_loss === "number").map((e) =>
        [at(e.epoch), e.train_loss!] as const
      );
      const vl = log.epochs.filter((e) => typeof e.val_loss === "number").map((e) =>
        [at(e.epoch), e.val_loss!] as const
      );
      if (tl.length) loss.push({ name: "train loss (epoch)", color: color(i), points: tl });
      if (vl.length) loss.push({ name: "val loss (epoch)", color: [214, 39, 40], points: vl, dashed: true });
      h.push(
        lineChartSvg(loss, {
          title: `${r.name}: loss`,
          xLabel: "step",
          yLabel: "MultiBox loss",
          id: `loss-${r.name}`,
        }),
      );
      const ap = log.epochs.filter((e) => typeof e.val_ap75 === "number").map((e) =>
        [e.epoch, e.val_ap75!] as const
      );
      if (ap.length) {
        h.push(lineChartSvg([{ name: "val AP@0.75", color: color(i), points: ap }], {
          title: `${r.name}: validation AP@0.75`,
          xLabel: "epoch",
          yLabel: "AP@0.75",
          yDomain: [0, 1],
          id: `valap-${r.name}`,
        }));
      }
    }
    h.push(`</div>`);
  }

  // Gallery.
  if (opts.gallery?.length) {
    h.push(
      `<h2>Test images</h2><p class="meta">${escapeHtml(opts.galleryNote ?? "")} Green: ground truth; ` +
        `coloured: the run's detections with their scores.</p><table class="gallery" id="gallery"><thead><tr><th>image</th>`,
    );
    for (const [i, r] of runs.entries()) {
      h.push(
        `<th><span class="swatch" style="background:${css(color(i))}"></span>${escapeHtml(r.name)}</th>`,
      );
    }
    h.push(`</tr></thead><tbody>`);
    for (const row of opts.gallery) {
      h.push(
        `<tr><td>${escapeHtml(row.fileName)}<br>${row.nGt} ${
          row.nGt === 1 ? "person" : "people"
        } (ground truth)</td>`,
      );
      for (const c of row.cells) {
        h.push(
          `<td><img src="${c.dataUri}" alt="${
            escapeHtml(`${row.fileName}: ${c.runName}`)
          }"><br>${c.nShown} shown</td>`,
        );
      }
      h.push(`</tr>`);
    }
    h.push(`</tbody></table>`);
  }
  h.push(`</body></html>\n`);
  return h.join("\n");
}

/** Options of {@link buildGallery}. */
export interface GalleryOptions {
  /** Number of test images (the first by image id). */
  count: number;
  /** Detections with a lower score are not drawn. */
  minScore: number;
  /** At most this many detections per image and run. */
  maxBoxes: number;
  /** Longest side of a gallery image, pixels. */
  maxSide: number;
}

/**
 * Gallery rows for the first `count` images of the runs' ground truth (the first run with a gt.coco.json, else
 * `fallbackGroundTruth`): each image decoded once, drawn once per run. `readImage` maps an image id to its RGB
 * pixels (the dataset's source).
 * @throws ArtifactError when no run has both gt.coco.json and detections.coco.json
 */
export function buildGallery(
  runs: readonly RunData[],
  readImage: (imageId: number) => RgbImage,
  opts: GalleryOptions,
  fallbackGroundTruth?: CocoGtFile,
): GalleryRow[] {
  const gt = runs.find((r) => r.groundTruth)?.groundTruth ?? fallbackGroundTruth;
  if (!gt) throw new ArtifactError(runs[0]?.dir ?? "(no runs)", ["gt.coco.json: needed for the gallery"]);
  const images = [...gt.images].sort((a, b) => a.id - b.id).slice(0, opts.count);
  return images.map((im) => {
    const pixels = readImage(im.id);
    const gtBoxes = gt.annotations.filter((a) => a.image_id === im.id).map((a) => a.bbox);
    const cells = runs.map((r, i) => {
      const dets = (r.detections ?? []).filter((d) => d.image_id === im.id);
      const { image, nShown } = renderGalleryImage(
        pixels,
        gtBoxes,
        dets,
        RUN_COLORS[i % RUN_COLORS.length],
        opts,
      );
      return { runName: r.name, dataUri: pngDataUri(image), nShown };
    });
    return { imageId: im.id, fileName: im.file_name ?? String(im.id), nGt: gtBoxes.length, cells };
  });
}
