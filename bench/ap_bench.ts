/**
 * `deno bench -A tests/ap_bench.ts` — COCO AP on 50 images × 200 detections (target ≤ 0.1 s per evaluation).
 */
import { mulberry32 } from "../lib/core/rng.ts";
import { type CocoDet, type CocoGt, evaluateCoco } from "../lib/eval/ap.ts";

const N_IMAGES = 50, DETS_PER_IMAGE = 200, GTS_PER_IMAGE = 4;
const rand = mulberry32(5);
const gts: CocoGt[] = [];
const dets: CocoDet[] = [];
for (let img = 1; img <= N_IMAGES; img++) {
  const objects: [number, number, number, number][] = [];
  for (let g = 0; g < GTS_PER_IMAGE; g++) {
    const box: [number, number, number, number] = [
      rand() * 400,
      rand() * 300,
      20 + rand() * 100,
      50 + rand() * 200,
    ];
    objects.push(box);
    gts.push({ image_id: img, bbox: box });
  }
  for (let d = 0; d < DETS_PER_IMAGE; d++) {
    const o = objects[d % GTS_PER_IMAGE];
    const jitter = d < 20 ? 5 : 60;
    dets.push({
      image_id: img,
      bbox: [o[0] + (rand() - 0.5) * jitter, o[1] + (rand() - 0.5) * jitter, o[2], o[3]],
      score: Math.round(rand() * 100) / 100,
    });
  }
}

Deno.bench("evaluateCoco() 50 images × 200 detections", () => {
  evaluateCoco(gts, dets);
});
