/**
 * A small builder for ONNX graphs: named inputs, float initializers, nodes with int, ints or
 * string attributes, outputs. Inputs, outputs and scalars are float32, or float64 for a builder
 * made with `{ float: 'float64' }` (the training graphs' finite-difference checks). Tensor names are generated from the node name so that a graph dump
 * reads like transformers' module tree (`layer.3.conv_3x3`). It returns the `ModelProto` itself,
 * so that later passes (quantization, calibration outputs) edit it before the one final encode.
 */
import {
  OnnxAttributeType, OnnxDataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from './proto.js';

/** Attribute values accepted by {@link GraphBuilder.node} (every attribute this library emits is one of these). */
export type AttributeValue = number | number[] | string;

/** A graph dimension: a fixed size or a symbolic name such as `"batch"`. */
export type Dim = number | string;

/** Opset this library targets; ONNX Runtime 1.17+ implements it fully. */
export const OPSET = 17;

function attribute(name: string, value: AttributeValue): AttributeProto {
  if (typeof value === 'number') return { name, type: OnnxAttributeType.INT, i: value };
  if (typeof value === 'string') return { name, type: OnnxAttributeType.STRING, s: new TextEncoder().encode(value) };
  return { name, type: OnnxAttributeType.INTS, ints: value };
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Float element type of a graph's inputs, outputs and scalar constants. */
export type FloatType = 'float32' | 'float64';

/** Little-endian bytes of a typed array (ONNX raw_data is always little-endian, as is every JS host we run on). */
function rawBytes(data: Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Accumulates nodes and initializers, then encodes an ONNX model. */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly constants = new Set<string>();
  private readonly usedNames = new Set<string>();
  /** ONNX element type of inputs, outputs and scalars. */
  private readonly elemType: number;

  constructor(private readonly options: { readonly float?: FloatType } = {}) {
    this.elemType = options.float === 'float64' ? OnnxDataType.DOUBLE : OnnxDataType.FLOAT;
  }

  /** ONNX element type code of this graph's floats (for `Cast`). */
  get floatType(): number {
    return this.elemType;
  }

  /** Declares a float graph input and returns its name. */
  input(name: string, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, this.elemType, dims));
    return name;
  }

  /** Declares `name` (a tensor some node produces) as a float graph output. */
  output(name: string, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, this.elemType, dims));
  }

  /** Adds a float32 initializer (a weight) and returns its name. */
  initializer(name: string, data: Float32Array, dims: readonly number[]): string {
    this.initializers.push({ name, dataType: OnnxDataType.FLOAT, dims: [...dims], rawData: rawBytes(data) });
    return name;
  }

  /** A shared scalar float constant (e.g. Clip's bounds) in the graph's float type, created once per value. */
  scalar(value: number): string {
    return this.constant(`const_${value}`, () => {
      const data = this.options.float === 'float64' ? new Float64Array([value]) : new Float32Array([value]);
      return { dataType: this.elemType, dims: [], rawData: rawBytes(data) };
    });
  }

  /** A shared 1-D int64 constant (shapes, axes, pads, slice bounds), created once per value list. */
  int64s(values: readonly number[]): string {
    return this.constant(`const_i64_${values.join('_')}`, () => (
      { dataType: OnnxDataType.INT64, dims: [values.length], rawData: rawBytes(BigInt64Array.from(values, (v) => BigInt(v))) }
    ));
  }

  private constant(name: string, make: () => Omit<TensorProto, 'name'>): string {
    if (!this.constants.has(name)) {
      this.initializers.push({ name, ...make() });
      this.constants.add(name);
    }
    return name;
  }

  /**
   * Adds a node `opType(inputs)` named `name` (made unique) and returns its single output, named
   * after the node. Empty strings in `inputs` are ONNX's "optional input omitted".
   */
  node(opType: string, inputs: readonly string[], name: string, attributes: Record<string, AttributeValue> = {}): string {
    let unique = name;
    for (let k = 1; this.usedNames.has(unique); k++) unique = `${name}_${k}`;
    this.usedNames.add(unique);
    this.nodes.push({
      opType, name: unique, input: [...inputs], output: [unique],
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return unique;
  }

  /** Renames the output of the node that produced `tensor`, so it can carry a public output name. */
  rename(tensor: string, newName: string): string {
    for (const node of this.nodes) {
      node.input = node.input.map((n) => (n === tensor ? newName : n));
      node.output = node.output.map((n) => (n === tensor ? newName : n));
    }
    return newName;
  }

  /** The graph as an ONNX model (encode it with `encodeModel`). */
  build(graphName: string): ModelProto {
    return {
      irVersion: 8,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'mobilenet-v2',
      graph: { name: graphName, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    };
  }
}
