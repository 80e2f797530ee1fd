/**
 * Reader for `torch.save` checkpoints: the zip format (PyTorch ≥ 1.6, see zip.ts) and the legacy
 * (pre-1.6) stream format. Tensors come back as C-contiguous float32 arrays keyed by dotted names.
 */
import {
  describeValue,
  PyGlobal,
  PyObject,
  TorchFormatError,
  unpickle,
  type UnpicklerHooks,
} from "./pickle.ts";
import { GlobalPolicy, UntrustedCheckpointError } from "./allowlist.ts";
import { readZipEntries } from "./zip.ts";

export { TorchFormatError } from "./pickle.ts";
export { UntrustedCheckpointError } from "./allowlist.ts";

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

/** Options of {@link readTorchCheckpoint}. */
export interface ReadTorchOptions {
  /**
   * Read a checkpoint whose pickle calls (or names) globals outside lib/torch/allowlist.ts anyway: their values
   * are dropped and only the tensors (and plain metadata) are kept. Nothing in the file runs either way.
   */
  trustCheckpoint?: boolean;
  /**
   * What to do with tensors that are not float (int64, bool, quantized storages, …): `"error"` (default) throws
   * naming the first; `"list"` skips them and lists them in {@link TorchCheckpoint.nonFloat}, so that a caller can
   * first say which model the file holds.
   */
  nonFloat?: "error" | "list";
}

/** Result of {@link readTorchCheckpoint}. */
export interface TorchCheckpoint {
  /** Every float tensor by dotted name (state_dict order), as float32, C-contiguous. */
  tensors: Map<string, NamedTensor>;
  /** With `nonFloat: "list"`: the tensors that were not read, by dotted name; otherwise empty. */
  nonFloat: Map<string, TensorInfo>;
  /** Other top-level plain entries of the saved dict (e.g. `epoch`), JSON-like. */
  meta: Record<string, unknown>;
  format: "zip" | "legacy";
}

/** Element types of torch storages. Only the float ones can become a {@link NamedTensor}. */
type Dtype =
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

const DTYPE_BYTES: Record<Dtype, number> = {
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

/** `torch.<Name>Storage` classes → element type. */
const STORAGE_CLASSES: Record<string, Dtype> = {
  FloatStorage: "float32",
  DoubleStorage: "float64",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
  ComplexFloatStorage: "complex64",
  ComplexDoubleStorage: "complex128",
  QInt8Storage: "qint8",
  QUInt8Storage: "quint8",
  QInt32Storage: "qint32",
  UntypedStorage: "uint8",
};

/** `torch.<dtype>` globals (the TypedStorage-era form, where a dtype may stand in for a storage class). */
const TORCH_DTYPES: Record<string, Dtype> = {
  float32: "float32",
  float: "float32",
  float64: "float64",
  double: "float64",
  float16: "float16",
  half: "float16",
  bfloat16: "bfloat16",
  int64: "int64",
  long: "int64",
  int32: "int32",
  int: "int32",
  int16: "int16",
  int8: "int8",
  uint8: "uint8",
  bool: "bool",
};

/**
 * Modules whose unknown functions would build tensors (`torch._utils._rebuild_qtensor`, …): calling one is an
 * error, never an opaque value. Functions with "rebuild" in their name are treated the same anywhere.
 */
const TENSOR_MAKER_MODULES = new Set([
  "torch",
  "torch._utils",
  "torch._tensor",
  "torch.storage",
  "torch.serialization",
]);

/** The value of a refused call or instantiation in a trusted checkpoint: kept out of the tensors and metadata. */
class UntrustedObject extends PyObject {}

/** A storage class or dtype global, as produced by findClass. */
class StorageType {
  constructor(readonly qualname: string, readonly dtype: Dtype) {}
}

/** A storage named by a persistent id; `offset` (elements) is non-zero only for legacy views. */
interface StorageRef {
  kind: "storage";
  dtype: Dtype;
  typeName: string;
  key: string;
  numel: number;
  offset: number;
}

/** What `_rebuild_tensor_v2` describes: a strided view of a storage. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** Magic number that opens a legacy (non-zip) torch.save stream. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** Legacy stream format version written by torch.save since PyTorch 0.1.10. */
const LEGACY_PROTOCOL_VERSION = 1001;

const isNonNegInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

function intTuple(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every(isNonNegInt)) {
    throw new TorchFormatError(`${what} must be a tuple of non-negative ints, got ${describeValue(v)}`);
  }
  return v as number[];
}

