import assert from "node:assert/strict";
import { maxPoolBackward } from "../../lib/engine/max_pool_grad.ts";
import type { PoolGeometry } from "../../lib/engine/max_pool_grad.ts";
import { mulberry32 } from "../../lib/core/mod.ts";

/** A max pooling's geometry over [n, h, w, c] (PyTorch's output size: floor, or ceil with `ceil`). */
function geometry(
  [n, h, w, c]: number[],
  k: number,
  s: number,
  pad: number,
  ceil = false,
): PoolGeometry {
  const out = (side: number) => {
    const v = (side + 2 * pad - k) / s + 1;
    return ceil ? Math.ceil(v) : Math.floor(v);
  };
  const outH = out(h), outW = out(w);
  return {
    n,
    h,
    w,
    c,
    kh: k,
    kw: k,
    strideH: s,
    strideW: s,
    padTop: pad,
    padLeft: pad,
    padBottom: Math.max(0, (outH - 1) * s + k - h - pad),
    padRight: Math.max(0, (outW - 1) * s + k - w - pad),
    outH,
    outW,
  };
}

/** The pooling's output and the reference gradient: each window's first maximum (row by row) gets dy. */
function reference(
  p: PoolGeometry,
  x: Float32Array,
  dy: Float32Array,
): { y: Float32Array; dx: Float32Array } {
  const y = new Float32Array(p.n * p.outH * p.outW * p.c), dx = new Float32Array(x.length);
  for (let b = 0; b < p.n; b++) {
    for (let oh = 0; oh < p.outH; oh++) {
      for (let ow = 0; ow < p.outW; ow++) {
        for (let k = 0; k < p.c; k++) {
          let best = -Infinity, at = -1;
          for (let i = 0; i < p.kh; i++) {
            for (let j = 0; j < p.kw; j++) {
              const r = oh * p.strideH - p.padTop + i, q = ow * p.strideW - p.padLeft + j;
              if (r < 0 || r >= p.h || q < 0 || q >= p.w) continue;
              const idx = ((b * p.h + r) * p.w + q) * p.c + k;
              if (x[idx] > best) (best = x[idx], at = idx);
            }
          }
          const o = ((b * p.outH + oh) * p.outW + ow) * p.c + k;
          y[o] = best;
          dx[at] += dy[o];
        }
      }
    }
  }
  return { y, dx };
}

const CASES = [
  { name: "2x2/2, even sides (pool1)", p: geometry([2, 8, 10, 16], 2, 2, 0) },
  {
    name: "2x2/2, odd sides, floor (a row and a column no window reaches)",
    p: geometry([1, 9, 7, 8], 2, 2, 0),
  },
  {
    name: "2x2/2, odd sides, ceil (pool3: windows cut by the border)",
    p: geometry([2, 15, 13, 8], 2, 2, 0, true),
  },
  { name: "3x3/1, padding 1 (pool5: overlapping windows)", p: geometry([2, 7, 6, 24], 3, 1, 1) },
];

for (const { name, p } of CASES) {
  Deno.test(`maxPoolBackward() routes each window's gradient to its first maximum: ${name}`, () => {
    const rand = mulberry32(p.h * 31 + p.c);
    // post-ReLU-like maps: a third zeros, the rest few distinct values, so windows have ties
    const x = Float32Array.from(
      { length: p.n * p.h * p.w * p.c },
      () => rand() < 0.33 ? 0 : Math.ceil(rand() * 4),
    );
    const dy = Float32Array.from({ length: p.n * p.outH * p.outW * p.c }, () => rand() - 0.5);
    const want = reference(p, x, dy);
    const dx = new Float32Array(x.length).fill(Number.NaN); // overwritten everywhere
    maxPoolBackward(p, x, want.y, dy, dx);
    assert.deepEqual(dx, want.dx);
  });
}

Deno.test("maxPoolBackward() refuses arrays that do not match the geometry, naming them", () => {
  const p = geometry([1, 4, 4, 2], 2, 2, 0);
  const x = new Float32Array(32), y = new Float32Array(8);
  assert.throws(
    () => maxPoolBackward(p, x, y, new Float32Array(7), new Float32Array(32)),
    /dy has 7 values, expected 8/,
  );
});
