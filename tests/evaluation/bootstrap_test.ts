import assert from "node:assert/strict";
import { type CocoDet, type CocoGt, evaluateCoco, type XywhBox } from "../../lib/evaluation/ap.ts";
import {
  bootstrapAp,
  drawResamples,
  evaluatePerImage,
  identityCounts,
  pairedBootstrap,
  percentileInterval,
  quantile,
  resampleAp,
  withBootstrapIntervals,
} from "../../lib/evaluation/bootstrap.ts";
import { ApJsonSchema, type CocoResult, evaluateCocoFiles } from "../../lib/evaluation/coco_files.ts";
import type { CocoGroundTruth } from "../../lib/data/mod.ts";
import { mulberry32 } from "../../lib/core/rng.ts";

/**
 * A synthetic test set: `nImages` images (ids 10, 20, …) with 0–4 pedestrians each (one crowd region on image 30,
 * none on images 40 and 50, and no detections either on 50), detections near the ground truth with noise `noise`
 * plus clutter; scores quantised to 0.05 so that equal scores occur within and across images.
 */
function synthetic(
  nImages: number,
  seed: number,
  noise: number,
): { gts: CocoGt[]; dets: CocoDet[]; ids: number[] } {
  const rand = mulberry32(seed);
  const gts: CocoGt[] = [], dets: CocoDet[] = [];
  const ids = Array.from({ length: nImages }, (_, i) => 10 * (i + 1));
  for (const id of ids) {
    const n = id === 40 || id === 50 ? 0 : 1 + Math.floor(rand() * 4);
    for (let k = 0; k < n; k++) {
      const box: XywhBox = [rand() * 200, rand() * 100, 30 + rand() * 40, 80 + rand() * 60];
      gts.push({ image_id: id, bbox: box, iscrowd: id === 30 && k === 0 ? 1 : 0 });
      if (rand() < 0.85) {
        const jitter = box.map((v, j) => Math.max(j < 2 ? 0 : 1, v + (rand() - 0.5) * noise)) as XywhBox;
        dets.push({ image_id: id, bbox: jitter, score: Math.round(rand() * 20) / 20 });
      }
    }
    const clutter = id === 50 ? 0 : Math.floor(rand() * 5); // image 50: nothing at all
    for (let k = 0; k < clutter; k++) {
      dets.push({
        image_id: id,
        bbox: [rand() * 250, rand() * 150, 20 + rand() * 30, 40 + rand() * 60],
        score: Math.round(rand() * 12) / 20,
      });
    }
  }
  return { gts, dets, ids };
}

/** The resampled set written out: image index i copied counts[i] times, copies given new consecutive ids. */
function explicitResample(
  set: { gts: CocoGt[]; dets: CocoDet[]; ids: number[] },
  counts: Int32Array,
): { gts: CocoGt[]; dets: CocoDet[]; imageIds: number[] } {
  const gts: CocoGt[] = [], dets: CocoDet[] = [], imageIds: number[] = [];
  set.ids.forEach((id, i) => {
    for (let c = 0; c < counts[i]; c++) {
      const newId = imageIds.length + 1;
      imageIds.push(newId);
      for (const g of set.gts) if (g.image_id === id) gts.push({ ...g, image_id: newId });
      for (const d of set.dets) if (d.image_id === id) dets.push({ ...d, image_id: newId });
    }
  });
  return { gts, dets, imageIds };
}

Deno.test("resampleAp() equals evaluateCoco() on the explicitly resampled set, copies as distinct images", () => {
  const set = synthetic(9, 3, 14);
  const data = evaluatePerImage(set.gts, set.dets, { imageIds: set.ids });
  // The test set itself first, then seeded draws (with repeats and images left out).
  const draws = [identityCounts(set.ids.length), ...drawResamples(set.ids.length, 40, 1)];
  assert.ok(draws.some((c) => c.some((n) => n >= 2)) && draws.some((c) => c.some((n) => n === 0)));
  for (const counts of draws) {
    const ex = explicitResample(set, counts);
    const want = evaluateCoco(ex.gts, ex.dets, { imageIds: ex.imageIds });
    const got = resampleAp(data, counts);
    assert.deepEqual(got, { ap50: want.ap50, ap75: want.ap75, ap: want.ap }, `counts ${counts.join(",")}`);
  }
});

