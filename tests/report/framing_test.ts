import assert from "node:assert/strict";
import { openDirectorySource } from "../../lib/data/mod.ts";
import {
  describeDataset,
  reportTitle,
  settingName,
  settingsTable,
  smokeReasons,
  startText,
} from "../../lib/report/mod.ts";
import { fakeRun, FIXTURE_DIR } from "../helpers.ts";

const penn = { name: "Penn-Fudan pedestrians", synthetic: false };

Deno.test("describeDataset() recognises the synthetic fixtures by their readme", async () => {
  const source = await openDirectorySource(`${FIXTURE_DIR}/..`);
  assert.deepEqual(describeDataset(source, "PennFudanPed/"), {
    name: "the synthetic fixture images",
    synthetic: true,
  });
  const photos = {
    has: () => true,
    read: () => new TextEncoder().encode("Penn-Fudan Database for Pedestrian Detection"),
  };
  assert.deepEqual(describeDataset(photos, "PennFudanPed/", "/data/PennFudanPed.zip"), penn);
});

Deno.test("reportTitle() says which data and which runs the page shows", () => {
  const orig = fakeRun("voc", "original", 10, { nImages: 50 });
  const ft = fakeRun("ft", "finetuned", 2, { nImages: 50 });
  assert.equal(
    reportTitle([orig, ft], penn),
    "Person detection on Penn-Fudan pedestrians: original VOC detector vs fine-tuned (50 test images)",
  );
  assert.equal(
    reportTitle([ft], { name: "the synthetic fixture images", synthetic: true }),
    "Person detection on the synthetic fixture images: fine-tuned model only (50 test images)",
  );
  assert.equal(
    reportTitle([orig, ft, { ...ft, name: "ft2" }]),
    'Person detection on COCO category "person": original VOC detector vs 2 fine-tuned models (50 test images)',
  );
});

Deno.test("smokeReasons() flags synthetic data, random initialisation and tiny test sets, and nothing else", () => {
  const real = [
    fakeRun("voc", "original", 10, { nImages: 50 }),
    fakeRun("ft", "finetuned", 2, { nImages: 50 }),
  ];
  assert.deepEqual(smokeReasons(real, penn), []);
  const scratch = {
    ...fakeRun("ft", "finetuned", 2, { nImages: 4 }),
    start: { kind: "scratch", path: null },
  };
  const reasons = smokeReasons([scratch], { name: "x", synthetic: true });
  assert.equal(reasons.length, 3);
  assert.match(reasons[0], /synthetic fixtures/);
  assert.match(reasons[1], /ft started from a random initialisation/);
  assert.match(reasons[2], /only 4 test images/);
  // An "original" detector that finds nobody cannot be the trained VOC model.
  const untrained = { ...real[0], ap: { ...real[0].ap, ap50: 0.00004 } };
  const [why] = smokeReasons([untrained, real[1]], penn);
  assert.match(
    why,
    /original VOC detector voc scores AP@0.5 = 0.000040 .* probably not the published trained ones/,
  );
});

Deno.test("settingsTable() shows only what differs, in words; the rest in one line", () => {
  const voc = fakeRun("voc", "original", 10);
  const train = { epochs: 20, batchSize: 10, lr: 0.001, augment: true, workers: 2, valFraction: 0.1 };
  const a = {
    ...fakeRun("a", "finetuned", 2),
    start: { kind: "checkpoint", path: "/x/ssd300_voc.pth", headInit: "voc-person" },
    trainingSettings: train,
  };
  const b = { ...a, name: "b", trainingSettings: { ...train, lr: 0.0001, augment: false } };
  const t = settingsTable([voc, a, b]);
  assert.deepEqual(t.runs, ["voc", "a", "b"]);
  const rows = Object.fromEntries(t.rows.map((r) => [r.name, r.values]));
  assert.deepEqual(Object.keys(rows), ["model", "learning rate", "augmentation"]);
  assert.deepEqual(rows["model"], [
    "the VOC detector as published (21 classes, scored on person)",
    "fine-tuned from VOC checkpoint ssd300_voc.pth, heads from the VOC person channels",
    "fine-tuned from VOC checkpoint ssd300_voc.pth, heads from the VOC person channels",
  ]);
  assert.deepEqual(rows["learning rate"], ["–", "0.001", "0.0001"]);
  assert.deepEqual(rows["augmentation"], ["–", "yes", "no"]);
  assert.ok(t.common.includes("batch size (images per step): 10"), t.common.join(" | "));
  assert.ok(t.common.includes("min score: 0.01"));
  assert.ok(!t.common.some((c) => c.startsWith("workers")), "speed settings are not shown");
  assert.equal(settingName("weightDecay"), "weight decay");
  assert.equal(settingName("someNewKey_x"), "some new key x");
  assert.equal(
    startText({ ...a, start: { kind: "scratch", path: null } }),
    "fine-tuned from random initialisation",
  );
});
