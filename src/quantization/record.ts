/**
 * The quantization a TFLite file carries, recorded against transformers' names so that an integer
 * runtime (ONNX QLinearConv / QDQ) can later rebuild the converted checkpoint as the integer model it
 * came from. Saved as a JSON string in model.safetensors' `__metadata__` under
 * {@link QUANTIZATION_METADATA_KEY} (transformers only looks at the `format` entry there, and the
 * record travels with the weights when our models re-save them). The format is described in
 * README.md next to this file.
 */
import { MobileNetV2Error } from '../../errors.js';
import type { MobileNetV2Graph } from './graph.js';
import type { TfliteTensor } from './reader.js';
import { moduleKeys } from './weights.js';

/** The safetensors `__metadata__` key holding the record's JSON. */
export const QUANTIZATION_METADATA_KEY = 'tflite_quantization';
const FORMAT = 'mobilenet-v2/tflite-quantization';

/** Affine quantization of one tensor: `real = scale[c] · (q − zero_point[c])`. */
export interface QuantParams {
  /** Storage type of the integers: `uint8`, `int8` or `int32` (biases). */
  readonly dtype: string;
  /** One scale (per tensor) or one per channel along `axis`. */
  readonly scale: number[];
  /** Zero points, as many as `scale`. */
  readonly zero_point: number[];
  /** Axis of the per-channel parameters in the checkpoint tensor's layout; null for per-tensor. */
  readonly axis: number | null;
}

/** Quantization of a node's activations. */
export interface ActivationQuant {
  /** The tensor(s) the node reads, in input order. */
  readonly inputs: QuantParams[];
  /** The tensor it writes (for convolutions: after the fused ReLU/ReLU6). */
  readonly output: QuantParams;
}

/** Everything an integer graph needs, keyed by transformers' names (see README.md). */
export interface QuantizationRecord {
  /** Identifies the format; bumped if it ever changes incompatibly. */
  readonly format: typeof FORMAT;
  /** Format version. */
  readonly version: 1;
  /** The converted file's name. */
  readonly source: string;
  /** The model input (the pixels the TFLite model takes, NHWC). */
  readonly input: QuantParams;
  /** The model output (e.g. the uint8 softmax), when quantized. */
  readonly output: QuantParams | null;
  /** Per checkpoint key: weights (axis in PyTorch layout) and the int32 biases. */
  readonly weights: Record<string, QuantParams>;
  /** Per module (`mobilenet_v2.layer.3.expand_1x1`) or op (`mobilenet_v2.layer.3` = residual add, pooling, …). */
  readonly activations: Record<string, ActivationQuant>;
}

/** The dtype names of the library, from TFLite's. */
function dtypeName(t: TfliteTensor): string {
  return t.type.toLowerCase();
}

/** A tensor's parameters; `axisMap` turns the TFLite axis into the checkpoint layout's. */
function params(t: TfliteTensor, axisMap: (axis: number) => number = (a) => a): QuantParams | null {
  const q = t.quantization;
  if (!q) return null;
  const perChannel = q.scale.length > 1;
  return { dtype: dtypeName(t), scale: [...q.scale], zero_point: [...q.zeroPoint], axis: perChannel ? axisMap(q.quantizedDimension) : null };
}

// OHWI → OIHW and 1HWC → C1HW move the output-channel axis to 0, where TFLite's per-channel axis
// points (0 for CONV_2D, 3 for DEPTHWISE_CONV_2D); biases are 1-D.
const CHANNEL_AXIS = (): number => 0;

/** Module paths of the checkpoint (backbone modules get the `mobilenet_v2.` prefix). */
function checkpointName(name: string): string {
  return name.startsWith('segmentation_head.') || name === 'classifier' ? name : `mobilenet_v2.${name}`;
}

/**
 * Collects the record, or returns undefined for a float model (no quantized weights). Weights and
 * biases are listed under the checkpoint keys {@link moduleKeys} gives them.
 */
export function quantizationRecord(graph: MobileNetV2Graph, source: string): QuantizationRecord | undefined {
  const quantized = [...graph.convs.values()].some((n) => n.weight.quantization && n.weight.type !== 'FLOAT32');
  const input = params(graph.input);
  if (!quantized || !input) return undefined;
  const weights: Record<string, QuantParams> = {};
  const activations: Record<string, ActivationQuant> = {};
  const activation = (inputs: readonly TfliteTensor[], output: TfliteTensor): ActivationQuant | null => {
    const all = [...inputs.map((t) => params(t)), params(output)];
    return all.every((p) => p !== null) ? { inputs: all.slice(0, -1) as QuantParams[], output: all.at(-1) as QuantParams } : null;
  };
  for (const node of graph.convs.values()) {
    const keys = moduleKeys(node.module);
    const weight = params(node.weight, CHANNEL_AXIS);
    const bias = node.bias && params(node.bias, CHANNEL_AXIS);
    if (weight) weights[keys.weight] = weight;
    if (bias) weights[keys.bias] = bias;
    const act = activation([node.input], node.output);
    if (act) activations[checkpointName(node.module)] = act;
  }
  for (const node of graph.auxNodes) {
    const act = activation(node.inputs.filter((t) => !t.data), node.output);
    if (act) activations[checkpointName(node.name)] = act;
  }
  return {
    format: FORMAT, version: 1, source, input, output: params(graph.output), weights, activations,
  };
}

/**
 * The record stored in a checkpoint's safetensors metadata, or undefined when there is none (a
 * float model, or a checkpoint that did not come from TFLite).
 *
 * @throws MobileNetV2Error naming `source` when the entry exists but is not a version-1 record.
 */
export function readQuantizationRecord(metadata: Readonly<Record<string, string>>, source: string): QuantizationRecord | undefined {
  const text = metadata[QUANTIZATION_METADATA_KEY];
  if (text === undefined) return undefined;
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (err) {
    throw new MobileNetV2Error(`${source}: metadata "${QUANTIZATION_METADATA_KEY}" is not valid JSON (${(err as Error).message})`);
  }
  const r = record as Partial<QuantizationRecord> | null;
  if (r?.format !== FORMAT || r.version !== 1 || typeof r.weights !== 'object' || typeof r.activations !== 'object') {
    throw new MobileNetV2Error(`${source}: metadata "${QUANTIZATION_METADATA_KEY}" is not a version-1 ${FORMAT} record`);
  }
  return r as QuantizationRecord;
}
