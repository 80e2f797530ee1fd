/**
 * The report's small vocabulary: the run colours and how numbers are written (AP values, signed differences,
 * intervals). The markup itself is built with lib/core's `html` tag, which escapes every text exactly once.
 * @module
 */
import type { Rgb } from "../image/mod.ts";

/** Colours of the runs in charts, tables and the gallery (Tableau 10 without its green, kept for ground truth). */
export const RUN_COLORS: readonly Rgb[] = [
  [31, 119, 180],
  [214, 39, 40],
  [148, 103, 189],
  [255, 127, 14],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [23, 190, 207],
];
/** Ground-truth box colour in the gallery. */
export const GT_COLOR: Rgb = [0, 170, 0];
/** Colour of missed pedestrians and false positives in the gallery. */
export const ERROR_COLOR: Rgb = [255, 200, 0];

/** The colour of run i. */
export function runColor(i: number): Rgb {
  return RUN_COLORS[i % RUN_COLORS.length];
}

/** CSS `rgb(r,g,b)`. */
export function cssColor(c: Rgb): string {
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/**
 * An AP-like value in [0, 1]: 3 decimals; 2 significant digits below 0.01 (so that 0.0023 does not read as 0);
 * "n/a" for pycocotools' −1 (no ground truth); "–" when absent.
 */
export function formatAp(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "–";
  if (v < 0) return "n/a";
  return v !== 0 && v < 0.01 ? v.toPrecision(2) : v.toFixed(3);
}

/** A difference with its sign, written like {@link formatAp}: "+0.213", "−0.020" (a true minus), "+0.0039". */
export function formatSigned(v: number): string {
  if (v === 0) return "0.000";
  return `${v > 0 ? "+" : "−"}${formatAp(Math.abs(v))}`;
}

/** An interval "[0.151, 0.270]", signed when `signed`. */
export function formatInterval(ci: readonly [number, number] | undefined | null, signed = false): string {
  if (!ci) return "";
  const f = signed ? formatSigned : formatAp;
  return `[${f(ci[0])}, ${f(ci[1])}]`;
}

/** "1 image" / "2 images". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
