/**
 * Inline SVG line charts (axes, ticks, grid, legend under the plot), pure text out. Hand-written because the page
 * must be self-contained and script-free, and charting libraries render in the browser with JavaScript.
 * @module
 */
import { joinMarkup, type Markup, markup } from "../core/mod.ts";
import type { Rgb } from "../image/mod.ts";
import { cssColor } from "./notation.ts";

/** One line of a chart; points in data coordinates. */
export interface ChartSeries {
  name: string;
  color: Rgb;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
  /** Draw a dot at every point (sparse series such as one value per epoch). */
  markers?: boolean;
  /** Only a ring at each point, no line (a highlighted point such as the best epoch); a ring in the legend too. */
  ring?: boolean;
}

/** Options of {@link lineChartSvg}. */
export interface ChartOptions {
  /** Accessible name (`aria-label`); the visible title is the section heading around the chart. */
  title: string;
  xLabel: string;
  yLabel: string;
  /** Axis ranges; default: the data's extent (from 0). */
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Tick range when it differs from the domain (e.g. ticks 0..1 on a slightly padded domain). */
  yTicks?: [number, number];
  /** Only whole-number x ticks (steps, epochs). */
  integerX?: boolean;
  width?: number;
  /** Height of the plot and axes, without the legend. */
  height?: number;
  /** `data-chart` attribute value, for tests and styling. */
  id?: string;
}

/** Plot margins in pixels (the legend is added under the bottom margin). */
export const CHART_MARGIN = Object.freeze({ left: 56, right: 16, top: 14, bottom: 46 });
const LEGEND_LINE = 16;

/**
 * "Nice" tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering [lo, hi], about `count` of them; with `integer`,
 * whole-number steps only.
 */
export function niceTicks(lo: number, hi: number, count = 5, integer = false): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  if (integer) step = step < 1 ? 1 : step === 2.5 * mag && mag === 1 ? 2 : Math.round(step);
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

function formatTick(v: number): string {
  return Math.abs(v) >= 10000 || (Math.abs(v) < 0.01 && v !== 0)
    ? v.toExponential(1)
    : String(Number(v.toFixed(3)));
}

/** The pixel mapping of a chart: data (x, y) → SVG (x, y). */
export interface ChartScale {
  x(v: number): number;
  y(v: number): number;
}

/** The mapping {@link lineChartSvg} uses for these domains and sizes. */
export function chartScale(
  xDomain: readonly [number, number],
  yDomain: readonly [number, number],
  width: number,
  height: number,
): ChartScale {
  const m = CHART_MARGIN;
  const pw = width - m.left - m.right, ph = height - m.top - m.bottom;
  return {
    x: (v) => m.left + ((v - xDomain[0]) / (xDomain[1] - xDomain[0])) * pw,
    y: (v) => m.top + ph - ((v - yDomain[0]) / (yDomain[1] - yDomain[0])) * ph,
  };
}

function domainOf(values: number[], given: [number, number] | undefined): [number, number] {
  const d: [number, number] = given
    ? [...given]
    : [Math.min(0, ...values), values.length ? Math.max(...values) : 1];
  if (d[1] <= d[0]) d[1] = d[0] + 1;
  return d;
}

/**
 * An inline SVG line chart; each series is a `<polyline>` with `data-series` = its name (and `<circle>`s with
 * the same attribute when it has markers; a `ring` series only its ring `<circle>`s). Pure: the same input gives
 * the same text; every text (title, labels, series names, id) is escaped once.
 */
