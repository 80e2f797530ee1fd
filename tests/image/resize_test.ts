import assert from "node:assert/strict";
import { resizeBilinearPil, type RgbImage } from "../../lib/image/mod.ts";

function rowImage(values: number[]): RgbImage {
  const data = new Uint8Array(values.length * 3);
  values.forEach((v, i) => data.fill(v, i * 3, i * 3 + 3));
  return { width: values.length, height: 1, data };
}
function redChannel(img: RgbImage): number[] {
  return Array.from({ length: img.width * img.height }, (_, i) => img.data[i * 3]);
}

// Expected values derived by hand from Pillow's precompute_coeffs (triangle filter, support scaled by max(1, in/out)).
const RESIZE_CASES: { name: string; input: number[]; outWidth: number; expected: number[] }[] = [
  // 2 → 4: weights per output [1], [.75,.25], [.25,.75], [1]
  {
    name: "upscales 2→4 with Pillow's pixel-centre weights",
    input: [0, 100],
    outWidth: 4,
    expected: [0, 25, 75, 100],
  },
  // 25.25 → 25, 75.75 → 76: rounding half up in fixed point
  { name: "rounds in fixed point", input: [0, 101], outWidth: 4, expected: [0, 25, 76, 101] },
  // 4 → 2: support 2 (antialiased): weights [3/7,3/7,1/7] and [1/7,3/7,3/7]; a plain bilinear would give [35, 175]
  {
    name: "downscales 4→2 with an antialiasing filter",
    input: [0, 70, 140, 210],
    outWidth: 2,
    expected: [50, 160],
  },
  {
    name: "keeps the image when the size does not change",
    input: [3, 200, 7],
    outWidth: 3,
    expected: [3, 200, 7],
  },
];
for (const c of RESIZE_CASES) {
  Deno.test(`resizeBilinearPil() ${c.name}`, () => {
    const out = resizeBilinearPil(rowImage(c.input), c.outWidth, 1);
    assert.deepEqual([out.width, out.height], [c.outWidth, 1]);
    assert.deepEqual(redChannel(out), c.expected);
  });
}

Deno.test("resizeBilinearPil() resizes rows and columns the same way (vertical pass)", () => {
  const col: RgbImage = { width: 1, height: 4, data: rowImage([0, 70, 140, 210]).data };
  assert.deepEqual(redChannel(resizeBilinearPil(col, 1, 2)), [50, 160]);
});
