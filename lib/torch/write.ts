/**
 * Writer for zip-format `torch.save` files holding a state dict (`OrderedDict` name → float32 tensor), the
 * layout PyTorch ≥ 1.6 writes: `<archive>/data.pkl`, `<archive>/byteorder`, `<archive>/data/<key>`,
 * `<archive>/version`, all stored (uncompressed) with each record's data 64-byte aligned as PyTorch aligns it.
 */
import { type ZipOptions, zipSync } from "fflate";
import type { NamedTensor } from "./read.ts";

/** PyTorch's zip serialization format version written to `<archive>/version` (torch 1.6 … 2.x write "3"). */
const TORCH_ZIP_FORMAT_VERSION = "3\n";
/** PyTorch aligns every record's data to 64 bytes (caffe2 serialize kFieldAlignment). */
const RECORD_ALIGNMENT = 64;
/** Extra-field id PyTorch uses for its alignment padding ("FB"). */
const PADDING_EXTRA_ID = 0x4246;
/** Fixed timestamp so that equal inputs give byte-identical files (zip dates start in 1980). */
const ZIP_MTIME = new Date(1980, 0, 1, 0, 0, 0);

/** Minimal pickle protocol-2 emitter for the state-dict subset. */
class PickleWriter {
  private chunks: number[] = [];
  private memo = new Map<string, number>();
  private readonly utf8 = new TextEncoder();

  op(...bytes: number[]): this {
    for (const b of bytes) this.chunks.push(b);
    return this;
  }
  private u32(v: number): void {
    this.op(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  str(s: string): this {
    const b = this.utf8.encode(s);
    this.op(0x58); // BINUNICODE
    this.u32(b.length);
    for (const x of b) this.chunks.push(x);
    return this;
  }
  int(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`cannot pickle ${v} as a non-negative int`);
    if (v < 0x100) return this.op(0x4b, v); // BININT1
    if (v < 0x10000) return this.op(0x4d, v & 0xff, v >>> 8); // BININT2
    if (v < 0x80000000) {
      this.op(0x4a); // BININT (signed 32-bit)
      this.u32(v);
      return this;
    }
    // LONG1: little-endian two's complement, with a 0 sign byte when the top bit is set
    const bytes: number[] = [];
    for (let x = BigInt(v); x > 0n; x >>= 8n) bytes.push(Number(x & 0xffn));
    if (bytes[bytes.length - 1] & 0x80) bytes.push(0);
    return this.op(0x8a, bytes.length, ...bytes);
  }
  /** GLOBAL, memoized (BINPUT on first use, BINGET after). */
  global(module: string, name: string): this {
    const key = `${module}\n${name}\n`;
    const m = this.memo.get(key);
    if (m !== undefined) return this.op(0x68, m); // BINGET
    this.op(0x63); // GLOBAL
    for (const x of this.utf8.encode(key)) this.chunks.push(x);
    const idx = this.memo.size;
    if (idx > 0xff) throw new RangeError("memo overflow");
    this.memo.set(key, idx);
    return this.op(0x71, idx); // BINPUT
  }
  intTuple(values: number[]): this {
    if (values.length === 0) return this.op(0x29); // EMPTY_TUPLE
    this.op(0x28); // MARK
    for (const v of values) this.int(v);
    return this.op(0x74); // TUPLE
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

/** torch's contiguous strides (a zero-size dimension counts as 1 for the strides outside it). */
function contiguousStrides(shape: number[]): number[] {
  const strides = new Array<number>(shape.length);
  for (let d = shape.length - 1, s = 1; d >= 0; d--) {
    strides[d] = s;
    s *= Math.max(shape[d], 1);
  }
  return strides;
}

/**
 * Serialises tensors as a zip-format `torch.save(OrderedDict)` that `torch.load` reads (PyTorch ≥ 1.6; also
 * `weights_only=True`, which allows exactly these globals).
 *
 * @param tensors name → C-contiguous float32 tensor (shape [] for a 0-d scalar), written in iteration order
 * @param archiveName top-level directory inside the zip (PyTorch uses the file's stem; any name loads)
 * @returns the file bytes
 * @throws RangeError on a duplicate name, a bad shape, or data whose length differs from the shape's size
 */
export function writeTorchStateDict(
  tensors: Iterable<[string, NamedTensor]>,
  archiveName = "archive",
): Uint8Array {
  if (!/^[A-Za-z0-9_.-]+$/.test(archiveName)) {
    throw new RangeError(`bad archive name ${JSON.stringify(archiveName)}`);
  }
  const p = new PickleWriter();
  p.op(0x80, 2); // PROTO 2
  p.global("collections", "OrderedDict").op(0x29, 0x52); // OrderedDict() : EMPTY_TUPLE REDUCE
  p.op(0x28); // MARK for SETITEMS
  const records: [string, Uint8Array][] = [];
  const seen = new Set<string>();
  for (const [name, t] of tensors) {
    if (seen.has(name)) throw new RangeError(`duplicate tensor name ${name}`);
    seen.add(name);
    if (!t.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
      throw new RangeError(`tensor ${name}: bad shape [${t.shape}]`);
    }
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (!(t.data instanceof Float32Array) || t.data.length !== numel) {
      throw new RangeError(
        `tensor ${name}: shape [${t.shape}] needs ${numel} float32 values, got ${t.data?.length}`,
      );
    }
    const key = String(records.length);
    // the storage's bytes (host is little-endian); zipSync copies them into the archive
    records.push([key, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]);
    p.str(name);
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op(0x28); // MARK (args)
    p.op(0x28).str("storage").global("torch", "FloatStorage").str(key).str("cpu").int(numel).op(0x74); // pid
    p.op(0x51); // BINPERSID
    p.int(0).intTuple(t.shape).intTuple(contiguousStrides(t.shape));
    p.op(0x89); // NEWFALSE: requires_grad
    p.global("collections", "OrderedDict").op(0x29, 0x52); // backward_hooks = OrderedDict()
    p.op(0x74, 0x52); // TUPLE REDUCE
  }
  p.op(0x75, 0x2e); // SETITEMS STOP

  const enc = new TextEncoder();
  const entries: [string, Uint8Array][] = [
    [`${archiveName}/data.pkl`, p.bytes()],
    [`${archiveName}/byteorder`, enc.encode("little")],
    ...records.map(([k, b]): [string, Uint8Array] => [`${archiveName}/data/${k}`, b]),
    [`${archiveName}/version`, enc.encode(TORCH_ZIP_FORMAT_VERSION)],
  ];
  // fflate lays out local headers in order: 30 bytes + name + extra fields, then the data. Pad the extra
  // field so that every record's data starts on a 64-byte boundary.
  const input: Record<string, [Uint8Array, ZipOptions & { extra: Record<number, Uint8Array> }]> = {};
  let offset = 0;
  for (const [name, data] of entries) {
    const nameLen = enc.encode(name).length;
    const pad = (RECORD_ALIGNMENT - ((offset + 30 + nameLen + 4) % RECORD_ALIGNMENT)) % RECORD_ALIGNMENT;
    input[name] = [data, { level: 0, mtime: ZIP_MTIME, extra: { [PADDING_EXTRA_ID]: new Uint8Array(pad) } }];
    offset += 30 + nameLen + 4 + pad + data.length;
  }
  return zipSync(input);
}
