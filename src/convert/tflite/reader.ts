/**
 * Reads a TensorFlow Lite flatbuffer into plain objects: the tensors (shape, type, quantization,
 * constant data), the operators of the main subgraph with the options the importer needs, and the
 * files of a zip archive appended to the model (TFLite metadata keeps its label files there).
 *
 * The generated accessors (schema/schema_generated.ts) trust every offset in the file; a truncated or
 * corrupt file would silently read `undefined` bytes as zeros. {@link CheckedByteBuffer} makes every
 * out-of-range read, vector or string throw instead, and everything the importer uses is validated
 * here (tensor shapes and buffer sizes, tensor and buffer indices, quantization parameters, operators
 * reading only what earlier operators wrote), so a bad file ends in a {@link MobileNetV2Error} with
 * code `E_CHECKPOINT_CORRUPT` naming the file and the tensor or operator, never a hang.
 */
import { ByteBuffer } from 'flatbuffers';
import { unzipSync } from 'fflate';
import { LIMITS } from '../../config/limits.js';
import { MobileNetV2Error } from '../../errors.js';
import { checkedNumel } from '../../tensor.js';
import { checkFile } from '../../weights/limits.js';
import {
  ActivationFunctionType,
  AddOptions,
  BuiltinOperator,
  BuiltinOptions,
  ConcatenationOptions,
  Conv2DOptions,
  DepthwiseConv2DOptions,
  Model,
  Operator,
  Padding,
  Pool2DOptions,
  ReducerOptions,
  ResizeBilinearOptions,
  SoftmaxOptions,
  TensorType,
  type QuantizationParameters,
  type Tensor as FbTensor,
} from './schema/schema_generated.js';

/** Affine quantization of a tensor: `real = scale[c] * (q - zeroPoint[c])` along `quantizedDimension`. */
export interface TfliteQuantization {
  /** One scale per tensor, or one per slice along `quantizedDimension`. */
  readonly scale: readonly number[];
  /** Zero points, as many as `scale`. */
  readonly zeroPoint: readonly number[];
  /** The axis the per-channel parameters run along (meaningless for per-tensor quantization). */
  readonly quantizedDimension: number;
}

/** A tensor of the main subgraph. */
export interface TfliteTensor {
  /** Position in the subgraph's tensor list (what operators refer to). */
  readonly index: number;
  /** Name; fused TF ops join several names with `;`. */
  readonly name: string;
  /** Dimensions (NHWC for activations, OHWI / 1HWC for convolution weights). */
  readonly shape: readonly number[];
  /** Element type, e.g. `FLOAT32`, `UINT8`, `INT8`, `INT32` (TFLite's `TensorType` names). */
  readonly type: string;
  /** Raw little-endian contents of a constant tensor; `undefined` for activations. */
  readonly data: Uint8Array | undefined;
  /** Quantization parameters, when the tensor has any. */
  readonly quantization: TfliteQuantization | undefined;
}

/** Builtin-option values of an operator that the importer looks at (absent when the op has none). */
export interface TfliteOptions {
  /** Convolution / pooling padding scheme. */
  padding?: 'SAME' | 'VALID';
  /** Vertical stride. */
  strideH?: number;
  /** Horizontal stride. */
  strideW?: number;
  /** Vertical dilation factor. */
  dilationH?: number;
  /** Horizontal dilation factor. */
  dilationW?: number;
  /** Fused activation: `NONE`, `RELU`, `RELU6`, … (TFLite's `ActivationFunctionType` names). */
  activation?: string;
  /** Pooling window height. */
  filterH?: number;
  /** Pooling window width. */
  filterW?: number;
  /** Channel multiplier of a depthwise convolution. */
  depthMultiplier?: number;
  /** Concatenation axis. */
  axis?: number;
  /** Whether a reduction (MEAN) keeps the reduced dimensions. */
  keepDims?: boolean;
  /** RESIZE_BILINEAR corner alignment. */
  alignCorners?: boolean;
  /** RESIZE_BILINEAR half-pixel centres. */
  halfPixelCenters?: boolean;
  /** SOFTMAX temperature. */
  beta?: number;
}

