/**
 * `deno task ap` mode A — the AP of any COCO ground-truth file and results file for one category, with bootstrap
 * intervals — and the one-line summary every `ap` run prints.
 * @module
 */
import { withBootstrapIntervals } from "./bootstrap.ts";
import {
  type ApJson,
  evaluateCocoFiles,
  readCocoGtFile,
  readCocoResults,
  selectCategory,
} from "./coco_files.ts";

/**
 * Reads `annotations` (COCO ground truth) and `detections` (COCO results on its images) and scores one category.
 * @param category a name or a numeric id; undefined: the file's only category
 * @param bootstrap resamples (0: no intervals) and their seed
 * @throws InputError subclasses naming the file and field of an invalid input or an unknown category
 */
export async function apOfCocoFiles(
  annotations: string,
  detections: string,
  category: string | undefined,
  bootstrap: { resamples: number; seed: number },
): Promise<ApJson> {
  const gt = await readCocoGtFile(annotations);
  const results = await readCocoResults(detections, new Set(gt.images.map((im) => im.id)));
  const cat = category === undefined
    ? {}
    : /^\d+$/.test(category)
    ? { id: Number(category) }
    : { name: category };
  const settings = { mode: "coco-files" as const, annotations, detections };
  const ap = evaluateCocoFiles(gt, results, selectCategory(gt, cat, annotations), settings);
  return withBootstrapIntervals(ap, gt, results, bootstrap);
}

/** The lines `deno task ap` prints: AP@0.5, AP@0.75, AP@[.5:.95] (with intervals), AR@100 and where ap.json is. */
export function formatApSummary(ap: ApJson, file: string): string {
  const f = (v: number, ci?: [number, number]) =>
    v.toFixed(4) + (ci ? ` [${ci[0].toFixed(4)}, ${ci[1].toFixed(4)}]` : "");
  const values = [`AP@0.5 ${f(ap.ap50, ap.ap50_ci)}`, `AP@0.75 ${f(ap.ap75, ap.ap75_ci)}`];
  const lines = [`${values.join("  ")}  AP@[.5:.95] ${f(ap.ap, ap.ap_ci)}  AR@100 ${f(ap.ar100)}  → ${file}`];
  const b = ap.bootstrap;
  if (b) {
    const secs = b.seconds === undefined ? "" : ` in ${b.seconds.toFixed(2)} s`;
    lines.push(`[lo, hi]: 95% bootstrap intervals from ${b.resamples} resamples of the test images${secs}`);
  }
  return lines.join("\n");
}
