/**
 * PASCAL VOC detection AP for one category, as an alternative to COCO's (recorded in ap.json as `voc_ap50`,
 * `voc_ap75`): the devkit's matching and all-point average precision, on the same pixel boxes as lib/evaluation/ap.ts.
 * @module
 */
import { bboxIou, type CocoDet, type CocoGt, groupByImage, stableArgsort } from "./ap.ts";

/**
 * PASCAL VOC all-point AP (VOC2010+ `VOCap`): area under the precision envelope over the recall points where
 * recall changes, with sentinels recall 0/1 and precision 0/0. `recall` and `precision` are per ranked detection.
 */
export function vocAllPointAp(recall: readonly number[], precision: readonly number[]): number {
  const mrec = [0, ...recall, 1];
  const mpre = [0, ...precision, 0];
  for (let i = mpre.length - 2; i >= 0; i--) mpre[i] = Math.max(mpre[i], mpre[i + 1]);
  let ap = 0;
  for (let i = 1; i < mrec.length; i++) if (mrec[i] !== mrec[i - 1]) ap += (mrec[i] - mrec[i - 1]) * mpre[i];
  return ap;
}

/** What {@link evaluateVoc} reports. */
export interface VocEvalResult {
  /** All-point AP; −1 when there is no non-difficult ground truth. */
  ap: number;
  /** Per ranked detection (decreasing score). */
  recall: number[];
  precision: number[];
  nGt: number;
}

/**
 * PASCAL VOC detection AP (devkit `VOCevaldet.m` + `VOCap`) for one category: detections ranked by score over all
 * images (stable); each takes the ground truth of its image with the highest IoU; if that IoU ≥ `iouThreshold`
 * it is a true positive unless that ground truth was already taken (then a false positive); crowd ground truths
 * play VOC's "difficult" role (a detection on one is neither TP nor FP; they do not count in recall). Unlike the
 * devkit (integer pixel boxes, +1 in widths) the IoU is {@link bboxIou}'s, on continuous pixel boxes as COCO.
 */
export function evaluateVoc(
  gts: readonly CocoGt[],
  dets: readonly CocoDet[],
  opts: { iouThreshold?: number } = {},
): VocEvalResult {
  const iouThreshold = opts.iouThreshold ?? 0.5;
  const gtByImage = groupByImage(gts);
  const taken = new Map<number, Uint8Array>();
  for (const [id, list] of gtByImage) taken.set(id, new Uint8Array(list.length));
  const nGt = gts.filter((g) => !g.iscrowd).length;
  const order = stableArgsort(dets.map((d) => -d.score));
  const recall: number[] = [], precision: number[] = [];
  let tp = 0, fp = 0;
  for (const di of order) {
    const d = dets[di];
    const list = gtByImage.get(d.image_id) ?? [];
    let best = -Infinity, jmax = -1;
    list.forEach((g, j) => {
      const ov = bboxIou(d.bbox, g.bbox); // VOC: plain IoU, also for difficult objects
      if (ov > 0 && ov > best) {
        best = ov;
        jmax = j;
      }
    });
    if (jmax >= 0 && best >= iouThreshold) {
      if (!list[jmax].iscrowd) {
        const t = taken.get(d.image_id)!;
        if (!t[jmax]) {
          tp++;
          t[jmax] = 1;
        } else fp++;
      } else continue; // difficult: neither TP nor FP
    } else fp++;
    recall.push(tp / nGt);
    precision.push(tp / (tp + fp));
  }
  return { ap: nGt === 0 ? -1 : vocAllPointAp(recall, precision), recall, precision, nGt };
}
