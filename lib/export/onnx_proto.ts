/**
 * Writing ONNX models: a small builder of an `onnx.GraphProto` (initializers, nodes, typed inputs and outputs)
 * and the `onnx.ModelProto` around it, encoded by `onnx-proto` (npm, 8.0.1): the protobufjs static module
 * generated from the official `onnx.proto3` of ONNX v1.10.2 (IR version 8), so the bytes come from a maintained
 * protobuf library and the official schema, not a hand-written encoder. Tensors are stored as little-endian
 * `raw_data` (ONNX's rule for raw data); names are the graph's tensor names (a node's outputs are `name`,
 * `name:1`, …).
 * @module
 */
import onnxProto from "onnx-proto";
import type { onnx as OnnxTypes } from "onnx-proto";

/** The generated `onnx` namespace (message classes, enums). */
export const onnx = onnxProto.onnx;

/** The message types of the generated module (`onnx.IModelProto`, …), for type annotations. */
export type { OnnxTypes };

/** The operator set the exported graphs use: ONNX opset 13 (ONNX 1.8), read by every current runtime. */
export const ONNX_OPSET = 13;
/** IR version of opset 13 (ONNX 1.8); the runtimes of later versions read it. */
export const ONNX_IR_VERSION = 7;

/** Element types used here, by their TypedArray-ish names. */
export type OnnxDtype = "float32" | "float16" | "float64" | "uint8" | "int64" | "bool";
const ELEM: Readonly<Record<OnnxDtype, number>> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  float64: onnx.TensorProto.DataType.DOUBLE,
  uint8: onnx.TensorProto.DataType.UINT8,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** The ONNX `TensorProto.DataType` number of a dtype (e.g. for `Cast`'s `to`). */
export function onnxElemType(dtype: OnnxDtype): number {
  return ELEM[dtype];
}

/** An attribute value: an int, a float, a string, or a list of ints. */
export type OnnxAttr = { int: number } | { float: number } | { string: string } | { ints: readonly number[] };

const A = onnx.AttributeProto.AttributeType;

function attributeProto(name: string, v: OnnxAttr): OnnxTypes.AttributeProto {
  if ("int" in v) return onnx.AttributeProto.create({ name, type: A.INT, i: checkInt(v.int) });
  if ("float" in v) return onnx.AttributeProto.create({ name, type: A.FLOAT, f: v.float });
  if ("string" in v) {
    return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(v.string) });
  }
  return onnx.AttributeProto.create({ name, type: A.INTS, ints: v.ints.map(checkInt) });
}

function checkInt(v: number): number {
  if (!Number.isSafeInteger(v)) throw new RangeError(`ONNX int attribute must be an integer, got ${v}`);
  return v;
}

/** A dimension of a graph input/output: a size, or a named free dimension (`"N"`). */
export type OnnxDim = number | string;

/** Bytes of a typed array as they lie in memory (little-endian on every platform Deno runs on). */
function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const BYTES: Readonly<Record<OnnxDtype, number>> = {
  float32: 4,
  float16: 2,
  float64: 8,
  uint8: 1,
  int64: 8,
  bool: 1,
};

/** Collects a graph; every method returns the name of the tensor it made. */
export class OnnxGraphBuilder {
  readonly nodes: OnnxTypes.NodeProto[] = [];
  readonly initializers: OnnxTypes.TensorProto[] = [];
  readonly inputs: OnnxTypes.ValueInfoProto[] = [];
  readonly outputs: OnnxTypes.ValueInfoProto[] = [];
  readonly #names = new Set<string>();

  #claim(name: string): string {
    if (!name) throw new RangeError("empty ONNX tensor name");
    if (this.#names.has(name)) throw new RangeError(`duplicate ONNX tensor name '${name}'`);
    this.#names.add(name);
    return name;
  }

  #known(name: string, user: string): void {
    if (!this.#names.has(name)) throw new RangeError(`${user}: unknown input '${name}'`);
  }

