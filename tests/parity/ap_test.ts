import assert from "node:assert/strict";
import {
  bboxIou,
  COCO_IOU_THRESHOLDS,
  COCO_RECALL_THRESHOLDS,
  type CocoDet,
  type CocoGt,
  evaluateCoco,
  numpyLinspace,
  numpyMean,
  numpyPairwiseSum,
  prCurveAt,
} from "../../lib/evaluation/ap.ts";
import { evaluateVoc, vocAllPointAp } from "../../lib/evaluation/voc.ts";
import { GOLDEN_DIR } from "../helpers.ts";

const GOLDEN = new URL("ap_cases.json", GOLDEN_DIR);
/** Golden values are pycocotools' float64 results; our code does the same float operations in the same order. */
const GOLDEN_TOLERANCE = 1e-9;

interface GoldenCase {
  images: { id: number; width: number; height: number }[];
  annotations: (CocoGt & { id: number })[];
  detections: CocoDet[];
  expected: { ap50: number; ap75: number; ap: number; ar100: number };
}

function loadGolden(): GoldenCase[] | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(GOLDEN)).cases;
  } catch (e) {
    if (Deno.env.get("CI")) throw new Error(`golden file ${GOLDEN.pathname} is required in CI: ${e}`);
    return undefined;
  }
}

const golden = loadGolden();
const goldenCount = golden?.length ?? 40;
for (let i = 0; i < goldenCount; i++) {
  Deno.test({
    name: `evaluateCoco() reproduces pycocotools on golden case ${i}`,
    ignore: golden === undefined,
    fn() {
      const c = golden![i];
      const r = evaluateCoco(c.annotations, c.detections, { imageIds: c.images.map((im) => im.id) });
      for (const key of ["ap50", "ap75", "ap", "ar100"] as const) {
        const err = Math.abs(r[key] - c.expected[key]);
        assert.ok(
          err <= GOLDEN_TOLERANCE,
          `case ${i} ${key}: got ${r[key]}, pycocotools ${c.expected[key]} (error ${err})`,
        );
      }
    },
  });
}

Deno.test({
  name: "evaluateCoco() golden set has the 40 documented cases",
  ignore: golden === undefined,
  fn() {
    assert.equal(golden!.length, 40);
  },
});

Deno.test("numpyLinspace() gives numpy's float values for the COCO thresholds", () => {
  // numpy: i * step + start, last = stop; so 0.9 comes out as 0.8999999999999999 and 0.35 as 0.35000000000000003.
  assert.equal(COCO_IOU_THRESHOLDS.length, 10);
  assert.equal(COCO_IOU_THRESHOLDS[8], 8 * ((0.95 - 0.5) / 9) + 0.5);
  assert.notEqual(COCO_IOU_THRESHOLDS[8], 0.9);
  assert.equal(COCO_IOU_THRESHOLDS[5], 0.75);
  assert.equal(COCO_IOU_THRESHOLDS[9], 0.95);
  assert.equal(COCO_RECALL_THRESHOLDS.length, 101);
  assert.equal(COCO_RECALL_THRESHOLDS[35], 35 * 0.01);
  assert.notEqual(COCO_RECALL_THRESHOLDS[35], 0.35);
  assert.equal(COCO_RECALL_THRESHOLDS[100], 1);
  assert.deepEqual(numpyLinspace(2, 3, 1), [2]);
  assert.deepEqual(numpyLinspace(0, 1, 0), []);
});

Deno.test("numpyPairwiseSum() sums in numpy's pairwise order", () => {
  // 16 values: 8 accumulators r[j] = a[j] + a[j+8]; r0 = 1e16 + 1 rounds to 1e16, r1..r7 = 2 each, then
  // ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) = (1e16 + 2 + 4) + 8 = 1e16 + 14 (exact: spacing at 1e16 is 2).
  const a = [1e16, ...new Array(15).fill(1)];
  assert.equal(numpyPairwiseSum(a), 1e16 + 14);
  // A naive left-to-right sum loses every +1.
  assert.equal(a.reduce((s, v) => s + v, 0), 1e16);
  // Fewer than 8: left to right.
  assert.equal(numpyPairwiseSum([1e16, 1, 1, 1]), 1e16);
  assert.equal(numpyMean([1, 2, 3, 4]), 2.5);
  assert.ok(Number.isNaN(numpyMean([])));
});

