/**
 * Float ONNX graph + quantization record → the integer graph in QDQ form: each recorded activation
 * gets a QuantizeLinear → DequantizeLinear pair, and every convolution (and the classifier's Gemm)
 * that reads a quantized activation gets integer weights and an int32 bias behind
 * DequantizeLinear. ONNX Runtime fuses `DQ → Conv [→ Clip] → Q` into QLinearConv (the ReLU6 clip
 * disappears into the output range), residual adds into QLinearAdd and the classifier into QGemm,
 * so the model runs on integer kernels; other runtimes read the same standard QDQ graph.
 *
 * Weights keep the record's own scales when they are symmetric int8 (the Keras post-training
 * quantized model); otherwise (uint8 TF-slim and DeepLab files, calibrated float checkpoints) they
 * are re-quantized to symmetric per-channel int8.
 * Activations are uint8. Weights are uint8 too by default (int8 values shifted by 128, zero point
 * 128: the same real values): signed weights pick ONNX Runtime's U8S8 kernels, which on x86 CPUs
 * without VNNI (AVX2, AVX-512 without VNNI) multiply-add pairs of products into saturating int16
 * (`vpmaddubsw`): 255 · 127 · 2 overflows, and real photos changed their top-1 class. The U8U8
 * kernels widen to int16 before multiplying and are exact on every CPU. Where the CPU has VNNI
 * (`vpdpbusd` sums into int32, exact) the caller asks for signed weights
 * ({@link QdqOptions.signedWeights}): the U8S8 kernels then give the same integers, faster.
 */