  /**
   * A constant tensor (an initializer).
   * @param data the values in row-major order: Float32Array (float32), Uint16Array of half-float bits
   *   (float16), Float64Array, Uint8Array (uint8, bool), BigInt64Array (int64)
   */
  initializer(name: string, dtype: OnnxDtype, dims: readonly number[], data: ArrayBufferView): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (data.byteLength !== size * BYTES[dtype]) {
      throw new RangeError(
        `initializer '${name}': ${data.byteLength} bytes for ${dtype} [${dims.join(", ")}] (${size} values)`,
      );
    }
    this.initializers.push(onnx.TensorProto.create({
      name: this.#claim(name),
      dataType: ELEM[dtype],
      dims: [...dims],
      rawData: bytesOf(data),
    }));
    return name;
  }

  /** An int64 constant: a scalar (`dims` []) or a vector. */
  int64(name: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.initializer(name, "int64", dims, BigInt64Array.from(values, (v) => BigInt(checkInt(v))));
  }

  /** A float32 constant: a scalar (`dims` []) or a tensor. */
  float32(name: string, values: ArrayLike<number>, dims: readonly number[] = []): string {
    return this.initializer(name, "float32", dims, Float32Array.from(values));
  }

  /** A graph input (required). */
  input(name: string, dtype: OnnxDtype, dims: readonly OnnxDim[], doc: string): string {
    this.inputs.push(valueInfo(this.#claim(name), dtype, dims, doc));
    return name;
  }

  /** Marks the tensor `name` as a graph output. */
  output(name: string, dtype: OnnxDtype, dims: readonly OnnxDim[], doc: string): void {
    this.#known(name, "output");
    this.outputs.push(valueInfo(name, dtype, dims, doc));
  }

  /**
   * A node named `name` with `outputs` results, named `name`, `name:1`, … (or `name` exactly when it is to be
   * a graph output).
   * @returns the names of its outputs
   */
  node(
    op: string,
    name: string,
    inputs: readonly string[],
    attrs: Record<string, OnnxAttr> = {},
    outputs = 1,
  ): string[] {
    for (const i of inputs) if (i !== "") this.#known(i, `node '${name}'`);
    const outs = Array.from({ length: outputs }, (_, k) => this.#claim(k === 0 ? name : `${name}:${k}`));
    this.nodes.push(onnx.NodeProto.create({
      name,
      opType: op,
      input: [...inputs],
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attributeProto(k, v)),
    }));
    return outs;
  }

  /** A one-output node; returns its output's name. */
  op(op: string, name: string, inputs: readonly string[], attrs: Record<string, OnnxAttr> = {}): string {
    return this.node(op, name, inputs, attrs, 1)[0];
  }

  /** The model: this graph, opset {@link ONNX_OPSET}, and `metadata` as `metadata_props`. */
  model(opts: {
    graphName: string;
    producerName: string;
    producerVersion: string;
    doc: string;
    metadata: Record<string, string>;
  }): OnnxTypes.ModelProto {
    return onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: "", version: ONNX_OPSET }],
      producerName: opts.producerName,
      producerVersion: opts.producerVersion,
      docString: opts.doc,
      graph: {
        name: opts.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadataProps: Object.entries(opts.metadata).map(([key, value]) => ({ key, value })),
    });
  }
}

function valueInfo(name: string, dtype: OnnxDtype, dims: readonly OnnxDim[], doc: string) {
  return onnx.ValueInfoProto.create({
    name,
    docString: doc,
    type: {
      tensorType: {
        elemType: ELEM[dtype],
        shape: { dim: dims.map((d) => typeof d === "string" ? { dimParam: d } : { dimValue: checkInt(d) }) },
      },
    },
  });
}

/** The protobuf bytes of a model. */
export function encodeOnnxModel(model: OnnxTypes.ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Parses protobuf bytes as a model (for checks and tests). */
export function decodeOnnxModel(bytes: Uint8Array): OnnxTypes.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
