/**
 * The evaluation workload of `deno task bench`: COCO AP (lib/evaluation/ap.ts, pycocotools-exact) of 50 images
 * with 4 ground-truth boxes and 200 scored detections each (about a Penn-Fudan test split at `ap`'s top-k),
 * seeded, so that a change to the AP code shows its cost beside the network's.
 * @module
 */
import { mulberry32 } from "../core/mod.ts";
import { type CocoDet, type CocoGt, evaluateCoco } from "../evaluation/mod.ts";
import { median } from "./timing.ts";

/** Images, detections per image and ground-truth boxes per image of the workload. */
export const AP_BENCH_SHAPE = { images: 50, detectionsPerImage: 200, gtPerImage: 4 } as const;

/** The seeded workload: ground truth and detections, COCO xywh pixels. */
export function apBenchCase(seed = 5): { gts: CocoGt[]; dets: CocoDet[] } {
  const { images, detectionsPerImage, gtPerImage } = AP_BENCH_SHAPE;
  const rand = mulberry32(seed);
  const gts: CocoGt[] = [];
  const dets: CocoDet[] = [];
  for (let img = 1; img <= images; img++) {
    const objects: [number, number, number, number][] = [];
    for (let g = 0; g < gtPerImage; g++) {
      const box: [number, number, number, number] = [
        rand() * 400,
        rand() * 300,
        20 + rand() * 100,
        50 + rand() * 200,
      ];
      objects.push(box);
      gts.push({ image_id: img, bbox: box });
    }
    for (let d = 0; d < detectionsPerImage; d++) {
      const o = objects[d % gtPerImage];
      const jitter = d < 20 ? 5 : 60;
      dets.push({
        image_id: img,
        bbox: [o[0] + (rand() - 0.5) * jitter, o[1] + (rand() - 0.5) * jitter, o[2], o[3]],
        score: Math.round(rand() * 100) / 100,
      });
    }
  }
  return { gts, dets };
}

/** Median wall time of one `evaluateCoco` over {@link apBenchCase}, ms, after one untimed run. */
export function timeApEvaluation(reps = 5): number {
  const { gts, dets } = apBenchCase();
  evaluateCoco(gts, dets);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    evaluateCoco(gts, dets);
    times.push(performance.now() - t0);
  }
  return median(times);
}