/** The interpretation of globals and calls common to both formats; `policy` decides which globals may be used. */
function torchHooks(persistentLoad: (pid: unknown) => unknown, policy: GlobalPolicy): UnpicklerHooks {
  /** `cls.__new__(cls, *args)`: a generic object whose state BUILD sets (unless the class is refused). */
  const instantiate = (cls: PyGlobal, args: unknown[]): PyObject =>
    policy.mayInstantiate(cls.module, cls.name) ? new PyObject(cls, args) : new UntrustedObject(cls, args);
  return {
    findClass(module, name) {
      policy.noteReference(module, name);
      // torch.cuda.FloatStorage etc.: checkpoints saved from a GPU without .cpu(); the bytes are the same.
      if ((module === "torch" || module === "torch.cuda") && name in STORAGE_CLASSES) {
        return new StorageType(`${module}.${name}`, STORAGE_CLASSES[name]);
      }
      if (module === "torch" && name in TORCH_DTYPES) {
        return new StorageType(`torch.${name}`, TORCH_DTYPES[name]);
      }
      if ((module === "torch" || module === "torch.cuda") && name.endsWith("Storage")) {
        throw new TorchFormatError(`unsupported storage class ${module}.${name}`);
      }
      return new PyGlobal(module, name);
    },
    call(callable, args) {
      if (!(callable instanceof PyGlobal)) {
        throw new TorchFormatError(
          `REDUCE of a ${describeValue(callable)}, which is not a supported callable`,
        );
      }
      const q = callable.qualname;
      if (!policy.mayCall(callable.module, callable.name)) return new UntrustedObject(callable, args);
      switch (q) {
        case "collections.OrderedDict":
        case "builtins.dict": {
          const m = new Map();
          if (args.length > 0 && args[0] !== null) {
            if (!Array.isArray(args[0])) {
              throw new TorchFormatError(`${q}(...) with a ${describeValue(args[0])}`);
            }
            for (const kv of args[0]) {
              if (!Array.isArray(kv) || kv.length !== 2) {
                throw new TorchFormatError(`${q}(...) with a bad pair`);
              }
              m.set(kv[0], kv[1]);
            }
          }
          return m;
        }
        case "builtins.set":
        case "builtins.frozenset":
          return new Set(Array.isArray(args[0]) ? args[0] : []);
        case "torch._utils._rebuild_tensor":
        case "torch._utils._rebuild_tensor_v2": {
          // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
          const [storage, offset, size, stride] = args;
          if (!storage || (storage as StorageRef).kind !== "storage") {
            throw new TorchFormatError(`${q}: first argument is a ${describeValue(storage)}, not a storage`);
          }
          if (!isNonNegInt(offset)) throw new TorchFormatError(`${q}: bad storage offset ${String(offset)}`);
          const shape = intTuple(size, `${q} size`);
          const strides = intTuple(stride, `${q} stride`);
          if (shape.length !== strides.length) {
            throw new TorchFormatError(`${q}: size [${shape}] and stride [${strides}] differ in rank`);
          }
          return new TensorRef(storage as StorageRef, offset, shape, strides);
        }
        case "torch._utils._rebuild_parameter":
        case "torch._utils._rebuild_parameter_with_state": {
          // (data, requires_grad, backward_hooks[, state])
          if (!(args[0] instanceof TensorRef)) {
            throw new TorchFormatError(`${q}: data is a ${describeValue(args[0])}, not a tensor`);
          }
          const state = args[3];
          if (state !== undefined && state !== null && !(state instanceof Map && state.size === 0)) {
            throw new TorchFormatError(`${q}: parameters with extra Python state are not supported`);
          }
          return args[0];
        }
        case "torch.nn.parameter.Parameter": {
          // PyTorch 0.4 pickled a Parameter as Parameter(tensor, requires_grad)
          if (!(args[0] instanceof TensorRef)) {
            throw new TorchFormatError(`${q}: data is a ${describeValue(args[0])}, not a tensor`);
          }
          return args[0];
        }
        case "torch._tensor._rebuild_from_type_v2": {
          // (func, type, args, state): a tensor subclass; only plain Tensor/Parameter with no state is supported.
          const [func, type, fargs, state] = args;
          const typeName = type instanceof PyGlobal ? type.qualname : describeValue(type);
          if (typeName !== "torch.Tensor" && typeName !== "torch.nn.parameter.Parameter") {
            throw new TorchFormatError(`tensor subclass ${typeName} is not supported`);
          }
          if (state !== null && state !== undefined && !(state instanceof Map && state.size === 0)) {
            throw new TorchFormatError(`${typeName} with extra Python state is not supported`);
          }
          if (!Array.isArray(fargs)) throw new TorchFormatError(`${q}: args is a ${describeValue(fargs)}`);
          return this.call(func, fargs);
        }
        case "torch.Size":
          return intTuple(args[0], "torch.Size");
        case "torch.device":
          return args.map(String).join(":");
        case "copyreg._reconstructor": // protocols 0/1: (cls, base, state) → cls.__new__(cls)
        case "copyreg.__newobj__": { // (cls, *args) → cls.__new__(cls, *args)
          const cls = args[0];
          if (!(cls instanceof PyGlobal)) {
            throw new TorchFormatError(`${q}: class is a ${describeValue(cls)}`);
          }
          return this.newObject(cls, q === "copyreg.__newobj__" ? args.slice(1) : []);
        }
      }
      if (TENSOR_MAKER_MODULES.has(callable.module) || /rebuild/i.test(callable.name)) {
        throw new TorchFormatError(
          `unsupported torch function ${q} (e.g. a quantized, sparse or subclass tensor)`,
        );
      }
      // The other allowed callables (a numpy scalar in the metadata, PyTorch 0.4's module `_backend`, …) become
      // opaque objects; if one turns up where a tensor is expected, flattening rejects it by its name.
      return new PyObject(callable, args);
    },
    newObject(cls, args) {
      if (cls instanceof PyGlobal) {
        if (cls.qualname === "collections.OrderedDict" || cls.qualname === "builtins.dict") return new Map();
        if (cls.qualname === "builtins.set") return new Set();
        // any other class (an nn.Module, an optimizer, …) is a generic object whose state BUILD sets
        return instantiate(cls, args);
      }
      throw new TorchFormatError(`NEWOBJ of a ${describeValue(cls)}, which is not a class`);
    },
    persistentLoad,
  };
}

