/**
 * Which Python globals a checkpoint's pickle may use, modelled on `torch.load(weights_only=True)`
 * (torch/_weights_only_unpickler.py: an allowlist of callables, `os`/`posix`/`nt`/`sys` blocked outright) but
 * keeping whole-module checkpoints readable: any class may be *instantiated for its state* (NEWOBJ + BUILD, as
 * `torch.save(model)` writes an nn.Module of whatever module it was defined in), while a *call* (REDUCE) is
 * allowed only for the tensor rebuilders, containers and plain data types listed here.
 *
 * The unpickler never runs anything either way; the policy exists because a file that would run code under
 * `torch.load` is not a checkpoint one should keep using, and saying so is kinder than loading it silently.
 * @module
 */
import { TorchFormatError } from "./pickle.ts";

/** Globals a pickle may call (REDUCE). Everything else is refused, see {@link refusedCall}. */
const CALLABLE_GLOBALS = new Set([
  // containers (torch's list: OrderedDict, Counter, set; the rest are equally inert)
  "collections.OrderedDict",
  "collections.Counter",
  "collections.defaultdict", // an optimizer's `state`
  "builtins.dict",
  "builtins.list",
  "builtins.tuple",
  "builtins.set",
  "builtins.frozenset",
  "builtins.bytearray",
  "builtins.complex",
  "builtins.slice",
  "builtins.range",
  "_codecs.encode", // how protocol 2 pickles bytes
  // torch types and tensor rebuilders (`torch._utils._rebuild_*` are matched by name, see below)
  "torch.Size",
  "torch.device",
  "torch.nn.parameter.Parameter", // PyTorch 0.4: Parameter(tensor, requires_grad)
  "torch.serialization._get_layout",
  "torch._tensor._rebuild_from_type_v2",
  "torch.nn.backends.thnn._get_thnn_function_backend", // PyTorch 0.4 modules kept this `_backend`
  // instantiation in protocols 0/1/2 (the class it names is checked as an instantiation)
  "copyreg._reconstructor",
  "copyreg.__newobj__",
  // plain data in training metadata
  "numpy.core.multiarray.scalar",
  "numpy.core.multiarray._reconstruct",
  "numpy._core.multiarray.scalar",
  "numpy._core.multiarray._reconstruct",
  "numpy.dtype",
  "pathlib.PosixPath",
  "pathlib.WindowsPath",
  "pathlib.PurePosixPath",
  "pathlib.PureWindowsPath",
  "datetime.datetime",
  "datetime.date",
  "datetime.time",
  "datetime.timedelta",
  "datetime.timezone",
]);

/**
 * Modules a checkpoint has no business naming at all (torch blocks `sys`, `os`, `posix`, `nt`): the ways to run
 * commands, load code, or reach the file system and network. Even a bare reference (never called) is refused.
 */
const BLOCKED_MODULES = new Set([
  "os",
  "posix",
  "nt",
  "sys",
  "subprocess",
  "_posixsubprocess",
  "pty",
  "shutil",
  "socket",
  "importlib",
  "runpy",
  "ctypes",
  "code",
  "codeop",
  "pickle",
  "_pickle",
  "marshal",
  "webbrowser",
  "pdb",
  "multiprocessing",
  "signal",
  "commands", // Python 2
  "popen2", // Python 2
]);

/** `builtins` functions that evaluate code or reach objects by name (the others are types and pure functions). */
const BLOCKED_BUILTINS = new Set([
  "eval",
  "exec",
  "execfile",
  "compile",
  "__import__",
  "getattr",
  "setattr",
  "delattr",
  "globals",
  "locals",
  "vars",
  "open",
  "file",
  "input",
  "breakpoint",
  "apply",
  "reload",
]);

/** Whether `module.name` is a global a checkpoint must not even name (os.system, builtins.eval, …). */
export function isBlockedGlobal(module: string, name: string): boolean {
  const root = module.split(".")[0];
  return BLOCKED_MODULES.has(root) || (module === "builtins" && BLOCKED_BUILTINS.has(name));
}

/** Whether a pickle may call `module.name` (REDUCE). */
export function isCallableGlobal(module: string, name: string): boolean {
  if (isBlockedGlobal(module, name)) return false;
  return CALLABLE_GLOBALS.has(`${module}.${name}`) ||
    (module === "torch._utils" && name.startsWith("_rebuild_"));
}

/** Whether a pickle may instantiate class `module.name` for its state (NEWOBJ, copyreg._reconstructor). */
export function isInstantiableGlobal(module: string, name: string): boolean {
  return !isBlockedGlobal(module, name);
}

/** What a pickle does with a refused global. */
export type RefusedUse = "calls" | "instantiates" | "refers to";

/**
 * A checkpoint whose pickle would call (or instantiate, or name) a global outside the allowlist: it is refused
 * unless the caller trusts it (then only its tensors are read; nothing runs either way).
 */
export class UntrustedCheckpointError extends TorchFormatError {
  override name = "UntrustedCheckpointError";
  constructor(readonly file: string, readonly global: string, readonly use: RefusedUse) {
    super(
      `refusing to load ${file}: its pickle ${use} ${global}; a checkpoint needs only tensors — ` +
        `pass --trust-checkpoint to load only its tensors anyway`,
    );
  }
}

/** Checks the globals one read meets; refusals carry a placeholder file name until the reader adds the real one. */
export class GlobalPolicy {
  /** The first blocked global named without being called, refused when the pickle ends. */
  private referenced: string | undefined;

  constructor(readonly trusted: boolean) {}

  /** GLOBAL / STACK_GLOBAL: notes a blocked name (refused at {@link finish} unless it is called first). */
  noteReference(module: string, name: string): void {
    if (!this.trusted && this.referenced === undefined && isBlockedGlobal(module, name)) {
      this.referenced = `${module}.${name}`;
    }
  }

  /**
   * REDUCE of `module.name`: true when allowed; false when refused but trusted (the caller drops the value).
   * @throws UntrustedCheckpointError when refused and not trusted
   */
  mayCall(module: string, name: string): boolean {
    if (isCallableGlobal(module, name)) return true;
    if (this.trusted) return false;
    throw new UntrustedCheckpointError("checkpoint", `${module}.${name}`, "calls");
  }

  /** NEWOBJ (or a reconstructor) of class `module.name`: as {@link mayCall}. */
  mayInstantiate(module: string, name: string): boolean {
    if (isInstantiableGlobal(module, name)) return true;
    if (this.trusted) return false;
    throw new UntrustedCheckpointError("checkpoint", `${module}.${name}`, "instantiates");
  }

  /** End of a pickle: refuses a blocked global that was named but never called. */
  finish(): void {
    if (this.referenced !== undefined) {
      throw new UntrustedCheckpointError("checkpoint", this.referenced, "refers to");
    }
  }
}
