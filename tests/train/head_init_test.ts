import assert from "node:assert/strict";
import { resolveHeadInit } from "../../lib/train/mod.ts";

Deno.test("resolveHeadInit() voc picks the VOC class named as the category, else random with one note", () => {
  assert.deepEqual(resolveHeadInit("voc", "car"), { init: "voc", vocClass: 7, recorded: "voc-car" });
  assert.deepEqual(resolveHeadInit("voc", "person"), { init: "voc", vocClass: 15, recorded: "voc-person" });
  assert.deepEqual(resolveHeadInit("voc-person", "figure"), {
    init: "voc",
    vocClass: 15,
    recorded: "voc-person",
  });
  const none = resolveHeadInit("voc", "figure");
  assert.deepEqual([none.init, none.recorded], ["random", "random"]);
  assert.match(none.note!, /VOC has no class "figure".*random/);
  assert.equal(resolveHeadInit("random", "car").note, undefined);
});
