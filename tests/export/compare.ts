/**
 * What the exported-model tests (graph_model_test.ts, onnx_model_test.ts) compare: raw outputs by relative
 * error, detections as [x, y, w, h] boxes.
 * @module
 */
import assert from "node:assert/strict";
import { fractionalXyxyToBbox } from "../../lib/export/mod.ts";
import { type Detection, disposeModel, type SsdModel } from "../../lib/ssd/mod.ts";
import { compareArrays, goldenF32, goldenJson, ignoreWithoutShared, sharedPath } from "../helpers.ts";
import { loadCheckpointFile } from "../../lib/interop/mod.ts";

/** The detection settings of `detect`'s defaults. */
export const DEFAULTS = { minScore: 0.2, maxOverlap: 0.45, topK: 200 };

/** Relative Frobenius error ≤ tol and max |Δ| ≤ tol · max |expected|. */
export function assertRelClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  const { maxAbs, relFro } = compareArrays(actual, expected);
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) maxRef = Math.max(maxRef, Math.abs(expected[i]));
  assert(relFro <= tol && maxAbs <= tol * maxRef, `${what}: relative Frobenius ${relFro}, max |Δ| ${maxAbs}`);
}

/**
 * Fractional detections as comparable [x, y, w, h] boxes of a width × height image (the background
 * placeholder dropped).
 */
export function comparable(dets: readonly Detection[], width = 1, height = 1) {
  return dets.filter((d) => d.classId !== 0).map((d) => ({
    class: d.classId,
    score: d.score,
    bbox: fractionalXyxyToBbox(d.box, width, height),
  }));
}

/** The golden VOC forward: golden.json, the NCHW input and the reference's locs and scores. */
export interface GoldenVocForward {
  golden: Record<string, unknown>;
  input: Float32Array;
  locs: Float32Array;
  scores: Float32Array;
}

/** The golden VOC forward, or undefined when ../shared lacks a file (the test then skips, or fails under CI). */
export async function goldenVocForward(t: Deno.TestContext): Promise<GoldenVocForward | undefined> {
  const golden = await goldenJson(t);
  const input = await goldenF32(t, "input_nchw.f32");
  const locs = await goldenF32(t, "voc_locs.f32");
  const scores = await goldenF32(t, "voc_scores.f32");
  return golden && input && locs && scores ? { golden, input, locs, scores } : undefined;
}

/** The golden VOC forward, the checkpoint loaded, and a temporary folder, for {@link goldenVocTest}'s body. */
export interface GoldenVocCase extends GoldenVocForward {
  model: SsdModel;
  dir: string;
}

/**
 * A test of the golden ssd300_voc.pth (skipped without ../shared, failing under CI): `body` gets the golden
 * forward, the loaded model and a temporary folder; both are freed after it.
 */
export function goldenVocTest(
  name: string,
  body: (voc: GoldenVocCase, t: Deno.TestContext) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: ignoreWithoutShared("golden/ssd300_voc.pth"),
    async fn(t) {
      const forward = await goldenVocForward(t);
      if (!forward) return;
      const model = await loadCheckpointFile(sharedPath("golden/ssd300_voc.pth"));
      const dir = await Deno.makeTempDir({ prefix: "golden_voc_" });
      try {
        await body({ ...forward, model, dir }, t);
      } finally {
        disposeModel(model);
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