/** An operator of the main subgraph, in execution order. */
export interface TfliteOperator {
  /** Position in the subgraph's operator list. */
  readonly index: number;
  /** Builtin operator name (`CONV_2D`, `DEPTHWISE_CONV_2D`, …) or `CUSTOM:<code>`. */
  readonly op: string;
  /** Input tensor indices; `-1` marks an omitted optional input. */
  readonly inputs: readonly number[];
  /** Output tensor indices. */
  readonly outputs: readonly number[];
  /** Decoded builtin options. */
  readonly options: TfliteOptions;
}

/** The parts of a TFLite model the importer needs. */
export interface TfliteModel {
  /** Schema version (3 for every current converter). */
  readonly version: number;
  /** The model's description string (often the converter's name). */
  readonly description: string;
  /** Number of subgraphs in the file; only the first (main) one is read. */
  readonly subgraphCount: number;
  /** Tensors of the main subgraph. */
  readonly tensors: readonly TfliteTensor[];
  /** Operators of the main subgraph, in execution order. */
  readonly operators: readonly TfliteOperator[];
  /** Indices of the graph's input tensors. */
  readonly inputs: readonly number[];
  /** Indices of the graph's output tensors. */
  readonly outputs: readonly number[];
  /** Files of a zip archive appended to the flatbuffer (TFLite metadata, e.g. label files), by name. */
  readonly associatedFiles: ReadonlyMap<string, Uint8Array>;
}

/** Bytes per element of the TFLite tensor types whose constant data the reader checks against the shape. */
const ITEM_SIZES: Readonly<Record<string, number>> = {
  FLOAT32: 4, FLOAT16: 2, FLOAT64: 8, INT64: 8, INT32: 4, INT16: 2, INT8: 1, UINT64: 8, UINT32: 4, UINT16: 2, UINT8: 1, BOOL: 1,
};

/**
 * A ByteBuffer whose reads fail loudly past the end of the file instead of yielding zeros. Every
 * scalar read of the generated code goes through the three overridden reads; vectors and strings
 * are also checked to lie inside the file, so no length read from the file can drive a huge loop.
 */
class CheckedByteBuffer extends ByteBuffer {
  constructor(private readonly data: Uint8Array, private readonly source: string) {
    super(data);
  }

  private need(offset: number, size: number): void {
    checkFile(offset >= 0 && offset + size <= this.data.length,
      () => `${this.source}: truncated or corrupt TFLite file (read of ${size} bytes at offset ${offset}, file has ${this.data.length})`);
  }

  override __vector_len(offset: number): number {
    const length = super.__vector_len(offset);
    this.need(this.__vector(offset), length); // each element takes at least one byte
    return length;
  }

  override __string(offset: number, encoding?: Parameters<ByteBuffer['__string']>[1]): string | Uint8Array {
    const start = offset + this.readInt32(offset);
    this.need(start + 4, this.readInt32(start));
    return super.__string(offset, encoding);
  }

  override readUint8(offset: number): number {
    this.need(offset, 1);
    return super.readUint8(offset);
  }

  override readUint16(offset: number): number {
    this.need(offset, 2);
    return super.readUint16(offset);
  }

  override readInt32(offset: number): number {
    this.need(offset, 4);
    return super.readInt32(offset);
  }
}

/**
 * Parses a `.tflite` file. Throws {@link MobileNetV2Error} naming `source` when the bytes are not a
 * TFLite flatbuffer (no `TFL3` identifier), are truncated, or refer to tensors/buffers that do not exist.
 */
