/**
 * The weights of a TF.js model as tfjs-converter writes them (python/tensorflowjs/write_weights.py and
 * quantization.py): every constant's bytes concatenated in manifest order, cut into
 * `group1-shard{i}of{n}.bin` files of at most 4 MiB (the largest file browsers cache), and a
 * `weightsManifest` listing name, shape, dtype and, for quantised weights, the converter's `quantization`
 * record:
 *
 * - `float16`: `{ dtype: "float16", original_dtype: "float32" }`, values rounded to the nearest half float;
 * - `uint8`: `{ dtype: "uint8", min, scale, original_dtype: "float32" }`, affine per tensor over [min, max]
 *   with the range nudged so that 0 is exactly representable (TF-Lite's `NudgeQuantizationRange`); TF.js
 *   dequantises as `q · scale + min`.
 *
 * Only float32 constants marked quantizable (the learned parameters) are quantised, as the converter does
 * with a weight-name pattern; priors and shape/axis constants stay exact.
 * @module
 */
import { z } from "zod";
import type { ConstTensor } from "./graphdef.ts";

/** `--quantize` choices. */
export const QUANTIZATIONS = ["none", "float16", "uint8"] as const;
export type Quantization = typeof QUANTIZATIONS[number];

/** Shard size of tfjs-converter (`shard_size_bytes=1024 * 1024 * 4`). */
export const SHARD_BYTES = 4 * 1024 * 1024;

/** One entry of `weightsManifest[].weights` (tfjs-core src/io/types.ts `WeightsManifestEntry`). */
export const WeightsManifestEntrySchema = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.enum(["float32", "int32"]),
  quantization: z.union([
    z.object({ dtype: z.literal("float16"), original_dtype: z.literal("float32") }),
    z.object({
      dtype: z.literal("uint8"),
      min: z.number(),
      scale: z.number().positive(),
      original_dtype: z.literal("float32"),
    }),
  ]).optional(),
});
export type WeightsManifestEntry = z.infer<typeof WeightsManifestEntrySchema>;

/** One group of `weightsManifest` (tfjs-core `WeightsManifestGroupConfig`). */
export const WeightsManifestGroupSchema = z.object({
  paths: z.array(z.string().regex(/^group\d+-shard\d+of\d+\.bin$/)).min(1),
  weights: z.array(WeightsManifestEntrySchema),
});
export type WeightsManifestGroup = z.infer<typeof WeightsManifestGroupSchema>;

/** Round half to even, as `np.round`. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * `quantize_weights(data, np.uint8)` of quantization.py: min/max in float64; a constant tensor becomes zeros
 * with scale 1; otherwise scale = (max − min) / 255, the range nudged so that 0 maps to an integer when min ≤
 * 0 ≤ max, q = round((clip(x, min, max) − min) / scale).
 */
export function quantizeUint8(data: Float32Array): { values: Uint8Array; min: number; scale: number } {
  let lo = Infinity, hi = -Infinity;
  for (const v of data) {
    if (!Number.isFinite(v)) throw new RangeError(`cannot quantise a non-finite value (${v})`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const values = new Uint8Array(data.length);
  if (data.length === 0) return { values, min: 0, scale: 1 };
  if (lo === hi) return { values, min: lo, scale: 1 };
  const qMax = 255;
  const scale = (hi - lo) / qMax;
  let min = lo, max = hi;
  if (lo <= 0 && 0 <= hi) {
    const zeroPoint = roundHalfEven((0 - lo) / scale);
    min = -zeroPoint * scale;
    max = qMax * scale + min;
  }
  for (let i = 0; i < data.length; i++) {
    const clipped = Math.min(max, Math.max(min, data[i]));
    values[i] = Math.min(qMax, Math.max(0, roundHalfEven((clipped - min) / scale)));
  }
  return { values, min, scale };
}

/** float32 → IEEE half (round to nearest even, as `ndarray.astype(np.float16)`), as little-endian bytes. */
export function quantizeFloat16(data: Float32Array): Uint8Array {
  const half = Float16Array.from(data);
  return new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
}

/** The encoded bytes and manifest entry of one constant. */
function encode(c: ConstTensor, quantize: Quantization): { bytes: Uint8Array; entry: WeightsManifestEntry } {
  const base = { name: c.name, shape: c.shape, dtype: c.dtype };
  const raw = new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength);
  if (quantize === "none" || !c.quantizable || c.dtype !== "float32") return { bytes: raw, entry: base };
  const data = c.data as Float32Array;
  if (quantize === "float16") {
    return {
      bytes: quantizeFloat16(data),
      entry: { ...base, quantization: { dtype: "float16", original_dtype: "float32" } },
    };
  }
  const q = quantizeUint8(data);
  return {
    bytes: q.values,
    entry: {
      ...base,
      quantization: { dtype: "uint8", min: q.min, scale: q.scale, original_dtype: "float32" },
    },
  };
}

/** A weights group ready to be written: its manifest entry and its shard files. */
export interface PackedWeights {
  manifest: WeightsManifestGroup[];
  shards: { name: string; bytes: Uint8Array }[];
}

/**
 * Encodes the constants (in order) and cuts their concatenated bytes into shards of `shardBytes` (the last
 * one smaller), named `group1-shard{i}of{n}.bin` as write_weights.py names them. A tensor may span shards.
 */
export function packWeights(
  constants: readonly ConstTensor[],
  quantize: Quantization,
  shardBytes = SHARD_BYTES,
): PackedWeights {
  if (!(Number.isInteger(shardBytes) && shardBytes > 0)) throw new RangeError(`shard size ${shardBytes}`);
  const encoded = constants.map((c) => encode(c, quantize));
  const total = encoded.reduce((s, e) => s + e.bytes.byteLength, 0);
  const all = new Uint8Array(total);
  let offset = 0;
  for (const e of encoded) {
    all.set(e.bytes, offset);
    offset += e.bytes.byteLength;
  }
  const n = Math.max(1, Math.ceil(total / shardBytes));
  const shards = Array.from({ length: n }, (_, i) => ({
    name: `group1-shard${i + 1}of${n}.bin`,
    bytes: all.subarray(i * shardBytes, Math.min(total, (i + 1) * shardBytes)),
  }));
  return { manifest: [{ paths: shards.map((s) => s.name), weights: encoded.map((e) => e.entry) }], shards };
}
