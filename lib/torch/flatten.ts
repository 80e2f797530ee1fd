/**
 * Flattening an unpickled checkpoint into dotted name → tensor reference: a bare state_dict, a wrapped one
 * (`{'state_dict': …}`, `{'model_state_dict': …}`, `{'model': …}`), or a whole nn.Module in state_dict order;
 * other plain top-level values become metadata.
 */
import { inlineList } from "../core/errors.ts";
import { describeValue, PyObject, TorchFormatError } from "./pickle.ts";
import { UntrustedObject } from "./torch_globals.ts";
import { TensorRef } from "./tensor_data.ts";

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

export function flatten(root: unknown): { refs: Map<string, TensorRef>; meta: Record<string, unknown> } {
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
    const keys = inlineList([...root.keys()].map(String));
    throw new TorchFormatError(`no tensors found (top-level keys: ${keys})`);
  }
  return { refs, meta };
}
