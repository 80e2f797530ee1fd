import assert from "node:assert/strict";
import {
  BOXES_PER_LOCATION,
  createPriorsCxcy,
  N_PRIORS,
  PRIOR_MAPS,
  PRIOR_SET_NAMES,
  PRIOR_SETS,
  priorsCxcyFor,
  type PriorSetName,
} from "../../lib/ssd/priors.ts";
import { goldenF32 } from "../helpers.ts";

Deno.test("createPriorsCxcy() builds 8732 priors equal to the reference's priors_cxcy.f32 within 1e-6", async (t) => {
  const priors = createPriorsCxcy();
  assert.deepEqual(priors.length, N_PRIORS * 4);
  const golden = await goldenF32(t, "priors_cxcy.f32");
  if (!golden) return;
  assert.deepEqual(golden.length, priors.length);
  let maxDiff = 0;
  for (let i = 0; i < golden.length; i++) maxDiff = Math.max(maxDiff, Math.abs(golden[i] - priors[i]));
  assert(maxDiff <= 1e-6, `max |Δ| = ${maxDiff}`);
});

Deno.test("createPriorsCxcy() counts boxes per map as Σ size²·boxes and clamps to [0, 1]", () => {
  assert.deepEqual(BOXES_PER_LOCATION, [4, 6, 6, 6, 4, 4]);
  const total = PRIOR_MAPS.reduce((s, m, k) => s + m.size * m.size * BOXES_PER_LOCATION[k], 0);
  assert.deepEqual(total, N_PRIORS);
  const priors = createPriorsCxcy();
  assert(priors.every((v) => v >= 0 && v <= 1));
  // first prior: conv4_3 cell (0, 0), ratio 1 → (0.5/38, 0.5/38, 0.1, 0.1); then the extra √(0.1·0.2) box
  assert.deepEqual(
    Array.from(priors.slice(0, 8)),
    [1 / 76, 1 / 76, 0.1, 0.1, 1 / 76, 1 / 76, Math.sqrt(0.02), Math.sqrt(0.02)].map(Math.fround),
  );
  // last prior: conv11_2, ratio 0.5 → w = 0.9·√0.5, h = 0.9/√0.5 clamped to 1
  assert.deepEqual(Array.from(priors.slice(-4)), [0.5, 0.5, Math.fround(0.9 * Math.sqrt(0.5)), 1]);
});

Deno.test("createPriorsCxcy('pedestrian') keeps the reference's layout with tall boxes only", () => {
  const ref = createPriorsCxcy();
  const ped = createPriorsCxcy("pedestrian");
  assert.deepEqual(ped.length, ref.length);
  for (const maps of Object.values(PRIOR_SETS)) {
    assert.deepEqual(maps.map((m) => m.aspectRatios.length), PRIOR_MAPS.map((m) => m.aspectRatios.length));
  }
  let tall = 0;
  for (let i = 0; i < ped.length; i += 4) {
    assert.deepEqual(ped[i], ref[i]); // same centres
    assert.deepEqual(ped[i + 1], ref[i + 1]);
    assert(ped[i + 2] <= ped[i + 3] + 1e-6, `prior ${i / 4} is wider than tall`);
    if (ped[i + 2] < ped[i + 3]) tall++;
  }
  assert(tall > 0.5 * (ped.length / 4));
});

Deno.test("priorsCxcyFor() builds each prior set once (undefined = reference); unknown names are rejected", () => {
  assert.deepEqual(PRIOR_SET_NAMES, ["reference", "pedestrian"]);
  for (const name of PRIOR_SET_NAMES) {
    const p = priorsCxcyFor(name);
    assert(p === priorsCxcyFor(name), `${name} is cached`);
    assert.deepEqual(p, createPriorsCxcy(name));
  }
  assert(priorsCxcyFor(undefined) === priorsCxcyFor("reference"));
  let error: unknown;
  try {
    createPriorsCxcy("square" as PriorSetName);
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError && /square/.test(error.message), String(error));
});