function storageRefFromPid(pid: unknown[], legacy: boolean): StorageRef {
  // zip: ('storage', storage_type, key, location, numel)
  // legacy: ('storage', storage_type, root_key, location, numel, view_metadata)
  const [, type, key, , numel] = pid;
  if (!(type instanceof StorageType)) {
    throw new TorchFormatError(
      `persistent id names storage type ${describeValue(type)}, not a torch storage class`,
    );
  }
  if (typeof key !== "string") {
    throw new TorchFormatError(`persistent id storage key is a ${describeValue(key)}`);
  }
  if (!isNonNegInt(numel)) {
    throw new TorchFormatError(`persistent id storage size ${String(numel)} is invalid`);
  }
  const ref: StorageRef = {
    kind: "storage",
    dtype: type.dtype,
    typeName: type.qualname,
    key,
    numel,
    offset: 0,
  };
  if (legacy && pid[5] !== null && pid[5] !== undefined) {
    // view_metadata = (view_key, offset, view_size): a slice of the root storage (offsets in elements).
    const vm = pid[5];
    if (!Array.isArray(vm) || vm.length !== 3 || !isNonNegInt(vm[1]) || !isNonNegInt(vm[2])) {
      throw new TorchFormatError(`persistent id has malformed storage view metadata`);
    }
    if (vm[1] + vm[2] > numel) {
      throw new TorchFormatError(`storage view [${vm[1]}, ${vm[1] + vm[2]}) exceeds its root of ${numel}`);
    }
    return { ...ref, offset: vm[1], numel: vm[2] };
  }
  return ref;
}

