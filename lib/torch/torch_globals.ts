/**
 * How a torch.save pickle's globals and calls are interpreted: storage classes and dtypes, the tensor and
 * parameter rebuilders, containers, and generic objects for classes instantiated for their state. The
 * {@link GlobalPolicy} decides which globals may be used at all.
 */
import { describeValue, PyGlobal, PyObject, TorchFormatError, type UnpicklerHooks } from "./pickle.ts";
import type { GlobalPolicy } from "./allowlist.ts";
import { type Dtype, type StorageRef, TensorRef } from "./tensor_data.ts";

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
export class UntrustedObject extends PyObject {}

/** A storage class or dtype global, as produced by findClass. */
class StorageType {
  constructor(readonly qualname: string, readonly dtype: Dtype) {}
}

export const isNonNegInt = (v: unknown): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 0;

function intTuple(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every(isNonNegInt)) {
    throw new TorchFormatError(`${what} must be a tuple of non-negative ints, got ${describeValue(v)}`);
  }
  return v as number[];
}

/** The interpretation of globals and calls common to both formats; `policy` decides which globals may be used. */
export function torchHooks(persistentLoad: (pid: unknown) => unknown, policy: GlobalPolicy): UnpicklerHooks {
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

export function storageRefFromPid(pid: unknown[], legacy: boolean): StorageRef {
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
