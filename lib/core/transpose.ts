/**
 * Axis permutation of a dense 4-D array (weight layouts: our HWIO, PyTorch's and ONNX's OIHW). No Deno APIs.
 * @module
 */

/**
 * `src` of row-major `shape` with its axes permuted: output axis j is input axis `perm[j]` (as
 * `tf.transpose(x, perm)` or `numpy.transpose`).
 * @param src row-major values, `shape[0]·shape[1]·shape[2]·shape[3]` of them
 * @throws RangeError when `src` does not hold that many values
 */
export function transpose4d(
  src: ArrayLike<number>,
  shape: readonly number[],
  perm: readonly number[],
): Float32Array {
  const [, b, c, d] = shape;
  const size = shape.reduce((n, s) => n * s, 1);
  if (shape.length !== 4 || perm.length !== 4 || src.length !== size) {
    throw new RangeError(
      `transpose4d: ${src.length} values for [${shape.join(", ")}], axes [${perm.join(", ")}]`,
    );
  }
  const srcStride = [b * c * d, c * d, d, 1];
  const [s0, s1, s2, s3] = perm.map((p) => srcStride[p]);
  const [n0, n1, n2, n3] = perm.map((p) => shape[p]);
  const out = new Float32Array(size);
  let at = 0;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      for (let i2 = 0; i2 < n2; i2++) {
        const base = i0 * s0 + i1 * s1 + i2 * s2;
        for (let i3 = 0; i3 < n3; i3++) out[at++] = src[base + i3 * s3];
      }
    }
  }
  return out;
}
