import assert from "node:assert/strict";
import { cxcyToXyxy, decodeOffsets, encodeOffsets, iouMatrix, xyxyToCxcy } from "../../lib/ssd/boxes.ts";
import { createPriorsCxcy } from "../../lib/ssd/priors.ts";

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) {
  assert.deepEqual(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    assert(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

const XYXY = new Float32Array([0.1, 0.2, 0.5, 0.6, 0, 0, 1, 1, 0.3, 0.3, 0.4, 0.9]);

Deno.test("xyxyToCxcy() and cxcyToXyxy() convert known boxes and invert each other", () => {
  const cxcy = xyxyToCxcy(XYXY);
  close(cxcy, [0.3, 0.4, 0.4, 0.4, 0.5, 0.5, 1, 1, 0.35, 0.6, 0.1, 0.6], 1e-7, "cxcy");
  close(cxcyToXyxy(cxcy), XYXY, 1e-7, "round trip");
});

Deno.test("encodeOffsets() gives 0 for a box equal to its prior and known values (variances 10 and 5)", () => {
  const priors = new Float32Array([0.5, 0.5, 0.2, 0.4, 0.5, 0.5, 0.2, 0.4]);
  const boxes = new Float32Array([0.5, 0.5, 0.2, 0.4, 0.52, 0.46, 0.4, 0.2]);
  // (0.02 / (0.2 / 10), −0.04 / (0.4 / 10), log 2 · 5, log 0.5 · 5)
  close(encodeOffsets(boxes, priors), [0, 0, 0, 0, 1, -1, 5 * Math.LN2, -5 * Math.LN2], 1e-5, "offsets");
});

Deno.test("decodeOffsets() inverts encodeOffsets() on all 8732 priors", () => {
  const priors = createPriorsCxcy();
  const boxes = priors.map((v, i) => (i % 4 < 2 ? v + 0.01 * Math.sin(i) : v * (1 + 0.3 * Math.cos(i))));
  const before = boxes.slice();
  const decoded = decodeOffsets(encodeOffsets(boxes, priors), priors);
  close(decoded, boxes, 1e-6, "decode(encode(b))");
  assert.deepEqual(boxes, before, "does not mutate its input");
});

Deno.test("iouMatrix() gives 1 on the diagonal, 0 for disjoint boxes and a known partial overlap", () => {
  const a = new Float32Array([0, 0, 2, 2, 10, 10, 11, 11]);
  const b = new Float32Array([0, 0, 2, 2, 1, 1, 3, 3]);
  // IoU([0,0,2,2], [1,1,3,3]) = 1 / (4 + 4 − 1)
  close(iouMatrix(a, b), [1, 1 / 7, 0, 0], 1e-7, "iou");
});
