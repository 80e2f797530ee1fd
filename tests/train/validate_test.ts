/**
 * Crowd regions in training, on the COCO-format fixture: validationAp() scores the held-out TRAIN images as `ap`
 * scores a split (no network passes: detections are placed on the ground truth directly), and the resume key
 * covers them.
 */
import assert from "node:assert/strict";
import { COCO_FIXTURE } from "../../fixtures/generate.ts";
import {
  buildCocoDataset,
  openDirectorySource,
  parseCocoInstances,
  toCocoGroundTruth,
} from "../../lib/data/mod.ts";
import type { OpenedDataset } from "../../lib/data/mod.ts";
import { type CocoDet, cocoToEvalInputs, evaluateCoco, pixelXyxyToXywh } from "../../lib/evaluation/mod.ts";
import { datasetFingerprint, trainItemsOf, validationAp } from "../../lib/train/mod.ts";
import { FIXTURE_DIR, FIXTURES_ROOT } from "../helpers.ts";

/** The COCO-format fixture as a dataset (category "figure", the default split) and its image folder. */
async function cocoFixture() {
  const path = `${FIXTURES_ROOT}/${COCO_FIXTURE}`;
  const gt = parseCocoInstances(await Deno.readTextFile(path), path);
  const images = `${FIXTURE_DIR}/PNGImages`;
  const source = await openDirectorySource(images);
  const ds = buildCocoDataset(gt, source, {
    annotations: { path, sha256: "0".repeat(64) },
    imagesPath: images,
    category: "figure",
  });
  return { ds, source };
}

Deno.test("validationAp() ignores detections on crowd regions as ap does; without them they are false positives", async () => {
  const { ds } = await cocoFixture();
  const noPixels = {
    readImage: () => assert.fail("validationAp() decodes no image"),
  } as unknown as OpenedDataset;
  const items = trainItemsOf(ds, noPixels);
  const nCrowd = items.reduce((s, it) => s + (it.crowd?.length ?? 0), 0);
  assert.ok(nCrowd > 0, "the fixture's TRAIN images have crowd regions");
  // one exact detection per crowd region, scored above one exact detection per box: the crowd ones come first
  const dets: CocoDet[] = items.flatMap((it) => [
    ...(it.crowd ?? []).map((c) => ({ image_id: it.id, bbox: pixelXyxyToXywh(c.box), score: 0.9 })),
    ...it.boxes.map((b) => ({ image_id: it.id, bbox: pixelXyxyToXywh(b), score: 0.5 })),
  ]);

  const withCrowd = validationAp(items, dets);
  const { imageIds, gts } = cocoToEvalInputs(toCocoGroundTruth(ds, "train"), [], 1);
  const ap = evaluateCoco(gts, dets, { imageIds });
  assert.deepEqual(withCrowd, { ap75: ap.ap75, ap: ap.ap }, "the same numbers as ap on the TRAIN split");
  assert.equal(withCrowd.ap75, 1); // every box found, no false positive

  const withoutCrowd = validationAp(items.map(({ crowd: _, ...it }) => it), dets);
  assert.ok(withoutCrowd.ap75 < withCrowd.ap75, `${withoutCrowd.ap75} < ${withCrowd.ap75}`);
  assert.ok(withoutCrowd.ap < withCrowd.ap, `${withoutCrowd.ap} < ${withCrowd.ap}`);
});

Deno.test("datasetFingerprint() changes when a crowd region moves (it steers validation)", async () => {
  const { ds, source } = await cocoFixture();
  const k = ds.images.findIndex((im) => im.crowd?.length);
  assert.ok(k >= 0);
  const moved = structuredClone(ds);
  const box = moved.images[k].crowd![0].box;
  box[0] -= 1;
  const opened = source as unknown as OpenedDataset;
  const [a, b] = [await datasetFingerprint(ds, opened), await datasetFingerprint(moved, opened)];
  assert.notEqual(a, b);
  assert.equal(await datasetFingerprint(structuredClone(ds), opened), a);
});
