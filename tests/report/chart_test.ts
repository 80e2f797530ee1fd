import assert from "node:assert/strict";
import {
  CHART_MARGIN,
  chartScale,
  lineChartSvg,
  lossSeries,
  trainingCurves,
  trainingSections,
} from "../../lib/report/mod.ts";
import { fakeRun } from "../helpers.ts";

/** [x, y] pixel pairs of the polyline (or circles) of one series in an SVG. */
function seriesPoints(svg: string, name: string): { line: number[][]; dots: number[][] } {
  const esc = name.replace(/[()]/g, "\\$&");
  const line = svg.match(new RegExp(`<polyline data-series="${esc}" points="([^"]*)"`))?.[1] ?? "";
  const dots = [
    ...svg.matchAll(new RegExp(`<circle data-series="${esc}" cx="([\\d.]+)" cy="([\\d.]+)"`, "g")),
  ]
    .map((m) => [Number(m[1]), Number(m[2])]);
  return { line: line ? line.split(" ").map((p) => p.split(",").map(Number)) : [], dots };
}

Deno.test("lineChartSvg() draws one polyline per series in plot coordinates, with a legend", () => {
  const svg = lineChartSvg(
    [
      { name: "a<b", color: [1, 2, 3], points: [[0, 0], [1, 1]] },
      { name: "c", color: [4, 5, 6], points: [[0.5, 0.5]], dashed: true },
    ],
    {
      title: "T",
      xLabel: "recall",
      yLabel: "precision",
      xDomain: [0, 1],
      yDomain: [0, 1],
      width: 200,
      height: 150,
      id: "t",
    },
  ).markup;
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" class="chart" data-chart="t"/);
  const lines = [...svg.matchAll(/<polyline data-series="([^"]*)" points="([^"]*)"/g)];
  assert.deepEqual(lines.map((m) => m[1]), ["a&lt;b", "c"]);
  // Plot area: left 56, right 200 − 16 = 184, top 14, bottom 150 − 46 = 104 (the legend is added below).
  assert.deepEqual(CHART_MARGIN, { left: 56, right: 16, top: 14, bottom: 46 });
  assert.equal(lines[0][2], "56.00,104.00 184.00,14.00");
  assert.match(svg, /stroke="rgb\(4,5,6\)" stroke-width="2" stroke-dasharray="6 4"/);
  assert.match(svg, /<circle data-series="c" cx="120.00" cy="59.00"/); // a single point gets a dot
  assert.match(svg, /class="legend">a&lt;b<\/text>/);
  assert.match(svg, /height="186"/); // 150 + 2 legend lines × 16 + 4
});

/** A log of `epochs` epochs of `perEpoch` optimiser steps, numbered over the whole run as finetune does. */
function log(epochs: number, perEpoch: number) {
  const steps = Array.from({ length: epochs * perEpoch }, (_, k) => ({
    epoch: Math.floor(k / perEpoch) + 1,
    step: k + 1,
    loss: 10 - k,
  }));
  const epochList = Array.from({ length: epochs }, (_, e) => ({
    epoch: e + 1,
    train_loss: 9 - e,
    val_loss: 9.5 - e,
    val_ap75: 0.1 * (e + 1),
  }));
  return { steps, epochs: epochList };
}

Deno.test("trainingCurves() puts x at the global step and each epoch's values at the step where it ends", () => {
  const c = trainingCurves(log(2, 4));
  assert.deepEqual(c.stepLoss.map((p) => p[0]), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(c.trainLoss, [[4, 9], [8, 8]]);
  assert.deepEqual(c.valLoss, [[4, 9.5], [8, 8.5]]);
  assert.deepEqual(c.valAp75, [[1, 0.1], [2, 0.2]]);
  assert.equal(c.lastStep, 8);
  // A one-step run: one point at step 1, its epoch ends there.
  const one = trainingCurves(log(1, 1));
  assert.deepEqual(one.stepLoss, [[1, 10]]);
  assert.deepEqual(one.trainLoss, [[1, 9]]);
  // Step numbers that restart each epoch (not what finetune writes) are renumbered in logged order.
  const restarting = log(2, 3);
  restarting.steps.forEach((s, k) => (s.step = (k % 3) + 1));
  assert.deepEqual(trainingCurves(restarting).trainLoss.map((p) => p[0]), [3, 6]);
});

Deno.test("the training loss chart places epoch points at the SVG x of their last step; the axis ends at the last step", () => {
  const run = { ...fakeRun("ft", "finetuned", 4), trainLog: log(2, 4) };
  const html = trainingSections([run]).markup;
  const svg = html.slice(
    html.indexOf('data-chart="loss-ft"'),
    html.indexOf("</svg>", html.indexOf('data-chart="loss-ft"')),
  );
  const scale = chartScale([0, 8], [0, 10], 640, 300); // x domain [0, last step], y from 0 to the largest loss
  const epoch = seriesPoints(svg, lossSeries(trainingCurves(run.trainLog), [0, 0, 0])[1].name);
  assert.deepEqual(epoch.line.map((p) => p[0]), [scale.x(4), scale.x(8)].map((v) => Number(v.toFixed(2))));
  assert.deepEqual(epoch.dots.map((p) => p[0]), epoch.line.map((p) => p[0]));
  const steps = seriesPoints(svg, "loss of each step").line;
  assert.equal(steps.length, 8);
  assert.equal(steps[0][0], Number(scale.x(1).toFixed(2)));
  assert.equal(steps[7][0], Number(scale.x(8).toFixed(2)));
  assert.equal(steps[7][0], 640 - CHART_MARGIN.right); // the last step is the right edge: the axis runs to 8
  const xTicks = [...svg.matchAll(/text-anchor="middle" class="tick">([^<]*)</g)].map((m) => m[1]);
  assert.deepEqual(xTicks, ["0", "2", "4", "6", "8"]);
  assert.match(html, /<h2>Validation AP@0.75 during training: ft<\/h2>/);
});

Deno.test("the validation AP chart rings run.json's best epoch on its curve, named in the legend; none without best", () => {
  const trainLog = log(3, 2);
  const svgOf = ({ markup }: { markup: string }) => markup.slice(markup.indexOf('data-chart="valap-ft"'));
  const best = { epoch: 2, metric: "ap75" as const, value: 0.2 };
  const withBest = svgOf(trainingSections([{ ...fakeRun("ft", "finetuned", 4), trainLog, best }]));
  const name = "best (epoch 2, by validation AP@0.75)";
  const ring = seriesPoints(withBest, name);
  assert.deepEqual(ring.line, []); // a ring, no line
  assert.deepEqual(ring.dots, [seriesPoints(withBest, "validation AP@0.75").dots[1]]); // on epoch 2's dot
  assert.match(withBest, /r="6" fill="none"/);
  assert.match(
    withBest,
    new RegExp(`class="legend-ring"[^>]*/>\\n<text [^>]*class="legend">${name.replace(/[()]/g, "\\$&")}<`),
  );
  const loss = { epoch: 3, metric: "loss" as const, value: 6.5 };
  const byLoss = svgOf(trainingSections([{ ...fakeRun("ft", "finetuned", 4), trainLog, best: loss }]));
  assert.deepEqual(
    seriesPoints(byLoss, "best (epoch 3, by validation loss)").dots,
    [seriesPoints(byLoss, "validation AP@0.75").dots[2]],
  );
  const without = svgOf(trainingSections([{ ...fakeRun("ft", "finetuned", 4), trainLog }]));
  assert.ok(without.includes('data-series="validation AP@0.75"'));
  assert.ok(!without.includes("best (") && !without.includes("legend-ring"));
});
