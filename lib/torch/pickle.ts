/**
 * A subset of Python's pickle virtual machine (protocols 0–5, the opcodes `torch.save` emits), with every
 * interpretation of classes, functions and persistent ids delegated to hooks. Anything outside the subset throws
 * {@link TorchFormatError} naming the opcode and its byte position — never a silently wrong value.
 *
 * Python values map to JS as: int → number (bigint when beyond 2^53), float → number, str → string,
 * bytes → Uint8Array, None → null, bool → boolean, list and tuple → Array, dict → Map, set → Set.
 *
 * One concept (the pickle machine: its opcode loop and value stack) kept in one file on purpose, beyond the
 * ~400-line guide, as CPython's own pickle.py keeps its Unpickler together.
 */
import { InputError } from "../core/errors.ts";

/** A torch checkpoint is malformed or uses a feature this reader does not support (a known input problem). */
export class TorchFormatError extends InputError {
  override name = "TorchFormatError";
}

/** A reference to a Python global (`module.name`), e.g. a class or function the hooks did not replace. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A generic Python object (e.g. an nn.Module): its class, constructor args, and the state given by BUILD. */
export class PyObject {
  /** The object's `__dict__` (usually a Map) as set by the BUILD opcode; undefined when never built. */
  state: unknown = undefined;
  constructor(readonly cls: PyGlobal, readonly args: readonly unknown[]) {}
}

/** How the unpickler turns globals, calls and persistent ids into values. */
export interface UnpicklerHooks {
  /** GLOBAL / STACK_GLOBAL. Module names are normalised to Python 3 (`__builtin__` → `builtins`). */
  findClass(module: string, name: string): unknown;
  /** REDUCE: `callable(*args)`. */
  call(callable: unknown, args: unknown[]): unknown;
  /** NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, *args)`. */
  newObject(cls: unknown, args: unknown[]): unknown;
  /** BINPERSID / PERSID. */
  persistentLoad(pid: unknown): unknown;
}

/** Python 2 module names used by legacy checkpoints, mapped to their Python 3 names. */
const PY2_MODULES: Record<string, string> = { __builtin__: "builtins", copy_reg: "copyreg" };

