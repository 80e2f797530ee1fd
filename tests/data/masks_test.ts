import assert from "node:assert/strict";
import { boxesFromMask, type MaskInstance } from "../../lib/data/mod.ts";

const MASK_CASES: { name: string; width: number; rows: number[][]; expected: MaskInstance[] }[] = [
  {
    name: "a single pixel",
    width: 3,
    rows: [[0, 0, 0], [0, 1, 0]],
    expected: [{ id: 1, box: [1, 1, 1, 1], area: 1 }],
  },
  {
    name: "two instances with inclusive extremes, ids ascending",
    width: 4,
    rows: [[2, 2, 0, 0], [0, 2, 0, 1], [0, 0, 0, 1]],
    expected: [{ id: 1, box: [3, 1, 3, 2], area: 2 }, { id: 2, box: [0, 0, 1, 1], area: 3 }],
  },
  {
    name: "non-contiguous ids and a non-convex instance",
    width: 3,
    rows: [[7, 0, 7], [0, 0, 0], [0, 7, 0]],
    expected: [{ id: 7, box: [0, 0, 2, 2], area: 3 }],
  },
  { name: "no instance", width: 2, rows: [[0, 0], [0, 0]], expected: [] },
];
for (const c of MASK_CASES) {
  Deno.test(`boxesFromMask() handles ${c.name}`, () => {
    const mask = { width: c.width, height: c.rows.length, data: Uint8Array.from(c.rows.flat()) };
    assert.deepEqual(boxesFromMask(mask), c.expected);
  });
}
