import assert from "node:assert/strict";
import type { Interval } from "../../lib/evaluation/mod.ts";
import {
  compareRuns,
  decideVerdict,
  differenceText,
  intervalVerdict,
  type RunComparison,
} from "../../lib/report/mod.ts";
import { fakeRun } from "../helpers.ts";

function comparison(candidate: string, point: number, ci: Interval | null, problem?: string): RunComparison {
  return {
    baseline: "original",
    candidate,
    point: { ap50: point, ap75: point, ap: point / 2 },
    intervals: ci && { ap50: ci, ap75: ci, ap: ci },
    confidence: 0.95,
    resamples: 1000,
    nImages: 50,
    nGt: 104,
    ...(problem ? { problem } : {}),
  };
}
const runs = [
  { name: "original", kind: "original" as const },
  { name: "fine-tuned", kind: "finetuned" as const },
];

Deno.test("intervalVerdict() calls a difference only when its interval excludes 0", () => {
  assert.equal(intervalVerdict([0.151, 0.27]), "supported");
  assert.equal(intervalVerdict([-0.2, -0.01]), "not-supported");
  assert.equal(intervalVerdict([-0.01, 0.02]), "undecided");
  assert.equal(intervalVerdict([0, 0.3]), "undecided"); // touching 0 is not excluding it
  assert.equal(intervalVerdict([-0.3, 0]), "undecided");
  assert.equal(intervalVerdict([0, 0]), "undecided");
});

Deno.test("decideVerdict() says supported with the difference and its interval in plain words", () => {
  const v = decideVerdict(runs, [comparison("fine-tuned", 0.213, [0.151, 0.27])]);
  assert.equal(v.kind, "supported");
  assert.equal(v.headline, "Supported");
  assert.ok(v.text.startsWith("fine-tuned − original AP@0.75 = +0.213 [+0.151, +0.270]"), v.text);
  assert.match(
    v.text,
    /95% paired bootstrap interval over the 50 test images \(104 pedestrians\), 1000 resamples/,
  );
  assert.match(v.text, /whole interval is above 0/);
});

Deno.test("decideVerdict() says not supported when the interval lies below 0", () => {
  const v = decideVerdict(runs, [comparison("fine-tuned", -0.1, [-0.2, -0.03])]);
  assert.equal(v.kind, "not-supported");
  assert.match(v.text, /AP@0.75 = −0.100 \[−0.200, −0.030\]/);
  assert.match(v.text, /below 0/);
});

Deno.test("decideVerdict() says not decided at this sample size when the interval contains 0", () => {
  for (const ci of [[-0.01, 0.05], [0, 0.1]] as Interval[]) {
    const v = decideVerdict(runs, [comparison("fine-tuned", 0.02, ci)]);
    assert.equal(v.kind, "undecided", JSON.stringify(ci));
    assert.equal(v.headline, "Not decided at this sample size");
    assert.match(v.text, /includes 0: with 50 test images/);
  }
  // Both models equal on every resample (e.g. both at AP 0): undecided, and said so.
  const same = decideVerdict(runs, [comparison("fine-tuned", 0, [0, 0])]);
  assert.equal(same.kind, "undecided");
  assert.match(same.text, /= 0\.000 \[0\.000, 0\.000\].*exactly the same AP@0\.75 on every resample/);
  // A large point difference does not decide by itself.
  assert.equal(decideVerdict(runs, [comparison("fine-tuned", 0.4, [-0.05, 0.8])]).kind, "undecided");
});

Deno.test("decideVerdict() is incomplete without an original run or without per-image data", () => {
  const onlyTuned = decideVerdict([runs[1]], []);
  assert.equal(onlyTuned.kind, "incomplete");
  assert.match(onlyTuned.text, /This report has one run: fine-tuned \(fine-tuned\)\./);
  const noData = decideVerdict(runs, [
    comparison("fine-tuned", 0.2, null, "fine-tuned has no detections.coco.json in /runs/ft"),
  ]);
  assert.equal(noData.kind, "incomplete");
  assert.match(noData.text, /fine-tuned has no detections\.coco\.json in \/runs\/ft/);
  assert.match(
    noData.text,
    /alone \(fine-tuned − original AP@0.75 = \+0.200\) says nothing without its interval/,
  );
});

Deno.test("decideVerdict() with several runs: supported by any run above 0, not supported only if all are below", () => {
  const v = decideVerdict(
    [...runs, { name: "b", kind: "finetuned" }],
    [comparison("fine-tuned", 0.05, [-0.01, 0.1]), comparison("b", 0.1, [0.02, 0.2])],
  );
  assert.equal(v.kind, "supported");
  assert.ok(v.text.startsWith("b − original"), v.text);
  assert.match(v.text, /Bonferroni/);
  const mixed = decideVerdict(runs, [comparison("a", -0.1, [-0.2, -0.05]), comparison("b", 0, [-0.1, 0.1])]);
  assert.equal(mixed.kind, "undecided");
  const worse = decideVerdict(runs, [
    comparison("a", -0.1, [-0.2, -0.05]),
    comparison("b", -0.2, [-0.3, -0.1]),
  ]);
  assert.equal(worse.kind, "not-supported");
});

Deno.test("differenceText() writes the other metrics too", () => {
  assert.equal(
    differenceText(comparison("ft", 0.2, [0.1, 0.3]), "ap"),
    "ft − original AP@[.5:.95] = +0.100 [+0.100, +0.300]",
  );
});

Deno.test("compareRuns() of a run with itself gives exactly 0 and an undecided verdict", () => {
  const a = fakeRun("original", "original", 20, { perImage: true });
  const b = { ...a, name: "same", kind: "finetuned" as const };
  const { comparisons } = compareRuns([a, b], { resamples: 200 });
  assert.deepEqual(comparisons[0].point, { ap50: 0, ap75: 0, ap: 0 });
  assert.deepEqual(comparisons[0].intervals, { ap50: [0, 0], ap75: [0, 0], ap: [0, 0] });
  assert.equal(decideVerdict([a, b], comparisons).kind, "undecided");
});

Deno.test("compareRuns() names what is missing: per-image files, or the same test images", () => {
  const a = fakeRun("original", "original", 20, { perImage: true });
  const noFiles = fakeRun("ft", "finetuned", 4);
  assert.match(
    compareRuns([a, noFiles]).comparisons[0].problem!,
    /ft has no gt\.coco\.json and detections\.coco\.json/,
  );
  const other = fakeRun("ft", "finetuned", 4, { perImage: true, nImages: 5 });
  assert.match(compareRuns([a, other]).comparisons[0].problem!, /evaluated on different test images/);
  assert.deepEqual(compareRuns([noFiles]).comparisons, []);
});
