/**
 * What the float graph's builder tells quantization: where the activations worth quantizing are,
 * under the names a quantization record knows them by, and which record key holds each weighted
 * op's weights. The builder records both as it emits the graph (as timm's builders record
 * `feature_info`), so nothing here parses node names back.
 */
import type { NodeProto } from '../onnx/proto.js';

/** Record key of the graph input (the record stores it separately as `input`). */
export const INPUT_KEY = 'input';

/** One quantizable activation: the record key and the float graph tensor holding it. */
export interface ActivationPoint {
  /** Checkpoint module path (`mobilenet_v2.layer.3.expand_1x1`), or {@link INPUT_KEY}. */
  readonly key: string;
  /** Tensor name in the float graph. */
  readonly tensor: string;
}

/** Quantization's view of a float graph, recorded by its builder. */
export interface QuantizationPlan {
  /** Every activation a record may quantize, in graph order: the input, each module's output, residual sums, pooling, classifier. */
  readonly activations: readonly ActivationPoint[];
  /** Conv / Gemm node name → the record key of its weights (`mobilenet_v2.layer.3.conv_3x3.convolution.weight`). */
  readonly weightKeys: ReadonlyMap<string, string>;
}

/** Ops that move values without changing them: their output shares their input's quantization. */
export const PASS_THROUGH = new Set(['Flatten', 'Identity', 'Reshape']);

/** Consumers of each tensor. */
export function consumersOf(nodes: readonly NodeProto[]): Map<string, NodeProto[]> {
  const consumers = new Map<string, NodeProto[]>();
  for (const node of nodes) {
    for (const input of node.input) {
      if (!consumers.has(input)) consumers.set(input, []);
      consumers.get(input)!.push(node);
    }
  }
  return consumers;
}