export function lineChartSvg(series: readonly ChartSeries[], opts: ChartOptions): Markup {
  const width = opts.width ?? 520;
  const plotHeight = opts.height ?? 300;
  const legendHeight = LEGEND_LINE * series.length + 4;
  const height = plotHeight + legendHeight;
  const m = CHART_MARGIN;
  const finite = series.flatMap((s) => s.points).filter((p) =>
    Number.isFinite(p[0]) && Number.isFinite(p[1])
  );
  const xDomain = domainOf(finite.map((p) => p[0]), opts.xDomain);
  const yDomain = domainOf(finite.map((p) => p[1]), opts.yDomain);
  const s = chartScale(xDomain, yDomain, width, plotHeight);
  const pw = width - m.left - m.right, ph = plotHeight - m.top - m.bottom;
  const parts: Markup[] = [];
  parts.push(joinMarkup([
    markup`<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${opts.id ?? opts.title}" `,
    markup`width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" `,
    markup`aria-label="${opts.title}">`,
  ]));
  parts.push(markup`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  for (const t of niceTicks(xDomain[0], xDomain[1], 5, opts.integerX)) {
    const x = s.x(t).toFixed(1);
    parts.push(markup`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" class="grid"/>`);
    parts.push(
      markup`<text x="${x}" y="${m.top + ph + 16}" text-anchor="middle" class="tick">${formatTick(t)}</text>`,
    );
  }
  const yTicks = opts.yTicks ?? yDomain;
  for (const t of niceTicks(yTicks[0], yTicks[1])) {
    const y = s.y(t).toFixed(1);
    parts.push(markup`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" class="grid"/>`);
    parts.push(joinMarkup([
      markup`<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" class="tick">`,
      markup`${formatTick(t)}</text>`,
    ]));
  }
  parts.push(markup`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" class="frame"/>`);
  parts.push(joinMarkup([
    markup`<text x="${m.left + pw / 2}" y="${m.top + ph + 34}" text-anchor="middle" class="axis-label">`,
    markup`${opts.xLabel}</text>`,
  ]));
  const yMid = m.top + ph / 2;
  parts.push(joinMarkup([
    markup`<text x="14" y="${yMid}" text-anchor="middle" transform="rotate(-90 14 ${yMid})" `,
    markup`class="axis-label">${opts.yLabel}</text>`,
  ]));
  series.forEach((ser, i) => {
    const name = ser.name, color = cssColor(ser.color);
    const pts = ser.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    const dash = ser.dashed && markup` stroke-dasharray="6 4"`;
    const ly = height - legendHeight + 8 + i * LEGEND_LINE;
    if (ser.ring) {
      const ring = (x: number, y: number, attr: Markup) =>
        joinMarkup([
          markup`<circle ${attr} cx="${x.toFixed(2)}" cy="${y.toFixed(2)}" r="6" fill="none" `,
          markup`stroke="${color}" stroke-width="2"/>`,
        ]);
      for (const [x, y] of pts) parts.push(ring(s.x(x), s.y(y), markup`data-series="${name}"`));
      parts.push(ring(m.left + 11, ly, markup`class="legend-ring"`), legendText(m.left + 28, ly, name));
      return;
    }
    const points = pts.map((p) => `${s.x(p[0]).toFixed(2)},${s.y(p[1]).toFixed(2)}`).join(" ");
    parts.push(joinMarkup([
      markup`<polyline data-series="${name}" points="${points}" fill="none" stroke="${color}" `,
      markup`stroke-width="2"${dash}/>`,
    ]));
    if (ser.markers || pts.length === 1) {
      for (const [x, y] of pts) {
        parts.push(joinMarkup([
          markup`<circle data-series="${name}" cx="${s.x(x).toFixed(2)}" cy="${s.y(y).toFixed(2)}" r="3.5" `,
          markup`fill="${color}"/>`,
        ]));
      }
    }
    parts.push(joinMarkup([
      markup`<line x1="${m.left}" y1="${ly}" x2="${m.left + 22}" y2="${ly}" stroke="${color}" `,
      markup`stroke-width="3"${dash}/>`,
    ]));
    parts.push(legendText(m.left + 28, ly, name));
  });
  parts.push(markup`</svg>`);
  return joinMarkup(parts, "\n");
}

/** A legend entry's text. */
function legendText(x: number, y: number, name: string): Markup {
  return markup`<text x="${x}" y="${y}" dominant-baseline="middle" class="legend">${name}</text>`;
}