const OPCODE_NAMES: Record<number, string> = {
  0x28: "MARK",
  0x2e: "STOP",
  0x30: "POP",
  0x31: "POP_MARK",
  0x32: "DUP",
  0x46: "FLOAT",
  0x49: "INT",
  0x4a: "BININT",
  0x4b: "BININT1",
  0x4c: "LONG",
  0x4d: "BININT2",
  0x4e: "NONE",
  0x50: "PERSID",
  0x51: "BINPERSID",
  0x52: "REDUCE",
  0x53: "STRING",
  0x54: "BINSTRING",
  0x55: "SHORT_BINSTRING",
  0x56: "UNICODE",
  0x58: "BINUNICODE",
  0x61: "APPEND",
  0x62: "BUILD",
  0x63: "GLOBAL",
  0x64: "DICT",
  0x7d: "EMPTY_DICT",
  0x65: "APPENDS",
  0x67: "GET",
  0x68: "BINGET",
  0x69: "INST",
  0x6a: "LONG_BINGET",
  0x6c: "LIST",
  0x5d: "EMPTY_LIST",
  0x6f: "OBJ",
  0x70: "PUT",
  0x71: "BINPUT",
  0x72: "LONG_BINPUT",
  0x73: "SETITEM",
  0x74: "TUPLE",
  0x29: "EMPTY_TUPLE",
  0x75: "SETITEMS",
  0x47: "BINFLOAT",
  0x80: "PROTO",
  0x81: "NEWOBJ",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x85: "TUPLE1",
  0x86: "TUPLE2",
  0x87: "TUPLE3",
  0x88: "NEWTRUE",
  0x89: "NEWFALSE",
  0x8a: "LONG1",
  0x8b: "LONG4",
  0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES",
  0x8c: "SHORT_BINUNICODE",
  0x8d: "BINUNICODE8",
  0x8e: "BINBYTES8",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x92: "NEWOBJ_EX",
  0x93: "STACK_GLOBAL",
  0x94: "MEMOIZE",
  0x95: "FRAME",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

/** Name of a pickle opcode byte for messages, e.g. `0x69 (INST)`. */
export function opcodeName(op: number): string {
  const hex = `0x${op.toString(16).padStart(2, "0")}`;
  return OPCODE_NAMES[op] ? `${hex} (${OPCODE_NAMES[op]})` : `${hex} (not a pickle opcode)`;
}

const utf8 = new TextDecoder("utf-8");
const latin1 = new TextDecoder("latin1");

/** Little-endian two's-complement integer of LONG1/LONG4 → number when exact, else bigint. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Parses a decimal integer from text opcodes (INT/LONG, protocol 0); "01"/"00" are True/False. */
function parseTextInt(s: string, op: string): number | bigint | boolean {
  if (s === "01") return true;
  if (s === "00") return false;
  const t = s.endsWith("L") ? s.slice(0, -1) : s;
  if (!/^[+-]?\d+$/.test(t)) {
    throw new TorchFormatError(`pickle ${op}: bad integer literal ${JSON.stringify(s)}`);
  }
  const v = BigInt(t);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * Runs one pickle starting at `start` in `bytes` until STOP.
 * @returns the unpickled value and the byte offset just after STOP (where a following pickle would begin).
 * @throws TorchFormatError on truncation, an unsupported opcode or a malformed stack.
 */
export function unpickle(
  bytes: Uint8Array,
  hooks: UnpicklerHooks,
  start = 0,
): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let op = 0;
  let opPos = 0;

  const fail = (msg: string): never => {
    throw new TorchFormatError(`pickle opcode ${opcodeName(op)} at byte ${opPos}: ${msg}`);
  };
  const need = (n: number): void => {
    if (n < 0 || pos + n > bytes.length) {
      throw new TorchFormatError(
        `truncated pickle: opcode ${opcodeName(op)} at byte ${opPos} needs ${n} more bytes ` +
          `but only ${Math.max(0, bytes.length - pos)} remain`,
      );
    }
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} too large`);
    return Number(v);
  };
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) {
      throw new TorchFormatError(
        `truncated pickle: opcode ${opcodeName(op)} at byte ${opPos}: missing newline`,
      );
    }
    const s = latin1.decode(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail("stack underflow");
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail("stack underflow");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) fail("no MARK on the stack");
    stack = prev!;
    return items;
  };
  const getMemo = (i: number): unknown => {
    if (!memo.has(i)) fail(`memo key ${i} not defined`);
    return memo.get(i);
  };
  const setItems = (dict: unknown, items: unknown[]): void => {
    if (dict instanceof Map) {
      for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
    } else if (dict instanceof PyObject) {
      // A dict subclass built by NEWOBJ: keep its items as the object's dict-like content.
      const m = dict.state instanceof Map ? dict.state : new Map();
      for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i], items[i + 1]);
      dict.state = m;
    } else {
      fail(`SETITEM(S) on a ${describeValue(dict)}, not a dict`);
    }
  };
  const appendItems = (list: unknown, items: unknown[]): void => {
    if (!Array.isArray(list)) fail(`APPEND(S) on a ${describeValue(list)}, not a list`);
    for (const it of items) (list as unknown[]).push(it);
  };
  const global = (module: string, name: string): unknown =>
    hooks.findClass(PY2_MODULES[module] ?? module, name);

  for (;;) {
    opPos = pos;
    if (pos >= bytes.length) {
      throw new TorchFormatError(`truncated pickle: ended at byte ${pos} before the STOP opcode`);
    }
    op = bytes[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const proto = u8();
        if (proto > 5) fail(`pickle protocol ${proto} is newer than 5`);
        break;
      }
      case 0x95: // FRAME: an 8-byte frame length; frames are just a read-ahead hint.
        take(8);
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x64: { // DICT
        const items = popMark();
        const d = new Map();
        setItems(d, items);
        stack.push(d);
        break;
      }
      case 0x6c: // LIST
      case 0x74: { // TUPLE
        const items = popMark(); // (popMark replaces `stack`: read it first)
        stack.push(items);
        break;
      }
      case 0x91: // FROZENSET
      {
        const items = popMark();
        stack.push(new Set(items));
        break;
      }
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on a ${describeValue(s)}, not a set`);
        for (const it of items) (s as Set<unknown>).add(it);
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(take(u8())));
        break;
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail(`negative length ${n}`);
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x49: // INT
        stack.push(parseTextInt(line(), "INT"));
        break;
      case 0x4c: // LONG
        stack.push(parseTextInt(line(), "LONG"));
        break;
      case 0x47: // BINFLOAT (big-endian IEEE double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: { // FLOAT
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/^[+-]?nan$/i.test(s)) fail(`bad float literal ${JSON.stringify(s)}`);
        stack.push(v);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(take(u64())));
        break;
      case 0x54: { // BINSTRING (Python 2 str: bytes, decoded as latin-1 like encoding='latin1')
        const n = i32();
        if (n < 0) fail(`negative length ${n}`);
        stack.push(latin1.decode(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("module and name must be strings");
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        if (!Array.isArray(args)) fail(`argument tuple is a ${describeValue(args)}`);
        stack.push(hooks.call(callable, args as unknown[]));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) fail(`argument tuple is a ${describeValue(args)}`);
        stack.push(hooks.newObject(cls, args as unknown[]));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) fail(`argument tuple is a ${describeValue(args)}`);
        if (!(kwargs instanceof Map) || kwargs.size > 0) fail("keyword arguments are not supported");
        stack.push(hooks.newObject(cls, args as unknown[]));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) {
          // state may be (dict, slotstate); keep the dict, merging slots into it.
          if (Array.isArray(state) && state.length === 2 && (state[0] === null || state[0] instanceof Map)) {
            const merged = new Map(state[0] instanceof Map ? state[0] : []);
            if (state[1] instanceof Map) { for (const [k, v] of state[1]) merged.set(k, v); }
            obj.state = merged;
          } else {
            obj.state = state;
          }
        } else if (obj instanceof Map) {
          // e.g. an OrderedDict's attributes (a state_dict's `_metadata`): not items, ignored.
          if (!(state instanceof Map) && state !== null) {
            fail(`BUILD of a dict with a ${describeValue(state)}`);
          }
        } else {
          fail(`BUILD (setting the state) of a ${describeValue(obj)} is not supported`);
        }
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x70: // PUT
        memo.set(Number(parseTextInt(line(), "PUT")), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(getMemo(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(getMemo(u32()));
        break;
      case 0x67: // GET
        stack.push(getMemo(Number(parseTextInt(line(), "GET"))));
        break;
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      case 0x50: // PERSID
        stack.push(hooks.persistentLoad(line()));
        break;
      default:
        throw new TorchFormatError(`unsupported pickle opcode ${opcodeName(op)} at byte ${opPos}`);
    }
  }
}

/** Short description of a value's Python-ish type for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return "None";
  if (v instanceof PyObject) return `${v.cls.qualname} object`;
  if (v instanceof PyGlobal) return `global ${v.qualname}`;
  if (v instanceof Map) return "dict";
  if (v instanceof Set) return "set";
  if (Array.isArray(v)) return "list/tuple";
  if (v instanceof Uint8Array) return "bytes";
  if (typeof v === "object") return (v as { constructor?: { name?: string } }).constructor?.name ?? "object";
  return typeof v;
}