function checkHostLittleEndian(): void {
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

const isFloat = (dtype: Dtype): boolean =>
  dtype === "float32" || dtype === "float64" || dtype === "float16" || dtype === "bfloat16";

/** Turns a TensorRef into float32 data given the bytes of its (root) storage. */
function materialize(name: string, t: TensorRef, storageBytes: Uint8Array): NamedTensor {
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

// ---------------------------------------------------------------------------------------------------------------
// Flattening the unpickled object into name → tensor

const isModule = (v: unknown): v is PyObject =>
  v instanceof PyObject && v.state instanceof Map && v.state.has("_parameters") && v.state.has("_modules");

/** nn.Module → state_dict order: own parameters, own persistent buffers, then children recursively. */
function walkModule(mod: PyObject, prefix: string, out: Map<string, TensorRef>): void {
  const state = mod.state as Map<unknown, unknown>;
  const params = state.get("_parameters");
  const buffers = state.get("_buffers");
  const modules = state.get("_modules");
  const nonPersistent = state.get("_non_persistent_buffers_set");
  const skip = nonPersistent instanceof Set ? nonPersistent : new Set();
  const where = `${mod.cls.qualname} module${prefix ? ` '${prefix.slice(0, -1)}'` : ""}`;
  for (const [field, entries] of [["_parameters", params], ["_buffers", buffers]] as const) {
    if (entries === undefined) continue;
    if (!(entries instanceof Map)) {
      throw new TorchFormatError(`${where}: ${field} is a ${describeValue(entries)}`);
    }
    for (const [k, v] of entries) {
      if (v === null || (field === "_buffers" && skip.has(k))) continue;
      if (!(v instanceof TensorRef)) {
        throw new TorchFormatError(
          `${where}: ${field}['${String(k)}'] is a ${describeValue(v)}, not a tensor`,
        );
      }
      out.set(prefix + String(k), v);
    }
  }
  if (!(modules instanceof Map)) {
    throw new TorchFormatError(`${where}: _modules is a ${describeValue(modules)}`);
  }
  for (const [k, child] of modules) {
    if (child === null) continue;
    if (!isModule(child)) {
      throw new TorchFormatError(
        `${where}: submodule '${String(k)}' is a ${describeValue(child)}, not an nn.Module`,
      );
    }
    walkModule(child, `${prefix}${String(k)}.`, out);
  }
}

/**
 * A state dict (possibly nested dicts) → dotted names. When `meta` is given (a bare top-level dict), plain values
 * (numbers, strings, lists/dicts of them) go there by dotted name; otherwise every value must hold tensors.
 */
function walkStateDict(
  dict: Map<unknown, unknown>,
  prefix: string,
  out: Map<string, TensorRef>,
  meta?: Record<string, unknown>,
): void {
  for (const [k, v] of dict) {
    const name = prefix + String(k);
    if (v instanceof UntrustedObject) continue; // a refused value of a trusted checkpoint: not ours to keep
    if (v instanceof TensorRef) out.set(name, v);
    else if (meta && isPlain(v)) meta[name] = toJsonLike(v); // incl. dicts without tensors
    else if (v instanceof Map) walkStateDict(v, `${name}.`, out, meta);
    else if (isModule(v)) walkModule(v, `${name}.`, out);
    else {
      throw new TorchFormatError(`state dict entry '${name}' is a ${describeValue(v)}, not a tensor`);
    }
  }
}

function isPlain(v: unknown): boolean {
  if (v === null || ["number", "string", "boolean", "bigint"].includes(typeof v)) return true;
  if (Array.isArray(v)) return v.every(isPlain);
  if (v instanceof Map) return [...v].every(([k, x]) => typeof k === "string" && isPlain(x));
  return false;
}

function toJsonLike(v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(toJsonLike);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, toJsonLike(x)]));
  return v;
}

/** Keys under which training scripts wrap the weights, in order of preference. */
const WRAPPER_KEYS = ["state_dict", "model_state_dict", "model"];

function flatten(root: unknown): { refs: Map<string, TensorRef>; meta: Record<string, unknown> } {
  const refs = new Map<string, TensorRef>();
  const meta: Record<string, unknown> = {};
  if (isModule(root)) {
    walkModule(root, "", refs);
    return { refs, meta };
  }
  if (!(root instanceof Map)) {
    throw new TorchFormatError(
      `top-level object is a ${describeValue(root)}; expected a dict or an nn.Module`,
    );
  }
  const wrapperKey = WRAPPER_KEYS.find((k) => root.get(k) instanceof Map || isModule(root.get(k)));
  if (wrapperKey === undefined) {
    walkStateDict(root, "", refs, meta); // a bare state dict
  } else {
    const inner = root.get(wrapperKey);
    if (isModule(inner)) walkModule(inner, "", refs);
    else walkStateDict(inner as Map<unknown, unknown>, "", refs);
    for (const [k, v] of root) {
      if (k !== wrapperKey && typeof k === "string" && isPlain(v)) meta[k] = toJsonLike(v);
    }
  }
  if (refs.size === 0) {
    const keys = [...root.keys()].map(String).join(", ");
    throw new TorchFormatError(`no tensors found (top-level keys: ${keys})`);
  }
  return { refs, meta };
}