import { MobileNetV2Error } from '../errors.js';
import { OnnxDataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { asUint8, quantizeBias, quantizeValues, symmetricWeightParams, type QuantParams } from './affine.js';
import { consumersOf, INPUT_KEY, PASS_THROUGH, type QuantizationPlan } from './points.js';
import type { QuantizationRecord } from './record.js';

/** Integer types of zero points (and of the tensors they go with). */
type ZeroType = 'uint8' | 'int8' | 'int32';
const ZERO_TYPES = { uint8: OnnxDataType.UINT8, int8: OnnxDataType.INT8, int32: OnnxDataType.INT32 } as const;
const ZERO_ARRAYS = { uint8: Uint8Array, int8: Int8Array, int32: Int32Array } as const;

/** Options of {@link quantizeGraph}. */
export interface QdqOptions {
  /**
   * Store weights as int8 (ONNX Runtime's U8S8 kernels) rather than uint8 (U8U8). Only exact where
   * the CPU has VNNI (see this file's header); default false, exact everywhere.
   */
  readonly signedWeights?: boolean;
}

/** Ops whose weights (input 1) and bias (input 2) become integers when their input is quantized. */
const WEIGHTED = new Set(['Conv', 'Gemm']);

function rawBytes(data: Float32Array | Int32Array | Int8Array | Uint8Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A float32 initializer's values (copied: decoded raw data need not be 4-byte aligned). */
function floatValues(t: TensorProto): Float32Array {
  if (t.dataType !== OnnxDataType.FLOAT) throw new MobileNetV2Error(`internal: initializer "${t.name}" is not float32`, { code: 'E_INTERNAL' });
  return new Float32Array(new Uint8Array(t.rawData).buffer);
}

/** Rewrites one graph in place. */
class QdqRewriter {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: Map<string, TensorProto>;

  constructor(
    private readonly graph: ModelProto['graph'], private readonly plan: QuantizationPlan, private readonly record: QuantizationRecord,
    private readonly signedWeights: boolean,
  ) {
    this.initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  }

  private addInitializer(name: string, dataType: number, data: Float32Array | Int32Array | Int8Array | Uint8Array, dims: number[]): string {
    this.initializers.set(name, { name, dataType, dims, rawData: rawBytes(data) });
    return name;
  }

  /** Scale and zero-point initializers of `params` (vectors when per channel). */
  private paramInitializers(prefix: string, params: QuantParams, zeroType: ZeroType): [string, string] {
    const dims = params.scale.length > 1 ? [params.scale.length] : [];
    const scale = this.addInitializer(`${prefix}.scale`, OnnxDataType.FLOAT, Float32Array.from(params.scale), dims);
    const zeros = ZERO_ARRAYS[zeroType].from(params.zero_point);
    return [scale, this.addInitializer(`${prefix}.zero_point`, ZERO_TYPES[zeroType], zeros, dims)];
  }

  private dequantize(quantized: string, output: string, params: QuantParams, zeroType: ZeroType): void {
    const [scale, zero] = this.paramInitializers(output, params, zeroType);
    const axis = params.scale.length > 1 ? { axis: 0 } : {};
    this.nodes.push(node('DequantizeLinear', [quantized, scale, zero], output, `${output}.dequantize`, axis));
  }

  /** `Q → DQ` after `producer`, whose output keeps its name and now carries quantized values. */
  private quantizeActivation(producer: NodeProto, params: QuantParams): void {
    const tensor = producer.output[0]!;
    producer.output[0] = `${tensor}.float`;
    const [scale, zero] = this.paramInitializers(`${tensor}.activation`, params, 'uint8');
    this.nodes.push(node('QuantizeLinear', [producer.output[0], scale, zero], `${tensor}.quantized`, `${tensor}.quantize`));
    this.nodes.push(node('DequantizeLinear', [`${tensor}.quantized`, scale, zero], tensor, `${tensor}.dequantize`));
  }

  /** Integer weights (+ int32 bias) of a Conv / Gemm reading an activation of scale `inputScale`. */
  private quantizeWeights(op: NodeProto, inputScale: number): void {
    const [, weightName, biasName] = op.input;
    const weight = this.initializers.get(weightName!);
    if (!weight) return;
    const values = floatValues(weight);
    const channels = weight.dims[0]!;
    const key = this.plan.weightKeys.get(op.name);
    const recorded = key === undefined ? undefined : this.record.weights[key];
    const signed = recorded && isSymmetricInt8(recorded, channels) ? recorded : symmetricWeightParams(values, channels);
    const params = this.signedWeights ? signed : asUint8(signed);
    const quantized = quantizeValues(values, params);
    this.initializers.delete(weightName!);
    const type = this.signedWeights ? 'int8' : 'uint8';
    this.dequantize(this.addInitializer(`${weightName}.quantized`, ZERO_TYPES[type], quantized, weight.dims), weightName!, params, type);
    const bias = biasName ? this.initializers.get(biasName) : undefined;
    if (!bias) return;
    const q = quantizeBias(floatValues(bias), inputScale, params);
    this.initializers.delete(biasName!);
    const biasParams: QuantParams = { dtype: 'int32', scale: q.scale, zero_point: q.scale.map(() => 0), axis: q.scale.length > 1 ? 0 : null };
    this.dequantize(this.addInitializer(`${biasName}.quantized`, OnnxDataType.INT32, q.values, bias.dims), biasName!, biasParams, 'int32');
  }

  /** A scalar float initializer's value, or `fallback` for an omitted optional input. */
  private scalarInput(name: string | undefined, fallback: number): number {
    const t = name ? this.initializers.get(name) : undefined;
    return t ? floatValues(t)[0]! : fallback;
  }

  /**
   * Whether a ReLU / Clip before a quantization to `params` clamps nothing that saturating to
   * 0..255 does not clamp: zero maps to the lowest integer and the upper bound to (or past) 255.
   */
  private clampIsSaturation(op: NodeProto, params: QuantParams): boolean {
    if (op.opType !== 'Relu' && op.opType !== 'Clip') return false;
    const lo = op.opType === 'Clip' ? this.scalarInput(op.input[1], -Infinity) : 0;
    const hi = op.opType === 'Clip' ? this.scalarInput(op.input[2], Infinity) : Infinity;
    const [scale, zero] = [params.scale[0]!, params.zero_point[0]!];
    return zero + Math.round(lo / scale) <= 0 && zero + Math.round(hi / scale) >= 255;
  }

  rewrite(): void {
    const params = new Map<string, QuantParams>();
    for (const point of this.plan.activations) {
      // The stem conv stays float: 3 input channels make a poor integer GEMM (measured slower than
      // float32), so quantization starts at its output.
      if (point.key === INPUT_KEY) continue;
      const p = this.record.activations[point.key]?.output;
      if (p && p.scale.length === 1) params.set(point.tensor, asUint8(p));
    }
    const consumers = consumersOf(this.graph.node);
    for (const op of this.graph.node) {
      const inputParams = params.get(op.input[0]!);
      if (PASS_THROUGH.has(op.opType) && inputParams && !params.has(op.output[0]!)) params.set(op.output[0]!, inputParams);
      const outParams = params.get(op.output[0]!);
      const producer = this.nodes.find((n) => n.output[0] === op.input[0]);
      if (outParams && producer && consumers.get(op.input[0]!)?.length === 1 && this.clampIsSaturation(op, outParams)) {
        // The activation only clamps to what uint8 saturation clamps anyway (TFLite's fused
        // ReLU6): drop it, so that its producer writes the quantized output directly.
        producer.output[0] = op.output[0]!;
        this.quantizeActivation(producer, outParams);
        continue;
      }
      if (WEIGHTED.has(op.opType) && inputParams) this.quantizeWeights(op, inputParams.scale[0]!);
      this.nodes.push(op);
      if (outParams) this.quantizeActivation(op, outParams);
    }
    this.graph.node = this.nodes;
    // Dropped clamps leave their bounds unused; ONNX Runtime warns about unused initializers.
    const used = new Set(this.nodes.flatMap((n) => n.input));
    this.graph.initializer = [...this.initializers.values()].filter((t) => used.has(t.name));
  }
}

/**
 * Whether recorded weight parameters can be used as they are: symmetric int8 weights (zero point
 * 0), one scale or one per output channel, since ONNX Runtime's integer convolutions take one
 * zero point for all channels.
 */
function isSymmetricInt8(params: QuantParams, channels: number): boolean {
  return params.dtype === 'int8' && params.zero_point.every((z) => z === 0) && (params.scale.length === 1 || params.scale.length === channels);
}

function node(opType: string, input: string[], output: string, name: string, attrs: { axis?: number } = {}): NodeProto {
  const attribute = attrs.axis === undefined ? [] : [{ name: 'axis', type: 2, i: attrs.axis }];
  return { opType, name, input, output: [output], attribute };
}

/**
 * Turns a float graph built by this library (with the plan its builder recorded) into its integer
 * (QDQ) version, in place, quantized as `record` says. Activations the record has no entry for
 * stay float, so every graph request (hidden states, segmentation head) still runs; inputs and
 * outputs stay float32 with the same names.
 */
export function quantizeGraph(model: ModelProto, plan: QuantizationPlan, record: QuantizationRecord, options: QdqOptions = {}): ModelProto {
  new QdqRewriter(model.graph, plan, record, options.signedWeights ?? false).rewrite();
  model.metadataProps = [...(model.metadataProps ?? []), { key: 'quantization', value: `int8 (QDQ) from ${record.source}` }];
  return model;
}
