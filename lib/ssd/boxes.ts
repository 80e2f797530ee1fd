/**
 * Box coordinate utilities of the reference (`xy_to_cxcy`, `cxcy_to_xy`, `cxcy_to_gcxgcy`, `gcxgcy_to_cxcy`,
 * `find_jaccard_overlap`), on plain Float32Arrays (float32 arithmetic rounded after every operation, as torch
 * does). No TF.js here: the loss matches priors on the CPU and the network's outputs need no box maths.
 *
 * Coordinate systems: `xyxy` = (x_min, y_min, x_max, y_max), `cxcy` = (cx, cy, w, h), both fractional ([0, 1] of
 * the image side) unless a name says pixels; `offsets` = the regression targets (g_cx, g_cy, g_w, g_h) relative
 * to a prior, scaled by the variances below.
 * @module
 */

/** Centre offsets are divided by prior size / 10 (the reference's `priors_cxcy[:, 2:] / 10`, variance 0.1). */
export const CENTER_VARIANCE_DIVISOR = 10;
/** Log size ratios are multiplied by 5 (the reference's `torch.log(...) * 5`, variance 0.2). */
export const SIZE_VARIANCE_FACTOR = 5;

const f = Math.fround;

function checkBoxes(name: string, a: Float32Array): number {
  if (a.length % 4 !== 0) throw new RangeError(`${name}: length ${a.length} is not a multiple of 4`);
  return a.length / 4;
}

/**
 * (x_min, y_min, x_max, y_max) → (cx, cy, w, h).
 * @param xyxy Float32Array [n * 4]
 * @returns new Float32Array [n * 4]
 */
export function xyxyToCxcy(xyxy: Float32Array): Float32Array {
  const n = checkBoxes("xyxyToCxcy", xyxy);
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n * 4; i += 4) {
    const [x0, y0, x1, y1] = [xyxy[i], xyxy[i + 1], xyxy[i + 2], xyxy[i + 3]];
    out[i] = f(x1 + x0) / 2;
    out[i + 1] = f(y1 + y0) / 2;
    out[i + 2] = x1 - x0;
    out[i + 3] = y1 - y0;
  }
  return out;
}

/**
 * (cx, cy, w, h) → (x_min, y_min, x_max, y_max).
 * @param cxcy Float32Array [n * 4]
 * @returns new Float32Array [n * 4]
 */
export function cxcyToXyxy(cxcy: Float32Array): Float32Array {
  const n = checkBoxes("cxcyToXyxy", cxcy);
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n * 4; i += 4) {
    const hw = f(cxcy[i + 2] / 2);
    const hh = f(cxcy[i + 3] / 2);
    out[i] = cxcy[i] - hw;
    out[i + 1] = cxcy[i + 1] - hh;
    out[i + 2] = cxcy[i] + hw;
    out[i + 3] = cxcy[i + 1] + hh;
  }
  return out;
}

/** Checks `values` [n * 4] hold one box (or offset) per prior of `priorsCxcy` [n * 4]; returns n. */
function checkOnePerPrior(fn: string, what: string, values: Float32Array, priorsCxcy: Float32Array): number {
  const n = checkBoxes(fn, values);
  if (priorsCxcy.length !== values.length) {
    throw new RangeError(`${fn}: ${n} ${what} but ${priorsCxcy.length / 4} priors`);
  }
  return n;
}

/**
 * Encodes boxes as offsets against priors (`cxcy_to_gcxgcy`):
 * g_cx = (cx − p_cx) / (p_w / 10), g_cy likewise, g_w = log(w / p_w) · 5, g_h likewise.
 * @param cxcy Float32Array [n * 4] boxes (cx, cy, w, h), one per prior
 * @param priorsCxcy Float32Array [n * 4]
 * @returns new Float32Array [n * 4] offsets
 */
export function encodeOffsets(cxcy: Float32Array, priorsCxcy: Float32Array): Float32Array {
  const n = checkOnePerPrior("encodeOffsets", "boxes", cxcy, priorsCxcy);
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n * 4; i += 4) {
    const pw = priorsCxcy[i + 2], ph = priorsCxcy[i + 3];
    out[i] = f(cxcy[i] - priorsCxcy[i]) / f(pw / CENTER_VARIANCE_DIVISOR);
    out[i + 1] = f(cxcy[i + 1] - priorsCxcy[i + 1]) / f(ph / CENTER_VARIANCE_DIVISOR);
    out[i + 2] = f(Math.log(f(cxcy[i + 2] / pw))) * SIZE_VARIANCE_FACTOR;
    out[i + 3] = f(Math.log(f(cxcy[i + 3] / ph))) * SIZE_VARIANCE_FACTOR;
  }
  return out;
}

/**
 * Decodes predicted offsets against priors into boxes (`gcxgcy_to_cxcy`):
 * cx = g_cx · p_w / 10 + p_cx, w = exp(g_w / 5) · p_w.
 * @param offsets Float32Array [n * 4]
 * @param priorsCxcy Float32Array [n * 4]
 * @returns new Float32Array [n * 4] boxes (cx, cy, w, h), fractional
 */
export function decodeOffsets(offsets: Float32Array, priorsCxcy: Float32Array): Float32Array {
  const n = checkOnePerPrior("decodeOffsets", "offsets", offsets, priorsCxcy);
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n * 4; i += 4) {
    const pw = priorsCxcy[i + 2], ph = priorsCxcy[i + 3];
    out[i] = f(f(offsets[i] * pw) / CENTER_VARIANCE_DIVISOR) + priorsCxcy[i];
    out[i + 1] = f(f(offsets[i + 1] * ph) / CENTER_VARIANCE_DIVISOR) + priorsCxcy[i + 1];
    out[i + 2] = f(Math.exp(f(offsets[i + 2] / SIZE_VARIANCE_FACTOR))) * pw;
    out[i + 3] = f(Math.exp(f(offsets[i + 3] / SIZE_VARIANCE_FACTOR))) * ph;
  }
  return out;
}

/**
 * Jaccard overlap (IoU) of every box of `a` with every box of `b` (`find_jaccard_overlap`), float32 arithmetic.
 * @param a Float32Array [na * 4] xyxy
 * @param b Float32Array [nb * 4] xyxy
 * @returns Float32Array [na * nb], row-major: iou[i * nb + j] = IoU(a_i, b_j)
 */
export function iouMatrix(a: Float32Array, b: Float32Array): Float32Array {
  const na = checkBoxes("iouMatrix a", a);
  const nb = checkBoxes("iouMatrix b", b);
  const out = new Float32Array(na * nb);
  const areaB = new Float32Array(nb);
  for (let j = 0; j < nb; j++) areaB[j] = f(b[j * 4 + 2] - b[j * 4]) * f(b[j * 4 + 3] - b[j * 4 + 1]);
  for (let i = 0; i < na; i++) {
    const ax0 = a[i * 4], ay0 = a[i * 4 + 1], ax1 = a[i * 4 + 2], ay1 = a[i * 4 + 3];
    const areaA = f(f(ax1 - ax0) * f(ay1 - ay0));
    for (let j = 0; j < nb; j++) {
      const iw = Math.max(0, f(Math.min(ax1, b[j * 4 + 2]) - Math.max(ax0, b[j * 4])));
      const ih = Math.max(0, f(Math.min(ay1, b[j * 4 + 3]) - Math.max(ay0, b[j * 4 + 1])));
      const inter = f(iw * ih);
      const union = f(f(areaA + areaB[j]) - inter);
      out[i * nb + j] = inter / union;
    }
  }
  return out;
}
