/**
 * The report's sections, one function each, every one pure (data in, markup out, built with lib/core's `markup`
 * tag, so every text is escaped exactly once): the smoke-run banner, the "how to read this" box, the hypothesis
 * with the verdict and the paired differences, the results table with intervals, the settings table, the PR
 * curves (one section per IoU) and the training curves (one section per chart).
 * @module
 */
import { joinMarkup, type Markup, markup } from "../core/mod.ts";
import { lineChartSvg } from "./chart.ts";
import type { RunComparison } from "./compare.ts";
import { objectNoun, pluralNoun, reportCategory, type SettingsTable } from "./framing.ts";
import { cssColor, formatAp, formatInterval, formatSigned, plural, runColor } from "./notation.ts";
import type { RunData } from "./run_dir.ts";
import { bestEpochSeries, lossSeries, trainingCurves } from "./training.ts";
import { differenceText, type Verdict } from "./verdict.ts";

const swatch = (i: number) =>
  markup`<span class="swatch" style="background:${cssColor(runColor(i))}"></span>`;

/** The banner of a smoke run: why its numbers mean nothing. Empty without reasons. */
export function smokeBanner(reasons: readonly string[]): Markup {
  if (!reasons.length) return markup``;
  return joinMarkup([
    markup`<div class="banner" role="alert" data-smoke="true"><b>Smoke run: these numbers mean nothing.</b> `,
    markup`This report only shows that every stage of the pipeline runs, because ${
      reasons.join("; ")
    }.</div>`,
  ]);
}

/** The "how to read this" box: the metrics and the intervals in a few plain sentences. */
export function howToReadBox(resamples: number, noun = "pedestrian"): Markup {
  const nouns = pluralNoun(noun);
  const items = [
    [
      "AP@0.5",
      `average precision (0 to 1, higher is better): how well the detector ranks real ${nouns} above false ` +
      `alarms, where a box counts as correct if it overlaps a ${noun}'s true box by IoU ≥ 0.5 (loose boxes pass).`,
    ],
    ["AP@0.75", "the same with IoU ≥ 0.75: boxes must fit tightly. This is the homework's question."],
    ["AP@[.5:.95]", "AP averaged over the IoU thresholds 0.50, 0.55, …, 0.95 (COCO's headline number)."],
    [
      "AR@100",
      `recall (share of ${nouns} found) averaged over those thresholds, with up to 100 detections per image.`,
    ],
    [
      "[lo, hi]",
      `95% bootstrap interval: the value recomputed on ${resamples} random redraws of the test images (with ` +
      "replacement). It shows how much the number depends on which images happen to be in the test set. A " +
      "difference between two models counts only when its interval excludes 0.",
    ],
  ];
  return joinMarkup([
    markup`<aside class="howto" id="how-to-read"><h2>How to read this</h2><dl>`,
    items.map(([k, v]) => markup`<dt>${k}</dt><dd>${v}</dd>`),
    markup`</dl><p class="note">AP follows pycocotools' COCOeval exactly (101-point interpolation, maxDets 100, `,
    markup`area "all"), on the test split only; the models never saw these images in training.</p></aside>`,
  ]);
}

/** The hypothesis, the verdict (`class="verdict"`, `data-verdict`) and the paired differences per run. */
export function hypothesisSection(
  verdict: Verdict,
  comparisons: readonly RunComparison[],
  runs: readonly RunData[] = [],
): Markup {
  const h: Markup[] = [];
  const c = reportCategory(runs);
  const on = c === "person" ? "Penn-Fudan" : "its images";
  const original = runs.find((r) => r.kind === "original")?.ap.settings.class;
  const vocClass = typeof original === "string" ? original : c;
  h.push(joinMarkup([
    markup`<section id="hypothesis"><h2>Hypothesis</h2><div class="hypothesis"><p>Fine-tuning SSD300 as a `,
    markup`single-class <code>${c}</code> detector on ${on} raises ${c} AP at IoU 0.75 on the held-out test `,
    markup`images above the original 21-class VOC detector scored on its <code>${vocClass}</code> class.</p>`,
  ]));
  h.push(joinMarkup([
    markup`<p class="verdict" data-verdict="${verdict.kind}"><span class="verdict-head">${verdict.headline}.`,
    markup`</span> ${verdict.text}</p></div>`,
  ]));
  const paired = comparisons.filter((c) => c.point);
  if (paired.length) {
    h.push(joinMarkup([
      markup`<table class="results" id="differences"><thead><tr><th>difference</th><th>AP@0.5</th>`,
      markup`<th>AP@0.75</th><th>AP@[.5:.95]</th></tr></thead><tbody>`,
    ]));
    for (const c of paired) {
      const cell = (k: "ap50" | "ap75" | "ap") =>
        joinMarkup([
          markup`<td class="num" data-metric="${k}">${formatSigned(c.point![k])}`,
          c.intervals && markup` <span class="ci">${formatInterval(c.intervals[k], true)}</span>`,
          markup`</td>`,
        ]);
      h.push(joinMarkup([
        markup`<tr data-candidate="${c.candidate}"><td>${`${c.candidate} − ${c.baseline}`}</td>`,
        cell("ap50"),
        cell("ap75"),
        cell("ap"),
        markup`</tr>`,
      ]));
    }
    const c0 = paired[0];
    const how = c0.intervals
      ? `Paired bootstrap: each of ${c0.resamples} resamples draws ${c0.nImages} test images with replacement ` +
        `and scores both models on the same draw; ${Number((c0.confidence * 100).toFixed(2))}% intervals.`
      : `No intervals: ${c0.problem ?? ""}.`;
    h.push(markup`</tbody></table><p class="note">${how} Example: ${differenceText(c0)}.</p>`);
  }
  h.push(markup`</section>`);
  return joinMarkup(h, "\n");
}

