/**
 * The quantization a TFLite file carries, as a {@link QuantizationRecord} against transformers'
 * names, so that an integer runtime (ONNX QDQ) can later rebuild the converted checkpoint as the
 * integer model it came from.
 */
import { checkpointKey, moduleKeys } from '../../model/architecture.js';
import {
  QUANTIZATION_FORMAT, type ActivationQuant, type QuantizationRecord, type QuantParams,
} from '../../quantization/record.js';
import type { MobileNetV2Graph } from './graph.js';
import type { TfliteTensor } from './reader.js';

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
    return all.every((p) => p !== null) ? { inputs: all.slice(0, -1), output: all.at(-1) as QuantParams } : null;
  };
  for (const node of graph.convs.values()) {
    const keys = moduleKeys(node.module);
    const weight = params(node.weight, CHANNEL_AXIS);
    const bias = node.bias && params(node.bias, CHANNEL_AXIS);
    if (weight) weights[keys.weight] = weight;
    if (bias) weights[keys.bias] = bias;
    const act = activation([node.input], node.output);
    if (act) activations[checkpointKey(node.module)] = act;
  }
  for (const node of graph.auxNodes) {
    const act = activation(node.inputs.filter((t) => !t.data), node.output);
    if (act) activations[checkpointKey(node.name)] = act;
  }
  return {
    format: QUANTIZATION_FORMAT, version: 1, source, input, output: params(graph.output), weights, activations,
  };
}