Deno.test("bboxIou() is intersection over union without +1, crowd divides by the detection area", () => {
  // [0,0,10,10] vs [5,0,10,10]: intersection 5*10 = 50, union 100 + 100 - 50 = 150.
  assert.equal(bboxIou([0, 0, 10, 10], [5, 0, 10, 10]), 50 / 150);
  assert.equal(bboxIou([0, 0, 10, 10], [5, 0, 10, 10], true), 50 / 100);
  assert.equal(bboxIou([0, 0, 10, 10], [10, 0, 10, 10]), 0); // touching edges: w = 0
  assert.equal(bboxIou([0, 0, 10, 10], [0, 0, 10, 10]), 1);
});

Deno.test("evaluateCoco() gives AP 1 for perfect detections and −1 without ground truth", () => {
  const gts: CocoGt[] = [{ image_id: 1, bbox: [10, 10, 50, 80] }, { image_id: 2, bbox: [0, 0, 20, 20] }];
  const dets: CocoDet[] = gts.map((g, i) => ({
    image_id: g.image_id,
    bbox: [...g.bbox],
    score: 0.9 - i * 0.1,
  }));
  const r = evaluateCoco(gts, dets);
  assert.deepEqual([r.ap50, r.ap75, r.ap, r.ar100], [1, 1, 1, 1]);
  assert.equal(r.nGt, 2);
  const none = evaluateCoco([], dets);
  assert.deepEqual([none.ap50, none.ap75, none.ap, none.ar100], [-1, -1, -1, -1]);
  assert.deepEqual(prCurveAt(none, 0.75), []);
});

Deno.test("evaluateCoco() ignores detections on crowd regions and does not count crowds in recall", () => {
  const gts: CocoGt[] = [
    { image_id: 1, bbox: [0, 0, 100, 100], iscrowd: 1 },
    { image_id: 1, bbox: [200, 200, 50, 50] },
  ];
  // Two detections inside the crowd (IoU with crowd = 1 each: both ignored), one exact on the real object.
  const dets: CocoDet[] = [
    { image_id: 1, bbox: [0, 0, 40, 40], score: 0.9 },
    { image_id: 1, bbox: [50, 50, 40, 40], score: 0.8 },
    { image_id: 1, bbox: [200, 200, 50, 50], score: 0.7 },
  ];
  const r = evaluateCoco(gts, dets);
  assert.equal(r.nGt, 1);
  assert.equal(r.nGtIgnored, 1);
  // One true positive: precision 1 / (1 + np.spacing(1)) = 1 − 2.2e-16 at every recall threshold.
  assert.ok(Math.abs(r.ap - 1) < 1e-15, `ap ${r.ap}`);
  // Without the crowd flag (IoU 0.16 with the big box) the first two are false positives ranked above the
  // true positive: precision 1/3 up to recall 0.5 (51 of the 101 thresholds), 0 beyond.
  const plain = evaluateCoco(gts.map((g) => ({ ...g, iscrowd: 0 as const })), dets);
  assert.ok(Math.abs(plain.ap50 - 51 / 3 / 101) < 1e-15, `ap50 ${plain.ap50}`);
  assert.equal(plain.nGt, 2);
  assert.equal(plain.ar100, 0.5);
});

