/**
 * Builds the ONNX graph of a MobileNetV2 model from its config and (normalised) state dict: the
 * backbone, then the classifier head or the DeepLabV3 segmentation head. Only what a request needs
 * is emitted: the backbone stops after the last block whose output is wanted, and the segmentation
 * graph never contains `conv_1x1`. As it emits, the builder records every activation worth
 * quantizing and the checkpoint key of every weighted op (the {@link QuantizationPlan}).
 */
import type { Architecture, MobileNetV2Config } from '../config/configuration_mobilenet_v2.js';
import { GraphBuilder, type AttributeValue, type Dim } from '../onnx/graph_builder.js';
import type { ModelProto } from '../onnx/proto.js';
import { INPUT_KEY, type ActivationPoint, type QuantizationPlan } from '../quantization/points.js';
import {
  backboneLayers, checkpointKey, HEAD_CHANNELS, isBareModel, moduleKeys, segmentationHeadLayers, type BackboneLayers,
} from './architecture.js';
import { convLayer, foldBatchNorm, type ConvLayerSpec, type WeightLookup } from './layers.js';

/** Pooling before the classifier. */
export type Pooling =
  /** transformers: adaptive average pooling to 1×1 (any input size). */
  | 'adaptive'
  /** TF-slim's original fixed 7×7 average pooling, stride 1, VALID: a spatial output on large inputs. */
  | 'tf';

/** What one compiled graph computes. */
export interface GraphRequest {
  readonly architecture: Architecture;
  /** Indices (0..15) of the block outputs to return as `hidden_states.{i}`. */
  readonly hiddenStates: readonly number[];
  /** Compute the head (logits), or for the bare model `last_hidden_state` + `pooler_output`. */
  readonly head: boolean;
  /** Classifier pooling (classification / bare model only). */
  readonly pooling: Pooling;
  /** For `pooling: 'tf'`: the feature map size, since the kernel is min(7, size) as in TF-slim. */
  readonly featureSize?: readonly [number, number];
  /** Also output the head's intermediates (`debug.head_pool_after_conv`, `debug.head_aspp`). */
  readonly debug?: boolean;
}

/** Names of the graph's tensors, as transformers names its outputs. */
export const OUTPUT = {
  pixelValues: 'pixel_values',
  logits: 'logits',
  lastHiddenState: 'last_hidden_state',
  poolerOutput: 'pooler_output',
  hiddenState: (i: number) => `hidden_states.${i}`,
} as const;

/** A built float graph, not yet encoded, and what quantization needs to know of it. */
export interface BuiltGraph {
  readonly model: ModelProto;
  readonly quantization: QuantizationPlan;
}

const DYNAMIC: readonly Dim[] = ['batch', 'channels', 'height', 'width'];

/** The graph under construction and the quantization plan recorded along with it. */
class NetworkEmitter {
  readonly g = new GraphBuilder();
  /** Reads weights by module-path key, in the model class's own key layout. */
  readonly weights: WeightLookup;
  private readonly points: ActivationPoint[] = [];
  private readonly weightKeys = new Map<string, string>();

  constructor(readonly config: MobileNetV2Config, weights: WeightLookup, architecture: Architecture) {
    const bare = isBareModel(architecture);
    this.weights = (key) => weights(checkpointKey(key, bare));
  }

  /** Records `tensor` as the output of `module` (a quantization record key, in the head models' layout). */
  point(tensor: string, module: string): string {
    this.points.push({ key: module === INPUT_KEY ? INPUT_KEY : checkpointKey(module), tensor });
    return tensor;
  }

  /** A conv layer (BatchNorm folded, activation applied); its output is the module's activation. */
  conv(x: string, spec: ConvLayerSpec): string {
    this.weightKeys.set(spec.name, moduleKeys(spec.name).weight);
    return this.point(convLayer(this.g, x, spec, this.weights, this.config.tfPadding), spec.name);
  }

  /** The classifier Linear as `opType` (Gemm, or a 1×1 Conv at every pooled position), weights shaped `dims`. */
  classifier(opType: 'Gemm' | 'Conv', x: string, dims: readonly number[], attributes: Record<string, AttributeValue>): string {
    const keys = moduleKeys('classifier');
    const w = this.g.initializer(keys.weight, this.weights(keys.weight), dims);
    const b = this.g.initializer(keys.bias, this.weights(keys.bias), [dims[0]!]);
    this.weightKeys.set('classifier', keys.weight);
    return this.point(this.g.node(opType, [x, w, b], 'classifier', attributes), 'classifier');
  }

  /** Gives `tensor` a public name and declares it a graph output. */
  output(tensor: string, name: string, dims: readonly Dim[]): string {
    this.g.rename(tensor, name);
    this.points.forEach((p, i) => {
      if (p.tensor === tensor) this.points[i] = { key: p.key, tensor: name };
    });
    this.g.output(name, dims);
    return name;
  }

  build(graphName: string): BuiltGraph {
    return { model: this.g.build(graphName), quantization: { activations: this.points, weightKeys: this.weightKeys } };
  }
}

/**
 * The backbone up to block `lastBlock`, with the wanted block outputs as `hidden_states.{i}`;
 * returns the last block's output.
 */
function emitBackbone(e: NetworkEmitter, layers: BackboneLayers, lastBlock: number, hiddenStates: readonly number[]): string {
  let x = e.point(e.g.input(OUTPUT.pixelValues, ['batch', e.config.numChannels, 'height', 'width']), INPUT_KEY);
  for (const spec of layers.stem) x = e.conv(x, spec);
  for (let i = 0; i <= lastBlock; i++) {
    const block = layers.blocks[i]!;
    const y = e.conv(e.conv(e.conv(x, block.expand), block.depthwise), block.reduce);
    x = block.residual ? e.point(e.g.node('Add', [x, y], `layer.${i}.residual`), `layer.${i}`) : y;
    if (hiddenStates.includes(i)) x = e.output(x, OUTPUT.hiddenState(i), DYNAMIC);
  }
  return x;
}

