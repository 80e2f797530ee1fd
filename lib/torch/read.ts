/**
 * Reader for `torch.save` checkpoints: the zip format (PyTorch ≥ 1.6, see pth_zip.ts) and the legacy
 * (pre-1.6) stream format. Tensors come back as C-contiguous float32 arrays keyed by dotted names.
 */
import { inlineList } from "../core/errors.ts";
import { describeValue, TorchFormatError, unpickle, type UnpicklerHooks } from "./pickle.ts";
import { GlobalPolicy, UntrustedCheckpointError } from "./allowlist.ts";
import { readZipEntries } from "./pth_zip.ts";
import { flatten } from "./flatten.ts";
import { storageRefFromPid, torchHooks } from "./torch_globals.ts";
import {
  checkHostLittleEndian,
  DTYPE_BYTES,
  isFloat,
  materialize,
  type NamedTensor,
  type StorageRef,
  type TensorInfo,
  type TensorRef,
} from "./tensor_data.ts";

export { TorchFormatError } from "./pickle.ts";
export { UntrustedCheckpointError } from "./allowlist.ts";
export type { NamedTensor, TensorInfo } from "./tensor_data.ts";

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

/** Magic number that opens a legacy (non-zip) torch.save stream. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** Legacy stream format version written by torch.save since PyTorch 0.1.10. */
const LEGACY_PROTOCOL_VERSION = 1001;

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
        : `zip archive has several data.pkl records: ${inlineList(pkls)}`,
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