Deno.test("evaluateCoco() cuts each image at 100 detections by score", () => {
  const gts: CocoGt[] = [{ image_id: 1, bbox: [0, 0, 10, 10] }];
  const far: CocoDet[] = Array.from({ length: 100 }, (_, i) => ({
    image_id: 1,
    bbox: [500 + i, 500, 10, 10],
    score: 0.5,
  }));
  // Same score as the 100 false positives but listed after them: the stable sort keeps it 101st, so it is cut.
  const r = evaluateCoco(gts, [...far, { image_id: 1, bbox: [0, 0, 10, 10], score: 0.5 }]);
  assert.equal(r.ar100, 0);
  const r2 = evaluateCoco(gts, [{ image_id: 1, bbox: [0, 0, 10, 10], score: 0.5 }, ...far]);
  assert.equal(r2.ar100, 1);
  assert.equal(r2.ar1, 1);
});

Deno.test("evaluateCoco() rejects detections on images outside imageIds", () => {
  assert.throws(
    () => evaluateCoco([], [{ image_id: 7, bbox: [0, 0, 1, 1], score: 1 }], { imageIds: [1, 2] }),
    /image 7/,
  );
});

Deno.test("evaluateCoco() does not mutate its input", () => {
  const gts: CocoGt[] = [{ image_id: 2, bbox: [0, 0, 10, 10], iscrowd: 1 }, {
    image_id: 1,
    bbox: [1, 1, 5, 5],
  }];
  const dets: CocoDet[] = [
    { image_id: 1, bbox: [1, 1, 5, 6], score: 0.2 },
    { image_id: 2, bbox: [0, 0, 3, 3], score: 0.9 },
  ];
  const before = structuredClone([gts, dets]);
  evaluateCoco(gts, dets);
  evaluateVoc(gts, dets);
  assert.deepEqual([gts, dets], before);
});

Deno.test("prCurveAt() returns the 101 (recall, precision) points at IoU 0.75", () => {
  const gts: CocoGt[] = [{ image_id: 1, bbox: [0, 0, 10, 10] }, { image_id: 1, bbox: [50, 50, 10, 10] }];
  const r = evaluateCoco(gts, [{ image_id: 1, bbox: [0, 0, 10, 10], score: 1 }]);
  const curve = prCurveAt(r, 0.75);
  assert.equal(curve.length, 101);
  // recall reached 0.5: precision 1 up to recall threshold 0.5, 0 beyond.
  assert.deepEqual(curve[50], [0.5, 1 / (1 + Number.EPSILON)]);
  assert.deepEqual(curve[51], [COCO_RECALL_THRESHOLDS[51], 0]);
  assert.deepEqual(prCurveAt(r, 0.72), []); // not one of the evaluated thresholds
});

Deno.test("vocAllPointAp() integrates the precision envelope (hand-computed 5/6)", () => {
  // Ranked: TP, FP, TP with 2 gts → recall [.5, .5, 1], precision [1, .5, 2/3].
  // Envelope over mrec [0, .5, .5, 1, 1]: [1, 1, 2/3, 2/3, 0] → 0.5 * 1 + 0.5 * 2/3 = 5/6.
  assert.ok(Math.abs(vocAllPointAp([0.5, 0.5, 1], [1, 0.5, 2 / 3]) - 5 / 6) < 1e-15);
  assert.equal(vocAllPointAp([], []), 0);
});

Deno.test("evaluateVoc() matches VOC devkit semantics on a hand-computed case", () => {
  const gts: CocoGt[] = [
    { image_id: 1, bbox: [0, 0, 10, 10] },
    { image_id: 1, bbox: [100, 100, 10, 10] },
    { image_id: 1, bbox: [300, 300, 10, 10], iscrowd: 1 },
  ];
  const dets: CocoDet[] = [
    { image_id: 1, bbox: [0, 0, 10, 10], score: 0.9 }, // TP
    { image_id: 1, bbox: [0, 0, 10, 9], score: 0.8 }, // IoU .9 with an already-taken gt: FP (duplicate)
    { image_id: 1, bbox: [300, 300, 10, 10], score: 0.75 }, // on a difficult object: neither
    { image_id: 1, bbox: [100, 100, 10, 10], score: 0.7 }, // TP
  ];
  const r = evaluateVoc(gts, dets, { iouThreshold: 0.5 });
  assert.equal(r.nGt, 2);
  assert.deepEqual(r.recall, [0.5, 0.5, 1]);
  assert.deepEqual(r.precision, [1, 0.5, 2 / 3]);
  assert.ok(Math.abs(r.ap - 5 / 6) < 1e-15);
  // COCO's greedy matching would give the duplicate to no one as well; at IoU 0.5 COCO AP is the 101-point mean.
  assert.equal(evaluateVoc([], dets).ap, -1);
});

