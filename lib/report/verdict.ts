/**
 * The verdict on the hypothesis "fine-tuning raises person AP@0.75 above the original VOC detector", as a pure
 * function of the paired comparisons (lib/report/compare.ts). The rule: a difference counts only when its
 * interval excludes 0 — "supported" when it lies wholly above 0, "not supported" when wholly below, "not decided
 * at this sample size" when it contains 0; "incomplete" when the runs or their per-image data are missing.
 * @module
 */
import type { Interval } from "../evaluation/mod.ts";
import type { RunComparison } from "./compare.ts";
import { formatInterval, formatSigned, plural } from "./notation.ts";

/** The `data-verdict` values. */
export type VerdictKind = "supported" | "not-supported" | "undecided" | "incomplete";

/** The verdict: its kind, a short headline and the sentence with the numbers. */
export interface Verdict {
  kind: VerdictKind;
  headline: string;
  /** Plain-language explanation with the difference and its interval. */
  text: string;
}

/** The rule on one interval of a difference: above 0, below 0, or containing 0. */
export function intervalVerdict(ci: Interval): "supported" | "not-supported" | "undecided" {
  if (ci[0] > 0) return "supported";
  if (ci[1] < 0) return "not-supported";
  return "undecided";
}

/** "fine-tuned − original AP@0.75 = +0.213 [+0.151, +0.270]". */
export function differenceText(c: RunComparison, metric: "ap50" | "ap75" | "ap" = "ap75"): string {
  const label = { ap50: "AP@0.5", ap75: "AP@0.75", ap: "AP@[.5:.95]" }[metric];
  const point = c.point ? formatSigned(c.point[metric]) : "?";
  const ci = c.intervals ? ` ${formatInterval(c.intervals[metric], true)}` : "";
  return `${c.candidate} − ${c.baseline} ${label} = ${point}${ci}`;
}

function coverage(c: RunComparison, noun: string): string {
  const pct = Number((c.confidence * 100).toFixed(2));
  return `${pct}% paired bootstrap interval over the ${plural(c.nImages, "test image")} ` +
    `(${plural(c.nGt, noun)}), ${c.resamples} resamples`;
}

/** What the verdict is about, when there is nothing to compare. */
export interface VerdictRuns {
  name: string;
  kind: "original" | "finetuned";
}

/**
 * Decides the verdict. With several fine-tuned runs, "supported" when at least one interval lies above 0 (the
 * highest such difference is quoted), "not supported" when every interval lies below 0, otherwise "not decided".
 * @param runs every run of the report (to say what is missing)
 */
export function decideVerdict(
  runs: readonly VerdictRuns[],
  comparisons: readonly RunComparison[],
  noun = "pedestrian",
): Verdict {
  const roles = runs.map((r) => `${r.name} (${r.kind === "original" ? "original" : "fine-tuned"})`).join(
    ", ",
  );
  if (!runs.some((r) => r.kind === "original") || comparisons.length === 0) {
    return {
      kind: "incomplete",
      headline: "Not decided",
      text:
        `The question needs two runs on the same test images: the original VOC detector (kind "original") ` +
        `and a fine-tuned model (kind "finetuned"). This report has ${
          runs.length === 0 ? "no runs" : `${runs.length === 1 ? "one run" : `${runs.length} runs`}: ${roles}`
        }.`,
    };
  }
  const decidable = comparisons.filter((c) => c.intervals && c.point);
  if (decidable.length < comparisons.length) {
    const missing = comparisons.filter((c) => !(c.intervals && c.point));
    const unpaired = missing.filter((c) => c.point).map((c) => differenceText(c)).join("; ");
    return {
      kind: "incomplete",
      headline: "Not decided",
      text: `No paired comparison is possible: ${missing.map((c) => c.problem).join("; ")}. ` +
        (unpaired
          ? `The difference on the test set alone (${unpaired}) says nothing without its interval. `
          : "") +
        `Run \`deno task ap --dataset …\` for each model so that its directory holds the per-image results.`,
    };
  }
  const rules = decidable.map((c) => ({ c, rule: intervalVerdict(c.intervals!.ap75) }));
  const several = decidable.length > 1
    ? ` With ${decidable.length} fine-tuned runs, each interval is widened (Bonferroni) so that the chance of a ` +
      `false call among them stays at 5%.`
    : "";
  const above = rules.filter((r) => r.rule === "supported").map((r) => r.c);
  if (above.length) {
    const best = above.reduce((a, b) => (b.point!.ap75 > a.point!.ap75 ? b : a));
    return {
      kind: "supported",
      headline: "Supported",
      text:
        `${differenceText(best)} (${
          coverage(best, noun)
        }). The whole interval is above 0: on these test images ` +
        `${best.candidate} finds ${noun}s with tight boxes (IoU ≥ 0.75) better than ${best.baseline}, by more ` +
        `than the luck of which images are in the test set explains.${several}`,
    };
  }
  if (rules.every((r) => r.rule === "not-supported")) {
    const best = decidable.reduce((a, b) => (b.point!.ap75 > a.point!.ap75 ? b : a));
    return {
      kind: "not-supported",
      headline: "Not supported",
      text:
        `${differenceText(best)} (${
          coverage(best, noun)
        }). The whole interval is below 0: ${best.candidate} is ` +
        `worse than ${best.baseline} at IoU 0.75 on these test images.${several}`,
    };
  }
  const best = decidable.reduce((a, b) => (b.point!.ap75 > a.point!.ap75 ? b : a));
  const [lo, hi] = best.intervals!.ap75;
  if (decidable.length === 1 && lo === 0 && hi === 0) {
    return {
      kind: "undecided",
      headline: "Not decided at this sample size",
      text:
        `${differenceText(best)} (${
          coverage(best, noun)
        }). The two models score exactly the same AP@0.75 on ` +
        `every resample of the test images, so there is no difference to detect.`,
    };
  }
  return {
    kind: "undecided",
    headline: "Not decided at this sample size",
    text: `${differenceText(best)} (${coverage(best, noun)}). The interval includes 0: with ` +
      `${
        plural(best.nImages, "test image")
      } this difference cannot be told apart from the luck of which images ` +
      `are in the test set; more test images (or a larger effect) are needed to decide.${several}`,
  };
}