export function readTflite(bytes: Uint8Array, source: string): TfliteModel {
  checkFile(bytes.length >= 8, `${source}: not a TFLite file (only ${bytes.length} bytes)`);
  const bb = new CheckedByteBuffer(bytes, source);
  checkFile(Model.bufferHasIdentifier(bb), `${source}: not a TFLite file (no "TFL3" flatbuffer identifier at byte 4)`);
  try {
    return parseModel(Model.getRootAsModel(bb), bytes, source);
  } catch (err) {
    if (err instanceof MobileNetV2Error) throw err;
    // The generated accessors can still fail on nonsense offsets the checks above do not foresee.
    throw new MobileNetV2Error(`${source}: corrupt TFLite file (${err instanceof Error ? err.message : String(err)})`,
      { code: 'E_CHECKPOINT_CORRUPT', cause: err });
  }
}

function parseModel(model: Model, bytes: Uint8Array, source: string): TfliteModel {
  checkFile(model.subgraphsLength() > 0, `${source}: TFLite file has no subgraph`);
  const graph = model.subgraphs(0)!;
  const opNames: string[] = [];
  for (let i = 0; i < model.operatorCodesLength(); i++) {
    const code = model.operatorCodes(i)!;
    // Codes above 127 only fit the newer int32 field; older files only fill the deprecated int8 one.
    const builtin = Math.max(code.builtinCode(), code.deprecatedBuiltinCode());
    opNames.push(
      builtin === (BuiltinOperator.CUSTOM as number) ? `CUSTOM:${code.customCode() ?? ''}` : (BuiltinOperator[builtin] ?? `BUILTIN_${builtin}`),
    );
  }
  const tensors: TfliteTensor[] = [];
  for (let i = 0; i < graph.tensorsLength(); i++) tensors.push(parseTensor(model, graph.tensors(i)!, i, bytes, source));
  // -1 marks an omitted optional operator input; graph inputs and outputs must be real tensors.
  const tensorIndex = (t: number, what: string): number => {
    checkFile(t >= (what.startsWith('graph') ? 0 : -1) && t < tensors.length,
      () => `${source}: ${what} refers to tensor ${t}, but the graph has ${tensors.length}`);
    return t;
  };
  const operators: TfliteOperator[] = [];
  for (let i = 0; i < graph.operatorsLength(); i++) {
    const op = graph.operators(i)!;
    const code = op.opcodeIndex();
    checkFile(code < opNames.length, () => `${source}: operator ${i} has opcode index ${code}, but the file defines ${opNames.length}`);
    operators.push({
      index: i,
      op: opNames[code]!,
      inputs: readInts(op.inputsLength(), (k) => op.inputs(k)!).map((t) => tensorIndex(t, `operator ${i}`)),
      outputs: readInts(op.outputsLength(), (k) => op.outputs(k)!).map((t) => tensorIndex(t, `operator ${i}`)),
      options: parseOptions(op),
    });
  }
  checkExecutionOrder(operators, tensors, source);
  return {
    version: model.version(),
    description: model.description() ?? '',
    subgraphCount: model.subgraphsLength(),
    tensors,
    operators,
    inputs: readInts(graph.inputsLength(), (k) => graph.inputs(k)!).map((t) => tensorIndex(t, 'graph input')),
    outputs: readInts(graph.outputsLength(), (k) => graph.outputs(k)!).map((t) => tensorIndex(t, 'graph output')),
    associatedFiles: readAppendedZip(bytes),
  };
}

function readInts(length: number, at: (i: number) => number): number[] {
  return Array.from({ length }, (_, i) => at(i));
}

/**
 * Checks that the operators run in a valid order: each tensor written by at most one operator, and
 * every operator reading only tensors written by an earlier one (or constants and graph inputs).
 * This rules out cycles, such as an operator reading its own output, so that every walk from a
 * tensor to its producers (graph.ts) moves strictly backwards and ends.
 */