/** Cases with crowd regions and area ranges, evaluated by pycocotools (see tests/parity/data/ap_crowd_area_cases.py). */
const crowdCases: {
  image_ids: number[];
  gts: [number, number, number, number, number, number, 0 | 1][];
  dets: [number, number, number, number, number, number][];
  stats: number[];
}[] = JSON.parse(Deno.readTextFileSync(new URL("./data/ap_crowd_area_cases.json", import.meta.url))).cases;
/** COCOeval.stats order: AP, AP50, AP75, AP S/M/L, AR1, AR10, AR100, AR100 S/M/L. */
const AREA_RANGES: Record<"small" | "medium" | "large", [number, number]> = {
  small: [0 ** 2, 32 ** 2],
  medium: [32 ** 2, 96 ** 2],
  large: [96 ** 2, 1e5 ** 2],
};
crowdCases.forEach((c, i) => {
  Deno.test(`evaluateCoco() reproduces pycocotools' 12 stats with crowds and area ranges, case ${i}`, () => {
    const gts: CocoGt[] = c.gts.map(([image_id, x, y, w, h, area, iscrowd]) => ({
      image_id,
      bbox: [x, y, w, h],
      area,
      iscrowd,
    }));
    const dets: CocoDet[] = c.dets.map(([image_id, x, y, w, h, score]) => ({
      image_id,
      bbox: [x, y, w, h],
      score,
    }));
    const imageIds = c.image_ids;
    const all = evaluateCoco(gts, dets, { imageIds });
    const [s, m, l] = (["small", "medium", "large"] as const).map((k) =>
      evaluateCoco(gts, dets, { imageIds, areaRange: AREA_RANGES[k] })
    );
    const ours = [
      all.ap,
      all.ap50,
      all.ap75,
      s.ap,
      m.ap,
      l.ap,
      all.ar1,
      all.ar10,
      all.ar100,
      s.ar100,
      m.ar100,
      l.ar100,
    ];
    ours.forEach((v, k) => {
      assert.ok(
        Math.abs(v - c.stats[k]) <= GOLDEN_TOLERANCE,
        `case ${i} stat ${k}: got ${v}, pycocotools ${c.stats[k]}`,
      );
    });
  });
});

Deno.test("evaluateCoco() keeps a match to a real object rather than a better-overlapping crowd region", () => {
  // Detection [1,0,10,10]: IoU with the person [0,0,10,10] = 90 / 110 ≈ 0.82; with the crowd region around it
  // = 100 / 100 = 1 (intersection over detection area). Ignored gts come last and the search stops at the first
  // ignored one once a real match is held, so it is a true positive up to IoU 0.8, a false positive above.
  const gts: CocoGt[] = [
    { image_id: 1, bbox: [0, 0, 20, 20], iscrowd: 1 },
    { image_id: 1, bbox: [0, 0, 10, 10] },
  ];
  const r = evaluateCoco(gts, [{ image_id: 1, bbox: [1, 0, 10, 10], score: 0.9 }]);
  assert.deepEqual(r.recall, COCO_IOU_THRESHOLDS.map((t) => (t <= 90 / 110 ? 1 : 0)));
  assert.ok(Math.abs(r.ap50 - 1) < 1e-15);
  assert.ok(Math.abs(r.ap75 - 1) < 1e-15);
  assert.ok(r.precision[6][0] > 0.99); // IoU threshold 0.8 ≤ 0.818: matched
  assert.ok(r.precision[7].every((p) => p === 0)); // 0.85: no match (the crowd region does not take it either)
});
