import assert from "node:assert/strict";
import type { XywhBox } from "../../lib/evaluation/mod.ts";
import { decodeImage } from "../../lib/image/mod.ts";
import { analysePanel, buildGallery, gallerySection, panelCaption } from "../../lib/report/mod.ts";
import { fakeRun } from "../helpers.ts";

const gt: { bbox: XywhBox; crowd: boolean }[] = [
  { bbox: [10, 10, 40, 100], crowd: false },
  { bbox: [100, 10, 40, 100], crowd: false },
  { bbox: [200, 10, 40, 100], crowd: false },
];

Deno.test("analysePanel() marks correct detections, false positives and missed pedestrians at IoU 0.75", () => {
  const dets = [
    { bbox: [11, 11, 40, 100], score: 0.9 }, // IoU ≈ 0.96 with gt 0: correct
    { bbox: [100, 30, 40, 100], score: 0.8 }, // IoU ≈ 0.67 with gt 1: a false positive at 0.75
    { bbox: [12, 12, 40, 100], score: 0.7 }, // gt 0 already taken: a false positive
    { bbox: [300, 100, 20, 20], score: 0.6 }, // nothing there
    { bbox: [200, 10, 40, 100], score: 0.1 }, // below the threshold: not shown, so gt 2 is missed
  ];
  const p = analysePanel(gt, dets, { minScore: 0.3, maxLabels: 3, maxBoxes: 3 });
  assert.equal(p.nDetections, 5);
  assert.deepEqual(p.shown.map((d) => d.score), [0.9, 0.8, 0.7, 0.6]);
  assert.deepEqual(p.shown.map((d) => d.correct), [true, false, false, false]);
  assert.deepEqual(p.shown.map((d) => d.labelled), [true, true, true, false]);
  assert.deepEqual(p.shown.map((d) => d.drawn), [true, true, true, false]);
  assert.deepEqual(p.found, [true, false, false]);
  assert.deepEqual([p.nCorrect, p.nFalsePositives, p.nMissed], [1, 3, 2]);
  const item = { gt, fileName: "x.png" } as Parameters<typeof panelCaption>[0];
  assert.equal(
    panelCaption(item, { ...p, runName: "r", runIndex: 0, available: true }, 0.3),
    "4 of 5 detections with score ≥ 0.30 (the 3 highest drawn) · at IoU 0.75: 1 correct, 3 false positives, " +
      "2 of 3 pedestrians missed",
  );
});

/** A grey image of the size the fake runs use. */
const grey = () => ({ width: 320, height: 240, data: new Uint8Array(320 * 240 * 3).fill(120) });

Deno.test("buildGallery() shows the images where the runs differ most first, scaled to a readable width", () => {
  const a = fakeRun("original", "original", 60, { perImage: true, nImages: 8 });
  const b = fakeRun("fine-tuned", "finetuned", 2, { perImage: true, nImages: 8 });
  const read: number[] = [];
  const g = buildGallery([a, b], (id) => (read.push(id), grey()), { count: 3, minScore: 0.3, width: 400 });
  assert.equal(g.items.length, 3);
  assert.equal(g.nCandidates, 8);
  assert.deepEqual(read, g.items.map((it) => it.imageId)); // only the shown images are decoded
  const diffs = g.items.map((it) => it.difference);
  assert.deepEqual(diffs, [...diffs].sort((x, y) => y - x));
  for (const it of g.items) {
    assert.deepEqual([it.displayWidth, it.displayHeight], [400, 300]); // 320 × 240 scaled up to 400 wide
    assert.equal(
      decodeImage(Uint8Array.from(atob(it.dataUri.split(",")[1]), (c) => c.charCodeAt(0))).width,
      400,
    );
    assert.deepEqual(it.panels.map((p) => p.runName), ["original", "fine-tuned"]);
    const errors = it.panels.map((p) => p.nFalsePositives + p.nMissed);
    assert.equal(it.difference, Math.max(...errors) - Math.min(...errors));
  }
  // The ones left out differ no more than the last one shown.
  const all = buildGallery([a, b], grey, { count: 8, minScore: 0.3 });
  assert.ok(all.items.slice(3).every((it) => it.difference <= diffs[2]));
});

Deno.test("gallerySection() puts the runs side by side with a legend, few labels and the error marks", () => {
  const a = fakeRun("original", "original", 60, { perImage: true, nImages: 4 });
  const b = fakeRun("fine-tuned", "finetuned", 2, { perImage: true, nImages: 4 });
  const g = buildGallery([a, b], grey, { count: 2, minScore: 0.3, maxLabels: 1 });
  const html = gallerySection(g, ["original", "fine-tuned"]).markup;
  assert.match(html, /<h2>Test images: where the runs differ<\/h2>/);
  assert.match(html, /ground truth, found/);
  assert.match(html, /false positive<\/b> \(FP\)/);
  const items = html.split('<div class="item"').slice(1);
  assert.equal(items.length, 2);
  for (const item of items) {
    const panels = [...item.matchAll(/<figure class="panel" data-run="([^"]+)" style="width:(\d+)px">/g)];
    assert.deepEqual(panels.map((m) => m[1]), ["original", "fine-tuned"]);
    assert.ok(panels.every((m) => Number(m[2]) >= 320), "pictures at least 320 px wide");
    for (const fig of item.split("<figure").slice(1)) {
      const scores = [...fig.matchAll(/<g class="label">.*?>([\d.]+)(?: FP)?<\/text><\/g>/g)];
      assert.ok(scores.length <= 1, "at most maxLabels score labels per picture");
      assert.match(fig, /<figcaption>\d+ of \d+ detections with score ≥ 0.30 · at IoU 0.75: /);
      assert.match(fig, /<image href="data:image\/jpeg;base64,/);
    }
  }
  // The noisy run misses pedestrians and has false positives, drawn as such.
  assert.match(html, /class="gt missed"/);
  assert.match(html, /class="det fp"/);
  assert.match(html, />missed<\/text>/);
  assert.equal(gallerySection({ ...g, items: [] }, []).markup, "");
});