function checkExecutionOrder(operators: readonly TfliteOperator[], tensors: readonly TfliteTensor[], source: string): void {
  const writer = new Map<number, number>();
  const tensorName = (t: number): string => `tensor ${t} "${tensors[t]!.name.split(';')[0]}"`;
  for (const op of operators) {
    for (const t of op.outputs) {
      checkFile(t >= 0 && !writer.has(t), () => (t < 0
        ? `${source}: operator ${op.index} (${op.op}) has an omitted output`
        : `${source}: operators ${writer.get(t)} and ${op.index} (${op.op}) both write ${tensorName(t)}`));
      writer.set(t, op.index);
    }
  }
  for (const op of operators) {
    for (const t of op.inputs) {
      const w = writer.get(t);
      checkFile(w === undefined || w < op.index, () => `${source}: operator ${op.index} (${op.op}) reads ${tensorName(t)}, ` +
        `which ${w === op.index ? 'it writes itself' : `the later operator ${w} writes`} (a cycle in the graph)`);
    }
  }
}

function parseTensor(model: Model, t: FbTensor, index: number, bytes: Uint8Array, source: string): TfliteTensor {
  const name = t.name() ?? `tensor_${index}`;
  const what = `${source}: tensor ${index} "${name.split(';')[0]}"`;
  const bufferIndex = t.buffer();
  checkFile(bufferIndex < model.buffersLength(), () => `${what} uses buffer ${bufferIndex}, but the file has ${model.buffersLength()}`);
  const shape = readInts(t.shapeLength(), (k) => t.shape(k)!);
  const elements = checkedNumel(shape, what, 'E_CHECKPOINT_CORRUPT');
  const type = TensorType[t.type()] ?? `TYPE_${t.type()}`;
  // Buffer 0 is the empty sentinel every activation points at.
  const data = bufferIndex === 0 ? undefined : bufferData(model, bufferIndex, bytes, what);
  const itemSize = ITEM_SIZES[type];
  checkFile(data === undefined || itemSize === undefined || data.length === elements * itemSize,
    () => `${what}: ${data!.length} bytes of data, but shape [${shape.join(', ')}] of ${type} needs ${elements * itemSize!}`);
  return { index, name, shape, type, data, quantization: parseQuantization(t.quantization(), shape, what) };
}

/** Constant data of a buffer: inline in the flatbuffer, or (files over 2 GB) at an absolute file offset. */
function bufferData(model: Model, bufferIndex: number, bytes: Uint8Array, what: string): Uint8Array | undefined {
  const buffer = model.buffers(bufferIndex)!;
  const external = Number(buffer.offset());
  if (external > 1) {
    const size = Number(buffer.size());
    checkFile(external + size <= bytes.length, () => `${what}: data at bytes ${external}..${external + size} lies past the end of the file (truncated?)`);
    return bytes.subarray(external, external + size);
  }
  const length = buffer.dataLength();
  if (length === 0) return undefined;
  buffer.data(length - 1); // bounds-checked read of the last byte: a truncated file fails here
  const data = buffer.dataArray()!;
  checkFile(data.byteOffset - bytes.byteOffset + data.length <= bytes.length, `${what}: data lies past the end of the file (truncated?)`);
  return data;
}

/** Quantization parameters, checked: finite scales, as many integer zero points, an axis of the shape. */
function parseQuantization(q: QuantizationParameters | null, shape: readonly number[], what: string): TfliteQuantization | undefined {
  if (!q || q.scaleLength() === 0) return undefined;
  const scale = readInts(q.scaleLength(), (k) => q.scale(k)!);
  // Some converters omit zero points for symmetric quantization; they are then 0.
  const zeroPoint = q.zeroPointLength() === 0 ? scale.map(() => 0) : readInts(q.zeroPointLength(), (k) => Number(q.zeroPoint(k)!));
  const axis = q.quantizedDimension();
  checkFile(scale.every(Number.isFinite) && zeroPoint.every(Number.isSafeInteger) && zeroPoint.length === scale.length,
    () => `${what}: invalid quantization (${scale.length} scales, ${zeroPoint.length} zero points, non-finite or non-integer values)`);
  checkFile(scale.length === 1 || (axis < shape.length && shape[axis] === scale.length),
    () => `${what}: ${scale.length} quantization scales along dimension ${axis} of shape [${shape.join(', ')}]`);
  return { scale, zeroPoint, quantizedDimension: axis };
}