/** Reads every float tensor; the others throw (`nonFloat: "error"`) or are described in `nonFloat`. */
function materializeAll(
  refs: Map<string, TensorRef>,
  bytesOf: (s: StorageRef) => Uint8Array,
  opts: ReadTorchOptions,
): Pick<TorchCheckpoint, "tensors" | "nonFloat"> {
  const tensors = new Map<string, NamedTensor>();
  const nonFloat = new Map<string, TensorInfo>();
  for (const [name, ref] of refs) {
    const { dtype, typeName } = ref.storage;
    if (opts.nonFloat === "list" && !isFloat(dtype)) {
      nonFloat.set(name, { shape: [...ref.shape], dtype, storageType: typeName });
    } else tensors.set(name, materialize(name, ref, bytesOf(ref.storage)));
  }
  return { tensors, nonFloat };
}

/** Runs one pickle under `policy`, refusing at its end a blocked global it only named. */
function unpickleChecked(bytes: Uint8Array, hooks: UnpicklerHooks, policy: GlobalPolicy, start = 0) {
  const result = unpickle(bytes, hooks, start);
  policy.finish();
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// The two container formats

function readZipFormat(bytes: Uint8Array, opts: ReadTorchOptions): TorchCheckpoint {
  const files = readZipEntries(bytes);
  const names = Object.keys(files);
  const pkls = names.filter((n) => n === "data.pkl" || /^[^/]+\/data\.pkl$/.test(n));
  if (names.some((n) => /^[^/]+\/constants\.pkl$/.test(n))) {
    throw new TorchFormatError(
      "this is a TorchScript archive (torch.jit.save), not torch.save; save model.state_dict() instead",
    );
  }
  if (pkls.length !== 1) {
    throw new TorchFormatError(
      pkls.length === 0
        ? `zip archive has no data.pkl, so it is not a torch.save file (entries: ${
          names.slice(0, 5).join(", ")
        })`
        : `zip archive has several data.pkl records: ${pkls.join(", ")}`,
    );
  }
  const prefix = pkls[0].slice(0, -"data.pkl".length);
  const byteorder = files[`${prefix}byteorder`];
  if (byteorder && new TextDecoder().decode(byteorder).trim() !== "little") {
    throw new TorchFormatError(
      `storages are ${new TextDecoder().decode(byteorder).trim()}-endian; only little-endian is supported`,
    );
  }
  const policy = new GlobalPolicy(opts.trustCheckpoint === true);
  const hooks = torchHooks((pid) => {
    if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) {
      throw new TorchFormatError(
        `unsupported persistent id ${describeValue(Array.isArray(pid) ? pid[0] : pid)}`,
      );
    }
    return storageRefFromPid(pid, false);
  }, policy);
  const { value } = unpickleChecked(files[pkls[0]], hooks, policy);
  const { refs, meta } = flatten(value);
  const read = materializeAll(refs, (s) => {
    const rec = files[`${prefix}data/${s.key}`];
    if (!rec) throw new TorchFormatError(`storage record ${prefix}data/${s.key} is missing from the archive`);
    return rec;
  }, opts);
  return { ...read, meta, format: "zip" };
}

