/**
 * Storage bytes → float32 tensors: the element types of torch storages, the storage and tensor references that
 * unpickling produces, and the conversion of a strided view (float32/float64/float16/bfloat16) into a
 * C-contiguous float32 array.
 */
import { TorchFormatError } from "./pickle.ts";

/** A tensor as row-major (C-contiguous) float32 values. `shape` [] is a 0-d scalar (data has 1 element). */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** A tensor that was not read: its name's shape and element type (e.g. an int64 BatchNorm counter). */
export interface TensorInfo {
  shape: number[];
  /** element type, e.g. `int64` */
  dtype: string;
  /** the storage class as pickled, e.g. `torch.LongStorage` */
  storageType: string;
}

/** Element types of torch storages. Only the float ones can become a {@link NamedTensor}. */
export type Dtype =
  | "float32"
  | "float64"
  | "float16"
  | "bfloat16"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool"
  | "complex64"
  | "complex128"
  | "qint8"
  | "quint8"
  | "qint32";

export const DTYPE_BYTES: Record<Dtype, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
  complex64: 8,
  complex128: 16,
  qint8: 1,
  quint8: 1,
  qint32: 4,
};

/** A storage named by a persistent id; `offset` (elements) is non-zero only for legacy views. */
export interface StorageRef {
  kind: "storage";
  dtype: Dtype;
  typeName: string;
  key: string;
  numel: number;
  offset: number;
}

/** What `_rebuild_tensor_v2` describes: a strided view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

export function checkHostLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new TorchFormatError("this reader assumes a little-endian host");
  }
}

let halfTable: Uint32Array | undefined;
/** float16 bit pattern → float32 bit pattern, for all 65536 patterns (exact: every half is representable). */
function halfToFloatBits(): Uint32Array {
  if (halfTable) return halfTable;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 0x1f) {
      // inf, or NaN made quiet (bit 22 set) as torch's x86 conversion (F16C) does
      bits[h] = sign | 0x7f800000 | (mant === 0 ? 0 : 0x400000 | (mant << 13));
    } else if (exp !== 0) {
      bits[h] = sign | ((exp + 112) << 23) | (mant << 13); // normal: rebias 15 → 127
    } else if (mant === 0) {
      bits[h] = sign; // ±0
    } else {
      // subnormal half → normal float: shift the mantissa up until the implicit bit appears
      let e = 113;
      while ((mant & 0x400) === 0) {
        mant <<= 1;
        e--;
      }
      bits[h] = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
  }
  halfTable = bits;
  return bits;
}

/** Aligned typed view of a storage's bytes (copying only when the bytes are misaligned). */
function alignedView<T>(
  bytes: Uint8Array,
  elem: number,
  ctor: new (b: ArrayBuffer, o: number, n: number) => T,
): T {
  const b = bytes.byteOffset % elem === 0 ? bytes : bytes.slice();
  return new ctor(b.buffer as ArrayBuffer, b.byteOffset, Math.floor(b.byteLength / elem));
}

/**
 * Copies a strided view (element offsets into some source) into the C-contiguous `out`, via `read`.
 * Odometer over all but the last dimension; the innermost loop walks the last dimension.
 */
function gather(
  out: Float32Array | Uint32Array,
  shape: number[],
  stride: number[],
  offset: number,
  read: (i: number) => number,
): void {
  const numel = out.length;
  if (shape.length === 0) {
    out[0] = read(offset);
    return;
  }
  const nd = shape.length;
  const last = shape[nd - 1];
  const lastStride = stride[nd - 1];
  const idx = new Array<number>(nd).fill(0);
  let base = offset;
  let o = 0;
  while (o < numel) {
    for (let j = 0, s = base; j < last; j++, s += lastStride) out[o++] = read(s);
    // advance the odometer over dims nd-2 … 0
    let d = nd - 2;
    for (; d >= 0; d--) {
      idx[d]++;
      base += stride[d];
      if (idx[d] < shape[d]) break;
      base -= stride[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) break;
  }
}

export const isFloat = (dtype: Dtype): boolean =>
  dtype === "float32" || dtype === "float64" || dtype === "float16" || dtype === "bfloat16";

/** Turns a TensorRef into float32 data given the bytes of its (root) storage. */
export function materialize(name: string, t: TensorRef, storageBytes: Uint8Array): NamedTensor {
  const { storage, shape, stride } = t;
  const dtype = storage.dtype;
  const elem = DTYPE_BYTES[dtype];
  if (!isFloat(dtype)) {
    throw new TorchFormatError(
      `tensor ${name} is stored as ${storage.typeName} (${dtype}); only float32/float64/float16/bfloat16 ` +
        `tensors can be read as float32 weights`,
    );
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  const offset = storage.offset + t.offset; // elements from the start of the root storage
  if (numel === 0) return { shape: [...shape], data: new Float32Array(0) };
  let maxIndex = t.offset;
  for (let d = 0; d < shape.length; d++) maxIndex += (shape[d] - 1) * stride[d];
  if (maxIndex >= storage.numel) {
    throw new TorchFormatError(
      `tensor ${name} [${shape}] (offset ${t.offset}, stride [${stride}]) reaches element ${maxIndex} ` +
        `of a storage with ${storage.numel} elements`,
    );
  }
  const needBytes = (storage.offset + storage.numel) * elem;
  if (storageBytes.byteLength < needBytes) {
    throw new TorchFormatError(
      `storage ${storage.key} of tensor ${name} has ${storageBytes.byteLength} bytes, expected ${needBytes}`,
    );
  }
  // C-contiguous when every dimension of size > 1 has the row-major stride.
  let contiguous = true;
  for (let d = shape.length - 1, expect = 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= shape[d];
  }
  // Conversions work on bit patterns (Uint32Array views of the output) so that NaN payloads survive exactly as
  // torch's own conversions keep them; only float64 → float32 rounds through JS numbers.
  let data: Float32Array;
  if (dtype === "float32" && contiguous) {
    data = new Float32Array(storageBytes.slice(offset * 4, (offset + numel) * 4).buffer); // one copy
  } else if (dtype === "float64") {
    const src = alignedView(storageBytes, 8, Float64Array);
    if (contiguous) data = Float32Array.from(src.subarray(offset, offset + numel));
    else gather(data = new Float32Array(numel), shape, stride, offset, (i) => src[i]);
  } else {
    data = new Float32Array(numel);
    const bits = new Uint32Array(data.buffer);
    if (dtype === "float32") {
      const src = alignedView(storageBytes, 4, Uint32Array);
      gather(bits, shape, stride, offset, (i) => src[i]);
    } else if (dtype === "float16") {
      const src = alignedView(storageBytes, 2, Uint16Array);
      const table = halfToFloatBits();
      gather(bits, shape, stride, offset, (i) => table[src[i]]);
    } else {
      // bfloat16: the upper 16 bits of a float32
      const src = alignedView(storageBytes, 2, Uint16Array);
      gather(bits, shape, stride, offset, (i) => src[i] << 16);
    }
  }
  return { shape: [...shape], data };
}