function activation(type: ActivationFunctionType): string {
  return ActivationFunctionType[type] ?? `ACTIVATION_${type}`;
}

function padding(p: Padding): 'SAME' | 'VALID' {
  return p === Padding.VALID ? 'VALID' : 'SAME';
}

function parseOptions(op: Operator): TfliteOptions {
  switch (op.builtinOptionsType()) {
    case BuiltinOptions.Conv2DOptions: {
      const o = op.builtinOptions(new Conv2DOptions()) as Conv2DOptions;
      return {
        padding: padding(o.padding()), strideH: o.strideH(), strideW: o.strideW(),
        dilationH: o.dilationHFactor(), dilationW: o.dilationWFactor(), activation: activation(o.fusedActivationFunction()),
      };
    }
    case BuiltinOptions.DepthwiseConv2DOptions: {
      const o = op.builtinOptions(new DepthwiseConv2DOptions()) as DepthwiseConv2DOptions;
      return {
        padding: padding(o.padding()), strideH: o.strideH(), strideW: o.strideW(),
        dilationH: o.dilationHFactor(), dilationW: o.dilationWFactor(), activation: activation(o.fusedActivationFunction()),
        depthMultiplier: o.depthMultiplier(),
      };
    }
    case BuiltinOptions.Pool2DOptions: {
      const o = op.builtinOptions(new Pool2DOptions()) as Pool2DOptions;
      return {
        padding: padding(o.padding()), strideH: o.strideH(), strideW: o.strideW(),
        filterH: o.filterHeight(), filterW: o.filterWidth(), activation: activation(o.fusedActivationFunction()),
      };
    }
    case BuiltinOptions.AddOptions: {
      const o = op.builtinOptions(new AddOptions()) as AddOptions;
      return { activation: activation(o.fusedActivationFunction()) };
    }
    case BuiltinOptions.ConcatenationOptions: {
      const o = op.builtinOptions(new ConcatenationOptions()) as ConcatenationOptions;
      return { axis: o.axis(), activation: activation(o.fusedActivationFunction()) };
    }
    case BuiltinOptions.ResizeBilinearOptions: {
      const o = op.builtinOptions(new ResizeBilinearOptions()) as ResizeBilinearOptions;
      return { alignCorners: o.alignCorners(), halfPixelCenters: o.halfPixelCenters() };
    }
    case BuiltinOptions.ReducerOptions: {
      const o = op.builtinOptions(new ReducerOptions()) as ReducerOptions;
      return { keepDims: o.keepDims() };
    }
    case BuiltinOptions.SoftmaxOptions: {
      const o = op.builtinOptions(new SoftmaxOptions()) as SoftmaxOptions;
      return { beta: o.beta() };
    }
    default:
      return {};
  }
}

/**
 * The files of a zip appended to the model (TFLite metadata); empty when there is none or it is
 * damaged. Files above {@link LIMITS}.maxAssociatedFileBytes are skipped, and a directory listing
 * more than {@link LIMITS}.maxAssociatedFiles entries counts as damaged (it would loop that often).
 */
function readAppendedZip(bytes: Uint8Array): Map<string, Uint8Array> {
  let entries = 0;
  const filter = (file: { originalSize: number }): boolean => {
    if (++entries > LIMITS.maxAssociatedFiles) throw new Error('too many zip entries');
    return file.originalSize <= LIMITS.maxAssociatedFileBytes;
  };
  try {
    return new Map(Object.entries(unzipSync(bytes, { filter })));
  } catch {
    return new Map(); // no zip (the common case) or a broken one: labels then come from the built-in lists
  }
}