const KIND_TEXT = { original: "original VOC detector", finetuned: "fine-tuned" } as const;

/** Which weights of a finetune run were scored, for the results table. */
function weightsText(w: NonNullable<RunData["weights"]>): string {
  if (w.which === "last") return "last epoch's weights";
  return `best epoch's weights (best/${w.bestEpoch === undefined ? "" : `, epoch ${w.bestEpoch}`})`;
}

/** The results table: one row per run, AP values with their bootstrap intervals (from ap.json). */
export function resultsSection(runs: readonly RunData[]): Markup {
  const keys = ["ap50", "ap75", "ap", "ar100"] as const;
  const best = (k: (typeof keys)[number]) => Math.max(...runs.map((r) => r.ap[k]));
  const ci = (r: RunData, k: (typeof keys)[number]) =>
    k === "ar100" ? undefined : { ap50: r.ap.ap50_ci, ap75: r.ap.ap75_ci, ap: r.ap.ap_ci }[k];
  const h: Markup[] = [];
  h.push(joinMarkup([
    markup`<section id="results-section"><h2>Results on the test images</h2><table class="results" `,
    markup`id="results"><thead><tr><th>run</th><th>AP@0.5</th><th>AP@0.75</th><th>AP@[.5:.95]</th>`,
    markup`<th>AR@100</th><th>test images / ${
      pluralNoun(objectNoun(runs))
    } / detections</th></tr></thead><tbody>`,
  ]));
  runs.forEach((r, i) => {
    const cells = keys.map((k) => {
      const isBest = runs.length > 1 && r.ap[k] === best(k) && r.ap[k] > 0;
      const interval = ci(r, k);
      return joinMarkup([
        markup`<td class="num${isBest ? " best" : ""}" data-metric="${k}"><span class="value">`,
        markup`${formatAp(r.ap[k])}</span>`,
        interval && markup` <span class="ci">${formatInterval(interval)}</span>`,
        markup`</td>`,
      ]);
    });
    h.push(joinMarkup([
      markup`<tr data-run="${r.name}"><td>${swatch(i)}<b>${r.name}</b><br>`,
      markup`<span class="small">${KIND_TEXT[r.kind]}`,
      r.description && markup` — ${r.description}`,
      r.weights && markup` — ${weightsText(r.weights)}`,
      markup`</span></td>${cells}<td class="num">${r.ap.n_images} / ${r.ap.n_gt} / ${r.ap.n_detections}</td></tr>`,
    ]));
  });
  h.push(markup`</tbody></table>`);
  const without = runs.filter((r) => !r.ap.ap75_ci).map((r) => r.name);
  h.push(joinMarkup([
    markup`<p class="note">Bold: the best run per column. [lo, hi]: 95% bootstrap interval over the test images`,
    without.length > 0 &&
    markup`; none for ${without.join(", ")} (ap.json from before intervals, or --bootstrap 0)`,
    markup`.</p></section>`,
  ]));
  return joinMarkup(h, "\n");
}