Deno.test("resampleAp() gives −1 for a resample without ground truth", () => {
  const set = synthetic(5, 4, 10);
  const data = evaluatePerImage(set.gts, set.dets, { imageIds: set.ids });
  const onlyEmpty = new Int32Array(5);
  onlyEmpty[set.ids.indexOf(40)] = 5;
  assert.deepEqual(resampleAp(data, onlyEmpty), { ap50: -1, ap75: -1, ap: -1 });
});

Deno.test("bootstrapAp() is reproducible for a seed, and its intervals contain the point values", () => {
  const set = synthetic(30, 5, 12);
  const data = evaluatePerImage(set.gts, set.dets, { imageIds: set.ids });
  const a = bootstrapAp(data, { resamples: 300, seed: 7 });
  assert.deepEqual(bootstrapAp(data, { resamples: 300, seed: 7 }), a);
  assert.notDeepEqual(bootstrapAp(data, { resamples: 300, seed: 8 }).intervals, a.intervals);
  const full = evaluateCoco(set.gts, set.dets, { imageIds: set.ids });
  assert.deepEqual(a.point, { ap50: full.ap50, ap75: full.ap75, ap: full.ap });
  for (const key of ["ap50", "ap75", "ap"] as const) {
    const [lo, hi] = a.intervals![key];
    assert.ok(lo <= a.point[key] && a.point[key] <= hi, `${key} ${a.point[key]} in [${lo}, ${hi}]`);
    assert.ok(hi - lo > 0.01, `${key}: a 30-image test set leaves real uncertainty (${lo}, ${hi})`);
  }
  assert.equal(a.validResamples, 300);
});

Deno.test("pairedBootstrap() of a run with itself is exactly 0; of a better run, above 0", () => {
  const set = synthetic(30, 6, 30);
  const data = evaluatePerImage(set.gts, set.dets, { imageIds: set.ids });
  const self = pairedBootstrap(data, data, { resamples: 200, seed: 1 });
  assert.deepEqual(self.point, { ap50: 0, ap75: 0, ap: 0 });
  assert.deepEqual(self.intervals, { ap50: [0, 0], ap75: [0, 0], ap: [0, 0] });
  // The same images detected almost exactly: clearly better at IoU 0.75.
  const better = { ...set, dets: set.gts.map((g) => ({ image_id: g.image_id, bbox: g.bbox, score: 0.9 })) };
  const good = evaluatePerImage(better.gts, better.dets, { imageIds: set.ids });
  const d = pairedBootstrap(data, good, { resamples: 200, seed: 1 });
  assert.ok(d.intervals!.ap75[0] > 0, `interval ${d.intervals!.ap75}`);
  const other = synthetic(29, 6, 30);
  assert.throws(
    () => pairedBootstrap(data, evaluatePerImage(other.gts, other.dets, { imageIds: other.ids })),
    /not evaluated on the same test images/,
  );
});

Deno.test("quantile() and percentileInterval() follow numpy's linear method", () => {
  // np.quantile([1, 2, 3, 4], [0.025, 0.975]) = [1.075, 3.925]
  assert.ok(Math.abs(quantile([4, 1, 3, 2], 0.025) - 1.075) < 1e-12);
  const [lo, hi] = percentileInterval([4, 1, 3, 2]);
  assert.ok(Math.abs(lo - 1.075) < 1e-12 && Math.abs(hi - 3.925) < 1e-12);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

Deno.test("withBootstrapIntervals() adds valid interval fields to ap.json", () => {
  const set = synthetic(12, 8, 12);
  const gt: CocoGroundTruth = {
    images: set.ids.map((id) => ({ id, width: 300, height: 200 })),
    annotations: set.gts.map((g, i) => ({
      id: i + 1,
      image_id: g.image_id,
      category_id: 1,
      bbox: g.bbox,
      iscrowd: g.iscrowd,
    })),
    categories: [{ id: 1, name: "person" }],
  };
  const results: CocoResult[] = set.dets.map((d) => ({ ...d, category_id: 1 }));
  const ap = evaluateCocoFiles(gt, results, { id: 1, name: "person" }, { mode: "coco-files" });
  const withCi = ApJsonSchema.parse(withBootstrapIntervals(ap, gt, results, { resamples: 100 }));
  assert.equal(withCi.bootstrap?.resamples, 100);
  assert.ok(withCi.ap75_ci![0] <= ap.ap75 && ap.ap75 <= withCi.ap75_ci![1]);
  // Older ap.json files without the fields still read; 0 resamples gives no intervals.
  assert.equal(ApJsonSchema.parse(ap).ap75_ci, undefined);
  assert.deepEqual(withBootstrapIntervals(ap, gt, results, { resamples: 0 }), ap);
});
