/**
 * TensorFlow GraphDef in the JSON form that tfjs-converter writes into `model.json` → `modelTopology`
 * (protobuf's `json_format.MessageToDict` of a `GraphDef`): nodes with `name`, `op`, `input` and `attr`,
 * where every attr is an `AttrValue` message — `{ type: "DT_FLOAT" }`, `{ s: <base64> }`, `{ i: "<int64 as
 * decimal string>" }`, `{ list: { i: [...] } }`, `{ shape: { dim: [{ size: "-1" }] } }`, `{ tensor: { dtype,
 * tensorShape } }`, … tfjs-converter's `OperationMapper` (src/operations/operation_mapper.ts) parses exactly
 * these forms.
 *
 * Hand-written: no npm package writes GraphDefs (tfjs-converter's writer is Python and needs TensorFlow); the
 * format is small and fixed by the proto. Constant values are not inlined: like the converter, every `Const`
 * node's value lives in the weights manifest under the node's name ({@link ConstTensor}).
 * @module
 */

/** TensorFlow `DataType` enum names used here (tensorflow/core/framework/types.proto). */
export type TfDataType = "DT_FLOAT" | "DT_INT32" | "DT_BOOL";

/** The TF.js dtypes our graphs use, and their GraphDef names. */
export const TF_DTYPES = { float32: "DT_FLOAT", int32: "DT_INT32", bool: "DT_BOOL" } as const;
export type GraphDtype = keyof typeof TF_DTYPES;

/** `TensorShapeProto` as JSON; a scalar has no `dim`. −1 is an unknown size. */
export interface TensorShapeJson {
  dim?: { size: string }[];
}

/** `AttrValue` as JSON (only the cases our graphs use). */
export type AttrValue =
  | { type: TfDataType }
  | { s: string }
  | { i: string }
  | { f: number }
  | { b: boolean }
  | { shape: TensorShapeJson }
  | { list: { i?: string[]; s?: string[]; f?: number[]; type?: TfDataType[] } }
  | { tensor: { dtype: TfDataType; tensorShape: TensorShapeJson } };

/** `NodeDef` as JSON. Inputs are `node` (output 0) or `node:k`. */
export interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

/** `GraphDef` as JSON (`versions.producer` is the GraphDef version the ops follow; TF 2.x writes ≥ 1000). */
export interface GraphDef {
  node: NodeDef[];
  library: Record<string, never>;
  versions: { producer: number; minConsumer?: number };
}

/** GraphDef version written into `versions.producer` (TensorFlow 2.15's; every op used here predates it). */
export const GRAPHDEF_PRODUCER = 1645;

/** A constant tensor: the value of the `Const` node of the same name, stored in the weights manifest. */
export interface ConstTensor {
  name: string;
  dtype: "float32" | "int32";
  shape: number[];
  data: Float32Array | Int32Array;
  /**
   * Whether `--quantize` may store it with fewer bits (learned parameters: yes; priors, shapes, axes: no).
   */
  quantizable: boolean;
}

/** base64 of an ASCII string, as protobuf JSON encodes `bytes` fields. */
function base64(text: string): string {
  return btoa(text);
}

/** Encoders of the `AttrValue` cases, named by what they hold. */
export const attr = {
  dtype: (dtype: GraphDtype): AttrValue => ({ type: TF_DTYPES[dtype] }),
  string: (text: string): AttrValue => ({ s: base64(text) }),
  strings: (texts: readonly string[]): AttrValue => ({ list: { s: texts.map(base64) } }),
  int: (value: number): AttrValue => ({ i: String(checkInt(value)) }),
  ints: (values: readonly number[]): AttrValue => ({ list: { i: values.map((v) => String(checkInt(v))) } }),
  float: (value: number): AttrValue => ({ f: value }),
  bool: (value: boolean): AttrValue => ({ b: value }),
  shape: (dims: readonly number[]): AttrValue => ({ shape: shapeJson(dims) }),
  tensor: (dtype: GraphDtype, dims: readonly number[]): AttrValue => ({
    tensor: { dtype: TF_DTYPES[dtype], tensorShape: shapeJson(dims) },
  }),
};

function checkInt(value: number): number {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`GraphDef int attr must be an integer, got ${value}`);
  }
  return value;
}

/** `TensorShapeProto` JSON of `dims` (−1 = unknown size; [] = scalar, written without `dim`). */
export function shapeJson(dims: readonly number[]): TensorShapeJson {
  return dims.length ? { dim: dims.map((d) => ({ size: String(checkInt(d)) })) } : {};
}

/** TF node names: `[A-Za-z0-9.][A-Za-z0-9_.\-/>]*` (tensorflow/core/framework/node_def_util.cc). */
const NODE_NAME = /^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*$/;

/**
 * Collects the nodes of a GraphDef and the values of its constants. Every method returns the name of the node
 * it added, to be used as another node's input (`${name}:k` for output k > 0).
 */
export class GraphBuilder {
  readonly nodes: NodeDef[] = [];
  readonly constants: ConstTensor[] = [];
  readonly #names = new Set<string>();

  #add(node: NodeDef): string {
    if (!NODE_NAME.test(node.name)) throw new RangeError(`invalid GraphDef node name '${node.name}'`);
    if (this.#names.has(node.name)) throw new RangeError(`duplicate GraphDef node name '${node.name}'`);
    for (const input of node.input ?? []) {
      const source = input.replace(/:\d+$/, "");
      if (!this.#names.has(source)) throw new RangeError(`node '${node.name}': unknown input '${input}'`);
    }
    this.#names.add(node.name);
    this.nodes.push(node);
    return node.name;
  }

  /** A graph input (`Placeholder`) of the given dtype and shape (−1 for a free dimension). */
  placeholder(name: string, dtype: GraphDtype, shape: readonly number[]): string {
    return this.#add({
      name,
      op: "Placeholder",
      attr: { dtype: attr.dtype(dtype), shape: attr.shape(shape) },
    });
  }

  /**
   * An optional graph input (`PlaceholderWithDefault`): the constant `value` unless the caller feeds `name`.
   */
  placeholderWithDefault(name: string, dtype: "float32" | "int32", value: number): string {
    const def = this.constant(`${name}/default`, dtype, [], [value], false);
    return this.#add({
      name,
      op: "PlaceholderWithDefault",
      input: [def],
      attr: { dtype: attr.dtype(dtype), shape: attr.shape([]) },
    });
  }

  /**
   * A `Const` node; its value goes to the weights manifest under the same name, as tfjs-converter does.
   * @param data values in row-major order, `shape` product of them
   */
  constant(
    name: string,
    dtype: "float32" | "int32",
    shape: readonly number[],
    data: ArrayLike<number>,
    quantizable: boolean,
  ): string {
    const size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== size) {
      throw new RangeError(`constant '${name}': ${data.length} values for shape [${shape.join(", ")}]`);
    }
    const values = dtype === "float32" ? Float32Array.from(data) : Int32Array.from(data);
    this.constants.push({ name, dtype, shape: [...shape], data: values, quantizable });
    return this.#add({
      name,
      op: "Const",
      attr: { dtype: attr.dtype(dtype), value: attr.tensor(dtype, shape) },
    });
  }

  /** Any other op: `inputs` in the op's input order, `attrs` as AttrValues. */
  op(name: string, op: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}): string {
    return this.#add({ name, op, input: [...inputs], attr: attrs });
  }

  /** The GraphDef of everything added so far. */
  graphDef(): GraphDef {
    return { node: this.nodes, library: {}, versions: { producer: GRAPHDEF_PRODUCER } };
  }
}