/** The settings table (only what differs) and one line with what all runs share. */
export function settingsSection(table: SettingsTable): Markup {
  const h: Markup[] = [markup`<section id="settings-section"><h2>Settings</h2>`];
  if (table.rows.length) {
    h.push(joinMarkup([
      markup`<table class="settings" id="settings"><thead><tr><th></th>`,
      table.runs.map((r, i) => markup`<th>${swatch(i)}${r}</th>`),
      markup`</tr></thead><tbody>`,
    ]));
    for (const row of table.rows) {
      h.push(joinMarkup([
        markup`<tr data-setting="${row.name}"><th>${row.name}</th>`,
        row.values.map((v) => markup`<td>${v}</td>`),
        markup`</tr>`,
      ]));
    }
    h.push(markup`</tbody></table>`);
  }
  if (table.common.length) {
    const what = table.runs.length > 1 ? "Same in every run that has it" : "Settings";
    h.push(markup`<p class="note" id="settings-common">${what}: ${table.common.join(" · ")}.</p>`);
  }
  h.push(markup`</section>`);
  return joinMarkup(h, "\n");
}

/** One section with the PR curves of every run at IoU 0.75 or 0.5. */
export function prCurveSection(runs: readonly RunData[], iou: 0.75 | 0.5): Markup {
  const key = iou === 0.75 ? "ap75" : "ap50";
  const series = runs.map((r, i) => {
    const points = iou === 0.75 ? r.ap.pr_curve_75 : r.ap.pr_curve_50;
    const zero = points.length > 0 && points.every((p) => p[1] === 0);
    const note = points.length === 0
      ? ", no curve"
      : zero
      ? ", precision 0 everywhere: the line on the x-axis"
      : "";
    return { name: `${r.name} (AP ${formatAp(r.ap[key])}${note})`, color: runColor(i), points };
  });
  const id = iou === 0.75 ? "pr75" : "pr50";
  return joinMarkup([
    markup`<section id="${id}-section"><h2>Precision–recall at IoU ${iou}</h2>`,
    markup`<p class="note">COCO's interpolated precision at 101 recall levels; AP@${iou} is the mean of this `,
    markup`curve. Further up and to the right is better.</p>`,
    lineChartSvg(series, {
      title: `Precision–recall curves at IoU ${iou}`,
      xLabel: `recall (share of ${pluralNoun(objectNoun(runs))} found)`,
      yLabel: "precision",
      xDomain: [0, 1],
      yDomain: [-0.025, 1.025], // padded so that a curve at 0 or 1 is not hidden under the frame
      yTicks: [0, 1],
      width: 640,
      id,
    }),
    markup`</section>`,
  ]);
}

/** Per run with a train-log: a loss section (x = global step) and, with validation, a validation-AP section. */
export function trainingSections(runs: readonly RunData[]): Markup {
  const h: Markup[] = [];
  runs.forEach((r, i) => {
    if (!r.trainLog) return;
    const curves = trainingCurves(r.trainLog);
    const nEpochs = curves.epochEnds.size;
    h.push(joinMarkup([
      markup`<section class="training" data-run="${r.name}"><h2>Training loss: ${r.name}</h2>`,
      markup`<p class="note">MultiBox loss of every optimiser step (${plural(curves.lastStep, "step")}, `,
      markup`${plural(nEpochs, "epoch")}); the epoch values sit at the step where the epoch ends.</p>`,
      lineChartSvg(lossSeries(curves, runColor(i)), {
        title: `${r.name}: training loss by step`,
        xLabel: "optimiser step",
        yLabel: "MultiBox loss",
        xDomain: [0, Math.max(1, curves.lastStep)],
        integerX: true,
        width: 640,
        id: `loss-${r.name}`,
      }),
      markup`</section>`,
    ]));
    if (curves.valAp75.length) {
      h.push(joinMarkup([
        markup`<section class="training" data-run="${r.name}"><h2>Validation AP@0.75 during training: `,
        markup`${r.name}</h2><p class="note">On the images held out of the train split `,
        markup`(never the test split), after each epoch.</p>`,
        lineChartSvg([{
          name: "validation AP@0.75",
          color: runColor(i),
          points: curves.valAp75,
          markers: true,
        }, ...bestEpochSeries(curves, r.best)], {
          title: `${r.name}: validation AP@0.75 by epoch`,
          xLabel: "epoch",
          yLabel: "AP@0.75",
          xDomain: [0, Math.max(1, ...curves.valAp75.map((p) => p[0]))],
          integerX: true,
          yDomain: [-0.025, 1.025],
          yTicks: [0, 1],
          width: 640,
          id: `valap-${r.name}`,
        }),
        markup`</section>`,
      ]));
    }
  });
  return joinMarkup(h, "\n");
}
