/** Helpers shared by the torch reader/writer tests. */
import type { NamedTensor } from "../lib/torch/mod.ts";

/** float32 tensor from bit patterns, so that NaN payloads, -0, ±inf and subnormals are exercised. */
export function fromBits(shape: number[], bits: (i: number) => number): NamedTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) u[i] = bits(i) >>> 0;
  return { shape, data: new Float32Array(u.buffer) };
}

/** A deterministic pseudo-random bit pattern (LCG) that avoids nothing: any float32 incl. NaNs. */
export const lcg = (seed: number) => (i: number): number => Math.imul(i + seed, 1664525) + 1013904223;
