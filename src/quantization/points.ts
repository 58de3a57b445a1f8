/**
 * Where a float MobileNetV2 graph has activations worth quantizing, and under which name a
 * quantization record knows them. The graph builder names nodes after transformers' modules
 * (`layer.3.expand_1x1`, its activation `layer.3.expand_1x1.relu6`, the residual `layer.3.residual`),
 * and the record (TFLite importer or calibration) keys activations by checkpoint module path
 * (`mobilenet_v2.layer.3.expand_1x1`, `mobilenet_v2.layer.3`), so one table connects both.
 */
import type { ModelProto, NodeProto } from '../onnx/proto.js';
import { BASE_MODEL_PREFIX } from '../model/loading.js';

/** Record key of the graph input (the record stores it separately as `input`). */
export const INPUT_KEY = 'input';

/** One quantizable activation: the record key and the float graph tensor holding it. */
export interface ActivationPoint {
  /** Checkpoint module path (`mobilenet_v2.layer.3.expand_1x1`), or {@link INPUT_KEY}. */
  readonly key: string;
  /** Tensor name in the float graph. */
  readonly tensor: string;
}

/** Activations that directly follow a convolution and belong to its module. */
const ACTIVATIONS = new Set(['Clip', 'Relu']);
/** Ops that move values without changing them: their output shares their input's quantization. */
export const PASS_THROUGH = new Set(['Flatten', 'Identity', 'Reshape']);
/** Graph node names whose record name differs (the TFLite importer names the head's pooling `avg_pool`). */
const ALIASES: Readonly<Record<string, string>> = { 'segmentation_head.pool': 'segmentation_head.avg_pool' };

/** Module path of a graph node name → record key (backbone modules carry the base-model prefix). */
function recordKey(module: string): string {
  const name = ALIASES[module] ?? module;
  return name.startsWith('segmentation_head.') || name === 'classifier' ? name : `${BASE_MODEL_PREFIX}${name}`;
}

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

/** The module an op belongs to, when its output is a module's output; undefined otherwise. */
function moduleOutput(node: NodeProto, consumers: Map<string, NodeProto[]>, producers: Map<string, NodeProto>): string | undefined {
  switch (node.opType) {
    case 'Conv': {
      const next = consumers.get(node.output[0]!) ?? [];
      // Conv + ReLU6 is one module; its output is the activation's.
      return next.length === 1 && ACTIVATIONS.has(next[0]!.opType) ? undefined : node.name;
    }
    case 'Clip':
    case 'Relu': {
      const conv = producers.get(node.input[0]!);
      if (conv?.opType === 'Conv' && consumers.get(conv.output[0]!)?.length === 1) return conv.name;
      // An activation after something else (the DeepLab projection's add): named `<module>.relu`.
      return node.name.slice(0, node.name.lastIndexOf('.'));
    }
    case 'Add':
      return node.name.replace(/\.residual$/, '');
    case 'GlobalAveragePool':
    case 'AveragePool':
    case 'Gemm':
      return node.name;
    default:
      return undefined;
  }
}

/**
 * Every activation of the graph a record may quantize, in graph order: the input, each module's
 * output, residual sums, pooling and the classifier.
 */
export function activationPoints(graph: ModelProto['graph']): ActivationPoint[] {
  const consumers = consumersOf(graph.node);
  const producers = new Map(graph.node.map((n) => [n.output[0]!, n] as const));
  const points: ActivationPoint[] = graph.input.map((i) => ({ key: INPUT_KEY, tensor: i.name }));
  for (const node of graph.node) {
    const module = moduleOutput(node, consumers, producers);
    if (module !== undefined) points.push({ key: recordKey(module), tensor: node.output[0]! });
  }
  return points;
}