/**
 * `conv_1x1`, the pooler and, for the classification model, the classifier: a Linear after
 * adaptive pooling, a 1×1 conv after TF pooling (the Linear at every pooled position), or with
 * `num_labels = 0` transformers' `nn.Identity` (logits = pooled features).
 */
function emitClassifierHead(e: NetworkEmitter, layers: BackboneLayers, x: string, request: GraphRequest): void {
  const hidden = e.output(e.conv(x, layers.conv1x1), OUTPUT.lastHiddenState, DYNAMIC);
  const c = layers.plan.lastChannels;
  const n = e.config.numLabels;
  const tf = request.pooling === 'tf';
  let pooled: string;
  if (tf) {
    const [h, w] = request.featureSize ?? [7, 7];
    const pool = e.g.node('AveragePool', [hidden], 'pooler', { kernel_shape: [Math.min(7, h), Math.min(7, w)], strides: [1, 1] });
    pooled = e.output(e.point(pool, 'pooler'), OUTPUT.poolerOutput, DYNAMIC);
  } else {
    const pool = e.point(e.g.node('GlobalAveragePool', [hidden], 'pooler'), 'pooler');
    pooled = e.output(e.g.node('Flatten', [pool], 'pooler.flatten', { axis: 1 }), OUTPUT.poolerOutput, ['batch', c]);
  }
  if (request.architecture !== 'MobileNetV2ForImageClassification') return;
  const logitsDims = tf ? DYNAMIC : ['batch', n > 0 ? n : c];
  const logits = n === 0 ? e.g.node('Identity', [pooled], 'classifier')
    : tf ? e.classifier('Conv', pooled, [n, c, 1, 1], { kernel_shape: [1, 1] })
    : e.classifier('Gemm', pooled, [n, c], { transB: 1 });
  e.output(logits, OUTPUT.logits, logitsDims);
}

/**
 * The DeepLabV3 head on block 15's output. transformers concatenates [pool broadcast to H×W,
 * aspp] and projects with a 1×1 conv; since that conv is linear, we instead apply its first half
 * to the 1×1 pooled vector and add it (broadcast) to its second half applied to aspp: same
 * result, no H×W copy of the pooled branch and no concat.
 */
function emitSegmentationHead(e: NetworkEmitter, layers: BackboneLayers, x: string, debug: boolean): void {
  const { g } = e;
  const head = segmentationHeadLayers(e.config, layers.plan.blocks[15]!.outChannels);
  // The TFLite importer records the head's pooling as `avg_pool`, the name of TF's op.
  const pool = e.conv(e.point(g.node('GlobalAveragePool', [x], 'segmentation_head.pool'), 'segmentation_head.avg_pool'), head.convPool);
  const aspp = e.conv(x, head.convAspp);
  if (debug) {
    e.output(g.node('Identity', [pool], 'debug.pool'), 'debug.head_pool_after_conv', ['batch', HEAD_CHANNELS, 1, 1]);
    e.output(g.node('Identity', [aspp], 'debug.aspp'), 'debug.head_aspp', ['batch', HEAD_CHANNELS, 'h', 'w']);
  }
  const { weight, bias } = foldBatchNorm(head.convProjection, e.weights);
  const h = HEAD_CHANNELS;
  const poolHalf = new Float32Array(h * h);
  const asppHalf = new Float32Array(h * h);
  for (let o = 0; o < h; o++) {
    poolHalf.set(weight.subarray(o * 2 * h, o * 2 * h + h), o * h);
    asppHalf.set(weight.subarray(o * 2 * h + h, (o + 1) * 2 * h), o * h);
  }
  const name = head.convProjection.name;
  const fromPool = e.point(
    g.node('Conv', [pool, g.initializer(`${name}.weight_pool`, poolHalf, [h, h, 1, 1])], `${name}.pool`, { kernel_shape: [1, 1] }),
    `${name}.pool`,
  );
  const fromAspp = e.point(g.node(
    'Conv', [aspp, g.initializer(`${name}.weight_aspp`, asppHalf, [h, h, 1, 1]), g.initializer(`${name}.bias`, bias, [h])],
    `${name}.aspp`, { kernel_shape: [1, 1] },
  ), `${name}.aspp`);
  const sum = e.point(g.node('Add', [fromAspp, fromPool], `${name}.add`), `${name}.add`);
  const projected = e.point(g.node('Relu', [sum], `${name}.relu`), name);
  e.output(e.conv(projected, head.classifier), OUTPUT.logits, ['batch', e.config.numLabels, 'h', 'w']);
}

/** Emits the float graph for `request`; encode `model` with `encodeModel` (after quantizing it, for int8). */
export function buildGraph(config: MobileNetV2Config, weights: WeightLookup, request: GraphRequest): BuiltGraph {
  const e = new NetworkEmitter(config, weights, request.architecture);
  const layers = backboneLayers(config);
  // Pooling, the classifier and the segmentation head all read block 15.
  const lastBlock = request.head ? 15 : Math.max(-1, ...request.hiddenStates);
  const x = emitBackbone(e, layers, lastBlock, request.hiddenStates);
  if (!request.head) return e.build('mobilenet_v2');
  if (request.architecture === 'MobileNetV2ForSemanticSegmentation') {
    emitSegmentationHead(e, layers, x, request.debug ?? false);
    return e.build('mobilenet_v2_segmentation');
  }
  emitClassifierHead(e, layers, x, request);
  return e.build('mobilenet_v2');
}