function readLegacyFormat(bytes: Uint8Array, opts: ReadTorchOptions): TorchCheckpoint {
  const policy = new GlobalPolicy(opts.trustCheckpoint === true);
  const plain = torchHooks(() => {
    throw new TorchFormatError("unexpected persistent id in a legacy header pickle");
  }, policy);
  const magic = unpickleChecked(bytes, plain, policy, 0);
  if (magic.value !== LEGACY_MAGIC) {
    throw new TorchFormatError(
      "a pickle file without the torch.save magic number: not a PyTorch checkpoint (or a plain pickle)",
    );
  }
  const proto = unpickleChecked(bytes, plain, policy, magic.end);
  if (proto.value !== LEGACY_PROTOCOL_VERSION) {
    throw new TorchFormatError(`unsupported legacy protocol version ${String(proto.value)} (expected 1001)`);
  }
  const sysInfo = unpickleChecked(bytes, plain, policy, proto.end);
  if (!(sysInfo.value instanceof Map) || sysInfo.value.get("little_endian") !== true) {
    throw new TorchFormatError(
      "legacy checkpoint was written on a big-endian machine, which is not supported",
    );
  }
  const roots = new Map<string, StorageRef>();
  const hooks = torchHooks((pid) => {
    if (!Array.isArray(pid)) throw new TorchFormatError(`unsupported persistent id ${describeValue(pid)}`);
    if (pid[0] === "module") return pid[1]; // ('module', class, source_file, source): the class itself
    if (pid[0] !== "storage" || pid.length < 6) {
      throw new TorchFormatError(`unsupported persistent id ${JSON.stringify(String(pid[0]))}`);
    }
    const ref = storageRefFromPid(pid, true);
    const root = roots.get(ref.key);
    if (!root) roots.set(ref.key, { ...ref, offset: 0, numel: pid[4] as number });
    else if (root.dtype !== ref.dtype) {
      throw new TorchFormatError(`storage ${ref.key} is used as both ${root.typeName} and ${ref.typeName}`);
    }
    return ref;
  }, policy);
  const main = unpickleChecked(bytes, hooks, policy, sysInfo.end);
  const keysPickle = unpickleChecked(bytes, plain, policy, main.end);
  const keys = keysPickle.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string")) {
    throw new TorchFormatError("legacy checkpoint: storage key list is not a list of strings");
  }
  const data = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keysPickle.end;
  for (const key of keys as string[]) {
    const root = roots.get(key);
    if (!root) throw new TorchFormatError(`legacy checkpoint: storage ${key} is listed but never referenced`);
    if (pos + 8 > bytes.length) {
      throw new TorchFormatError(`truncated file: storage ${key} header at byte ${pos} is past the end`);
    }
    const numel = Number(view.getBigInt64(pos, true));
    if (numel !== root.numel) {
      throw new TorchFormatError(
        `legacy checkpoint: storage ${key} has ${numel} elements, expected ${root.numel}`,
      );
    }
    const n = numel * DTYPE_BYTES[root.dtype];
    if (pos + 8 + n > bytes.length) {
      throw new TorchFormatError(
        `truncated file: storage ${key} needs ${n} bytes at byte ${pos + 8}, only ${
          bytes.length - pos - 8
        } remain`,
      );
    }
    data.set(key, bytes.subarray(pos + 8, pos + 8 + n));
    pos += 8 + n;
  }
  const { refs, meta } = flatten(main.value);
  const read = materializeAll(refs, (s) => {
    const d = data.get(s.key);
    if (!d) throw new TorchFormatError(`legacy checkpoint: data of storage ${s.key} is missing`);
    return d;
  }, opts);
  return { ...read, meta, format: "legacy" };
}

/**
 * Reads a `torch.save` file (zip or legacy format) into float32 tensors by dotted name.
 *
 * Flattens a bare state_dict, `{'state_dict': …}` / `{'model_state_dict': …}` / `{'model': state_dict}`, and a
 * whole `nn.Module` (top-level or under `'model'`), whose tensors are found in nested modules'
 * `_parameters`/`_buffers` (names relative to that module, e.g. `loc_conv4_3.weight`). Other top-level plain
 * values (e.g. `epoch`) are returned in `meta`. float16/bfloat16/float64 storages are converted to float32;
 * storage offsets and strides are honoured (result is C-contiguous).
 *
 * The pickle may call only the globals of lib/torch/allowlist.ts (tensor rebuilders, containers, plain data);
 * any class may be instantiated for its state (whole modules), except from modules such as `os` or `subprocess`.
 * Nothing in the file is ever run.
 *
 * @param bytes the whole file
 * @param fileName used only in error messages
 * @throws UntrustedCheckpointError when the pickle calls, instantiates or names a refused global (unless
 *   `trustCheckpoint`); TorchFormatError naming the unsupported opcode/class/function, the truncated part, or
 *   the bad entry (both are InputErrors)
 */
export function readTorchCheckpoint(
  bytes: Uint8Array,
  fileName = "checkpoint",
  options: ReadTorchOptions = {},
): TorchCheckpoint {
  checkHostLittleEndian();
  try {
    if (
      bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04
    ) {
      return readZipFormat(bytes, options);
    }
    if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) {
      return readLegacyFormat(bytes, options);
    }
    if (bytes.length >= 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === "ustar") {
      throw new TorchFormatError("a tar archive: the pre-0.4 PyTorch tar checkpoint format is not supported");
    }
    const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new TorchFormatError(
      bytes.length === 0
        ? "empty file"
        : `not a PyTorch checkpoint: starts with bytes [${head}], neither a zip archive nor a pickle`,
    );
  } catch (e) {
    if (e instanceof UntrustedCheckpointError) throw new UntrustedCheckpointError(fileName, e.global, e.use);
    if (e instanceof TorchFormatError) {
      throw new TorchFormatError(`${fileName}: ${e.message}`, { cause: e.cause });
    }
    throw e;
  }
}
