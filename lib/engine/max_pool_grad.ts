/**
 * The gradient of a max pooling (NHWC, float32) from its input, its output and dL/dY: each output's gradient
 * goes to the first position of its window (row by row) that holds the window's maximum, as PyTorch's max_pool2d
 * backward routes it; overlapping windows add up. Padding is excluded from the max.
 *
 * Why by hand: the pass is memory-bound and needs no arg-max workspace (the saved output says where the maximum
 * is); oneDNN's pooling backward needs one, so it first runs the forward again (measured on SSD300's five pools,
 * one thread, AVX2: 38 ms forward for the workspace + 30 ms backward per image; these loops 42 ms in all).
 * @module
 */
import type { WindowGeometry } from "./onednn_primitives.ts";

/** One max pooling's shape (c channels in and out); padding excluded from the max. */
export interface PoolGeometry extends WindowGeometry {
  c: number;
}

/**
 * dL/dX of a max pooling into `dx` (overwritten).
 * @param x input [n, h, w, c]; `y` output [n, outH, outW, c]; `dy` dL/dY like `y`; `dx` like `x`
 * @throws RangeError when an array's length does not match the geometry
 */
export function maxPoolBackward(
  p: PoolGeometry,
  x: Float32Array,
  y: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
): void {
  const { n, h, w, c, outH, outW } = p;
  const inSize = n * h * w * c, outSize = n * outH * outW * c;
  for (
    const [name, a, len] of [["x", x, inSize], ["y", y, outSize], ["dy", dy, outSize], [
      "dx",
      dx,
      inSize,
    ]] as const
  ) {
    if (a.length !== len) {
      throw new RangeError(`maxPoolBackward: ${name} has ${a.length} values, expected ${len}`);
    }
  }
  const m: PoolArrays = { x, y, dy, dx };
  if (p.kh === 2 && p.kw === 2 && p.strideH === 2 && p.strideW === 2 && p.padTop === 0 && p.padLeft === 0) {
    pool2x2Backward(p, m);
    return;
  }
  dx.fill(0);
  const found = new Uint8Array(c);
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * p.strideH - p.padTop;
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * p.strideW - p.padLeft;
        windowBackward(p, m, found, ((b * outH + oh) * outW + ow) * c, b, h0, w0);
      }
    }
  }
}

/** The four maps of one pooling's backward. */
interface PoolArrays {
  x: Float32Array;
  y: Float32Array;
  dy: Float32Array;
  dx: Float32Array;
}

/**
 * One window of the general loop: the output at offset `o` of image `b`, its window from row h0 and column w0
 * (negative inside the padding), the rows and columns inside the map only; adds to `dx`.
 */
function windowBackward(
  p: PoolGeometry,
  { x, y, dy, dx }: PoolArrays,
  found: Uint8Array,
  o: number,
  b: number,
  h0: number,
  w0: number,
): void {
  const c = p.c;
  const i0 = Math.max(0, -h0), i1 = Math.min(p.kh, p.h - h0);
  const j0 = Math.max(0, -w0), j1 = Math.min(p.kw, p.w - w0);
  found.fill(0);
  for (let i = i0; i < i1; i++) {
    for (let j = j0; j < j1; j++) {
      const at = ((b * p.h + h0 + i) * p.w + w0 + j) * c;
      for (let k = 0; k < c; k++) {
        if (found[k] === 0 && x[at + k] === y[o + k]) {
          dx[at + k] += dy[o + k];
          found[k] = 1;
        }
      }
    }
  }
}

/**
 * 2×2 windows at stride 2 (they do not overlap): every input position is written once, the window's first
 * maximum getting dy and the others 0; input rows or columns past the last window (floor rounding) get 0, and a
 * window cut by the bottom or right border (ceil rounding) takes the general loop.
 */
function pool2x2Backward(p: PoolGeometry, m: PoolArrays): void {
  const { x, y, dy, dx } = m;
  const { n, h, w, c, outH, outW } = p;
  const fullH = Math.min(outH, h >> 1), fullW = Math.min(outW, w >> 1);
  const rowPitch = w * c;
  const found = new Uint8Array(c);
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const o = ((b * outH + oh) * outW + ow) * c;
        const a = ((b * h + 2 * oh) * w + 2 * ow) * c;
        if (oh >= fullH || ow >= fullW) {
          // a window cut by the border: clear what it covers, then the general loop
          for (let i = 0; i < 2 && 2 * oh + i < h; i++) {
            for (let j = 0; j < 2 && 2 * ow + j < w; j++) {
              dx.fill(0, a + i * rowPitch + j * c, a + i * rowPitch + (j + 1) * c);
            }
          }
          windowBackward(p, m, found, o, b, 2 * oh, 2 * ow);
          continue;
        }
        const a01 = a + c, a10 = a + rowPitch, a11 = a10 + c;
        for (let k = 0; k < c; k++) {
          const m = y[o + k], g = dy[o + k];
          let g00 = 0, g01 = 0, g10 = 0, g11 = 0;
          if (x[a + k] === m) g00 = g;
          else if (x[a01 + k] === m) g01 = g;
          else if (x[a10 + k] === m) g10 = g;
          else if (x[a11 + k] === m) g11 = g;
          dx[a + k] = g00;
          dx[a01 + k] = g01;
          dx[a10 + k] = g10;
          dx[a11 + k] = g11;
        }
      }
    }
    // rows and columns no window reaches (floor rounding of an odd size)
    for (let r = 2 * outH; r < h; r++) dx.fill(0, (b * h + r) * rowPitch, (b * h + r + 1) * rowPitch);
    if (2 * outW < w) {
      for (let r = 0; r < Math.min(h, 2 * outH); r++) {
        dx.fill(0, (b * h + r) * rowPitch + 2 * outW * c, (b * h + r + 1) * rowPitch);
      }
    }
  }
}
