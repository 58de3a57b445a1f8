/**
 * Builds the ONNX graph of a MobileNetV2 model from its config and (normalised) state dict.
 * Only what a request needs is emitted: the backbone stops after the last block whose output is
 * wanted, and the segmentation graph never contains `conv_1x1`.
 */
import type { Architecture, MobileNetV2Config } from '../config/configuration_mobilenet_v2.js';
import { GraphBuilder } from '../onnx/graph_builder.js';
import { backboneLayers, HEAD_CHANNELS, segmentationHeadLayers } from './architecture.js';
import { convLayer, foldBatchNorm, type WeightLookup } from './layers.js';
import { BASE_MODEL_PREFIX } from './loading.js';

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

/** Emits the graph for `request` and returns the ONNX model bytes. */
export function buildGraph(config: MobileNetV2Config, weights: WeightLookup, request: GraphRequest): Uint8Array {
  const g = new GraphBuilder();
  const layers = backboneLayers(config);
  const prefix = request.architecture === 'MobileNetV2Model' ? '' : BASE_MODEL_PREFIX;
  const layer = (x: string, spec: Parameters<typeof convLayer>[2]): string => convLayer(g, x, spec, weights, config.tfPadding, prefix);
  const dyn = ['batch', 'channels', 'height', 'width'];

  const isSeg = request.architecture === 'MobileNetV2ForSemanticSegmentation';
  const needsTail = request.head; // pooling, classifier or segmentation head all need block 15
  const lastBlock = needsTail ? 15 : Math.max(-1, ...request.hiddenStates);
  const wanted = new Set(request.hiddenStates);

  let x = g.input(OUTPUT.pixelValues, ['batch', config.numChannels, 'height', 'width']);
  for (const spec of layers.stem) x = layer(x, spec);
  for (let i = 0; i <= lastBlock; i++) {
    const block = layers.blocks[i]!;
    const y = layer(layer(layer(x, block.expand), block.depthwise), block.reduce);
    x = block.residual ? g.node('Add', [x, y], `layer.${i}.residual`) : y;
    if (wanted.has(i)) {
      x = g.rename(x, OUTPUT.hiddenState(i));
      g.output(x, dyn);
    }
  }
  if (!request.head) return g.build('mobilenet_v2');

  if (isSeg) {
    emitSegmentationHead(g, config, weights, x, layers.plan.blocks[15]!.outChannels, request.debug ?? false);
    return g.build('mobilenet_v2_segmentation');
  }
  const hidden = g.rename(layer(x, layers.conv1x1), OUTPUT.lastHiddenState);
  g.output(hidden, dyn);
  const lastChannels = layers.plan.lastChannels;
  const isCls = request.architecture === 'MobileNetV2ForImageClassification' && config.numLabels > 0;

  if (request.pooling === 'tf') {
    const [h, w] = request.featureSize ?? [7, 7];
    const pooled = g.rename(
      g.node('AveragePool', [hidden], 'pooler', { kernel_shape: [Math.min(7, h), Math.min(7, w)], strides: [1, 1] }),
      OUTPUT.poolerOutput,
    );
    g.output(pooled, dyn);
    if (isCls) {
      // The classifier applied at every pooled position = a 1×1 conv with the Linear weights.
      const wt = g.initializer('classifier.weight', weights('classifier.weight'), [config.numLabels, lastChannels, 1, 1]);
      const b = g.initializer('classifier.bias', weights('classifier.bias'), [config.numLabels]);
      g.output(g.rename(g.node('Conv', [pooled, wt, b], 'classifier', { kernel_shape: [1, 1] }), OUTPUT.logits), dyn);
    }
    return g.build('mobilenet_v2');
  }
  const pooled = g.rename(
    g.node('Flatten', [g.node('GlobalAveragePool', [hidden], 'pooler')], 'pooler.flatten', { axis: 1 }),
    OUTPUT.poolerOutput,
  );
  g.output(pooled, ['batch', lastChannels]);
  if (request.architecture === 'MobileNetV2ForImageClassification') {
    if (!isCls) {
      // num_labels = 0: transformers' classifier is nn.Identity, so logits are the pooled features.
      g.output(g.rename(g.node('Identity', [pooled], 'classifier'), OUTPUT.logits), ['batch', lastChannels]);
    } else {
      const wt = g.initializer('classifier.weight', weights('classifier.weight'), [config.numLabels, lastChannels]);
      const b = g.initializer('classifier.bias', weights('classifier.bias'), [config.numLabels]);
      g.output(g.rename(g.node('Gemm', [pooled, wt, b], 'classifier', { transB: 1 }), OUTPUT.logits), ['batch', config.numLabels]);
    }
  }
  return g.build('mobilenet_v2');
}

/**
 * The DeepLabV3 head. transformers concatenates [pool broadcast to H×W, aspp] and projects with a
 * 1×1 conv; since that conv is linear, we instead apply its first half to the 1×1 pooled vector
 * and add it (broadcast) to its second half applied to aspp: same result, no H×W copy of the
 * pooled branch and no concat.
 */
function emitSegmentationHead(
  g: GraphBuilder, config: MobileNetV2Config, weights: WeightLookup, x: string, inChannels: number, debug: boolean,
): void {
  const head = segmentationHeadLayers(config, inChannels);
  const pool = convLayer(g, g.node('GlobalAveragePool', [x], 'segmentation_head.pool'), head.convPool, weights, config.tfPadding);
  const aspp = convLayer(g, x, head.convAspp, weights, config.tfPadding);
  if (debug) {
    g.output(g.rename(g.node('Identity', [pool], 'debug.pool'), 'debug.head_pool_after_conv'), ['batch', HEAD_CHANNELS, 1, 1]);
    g.output(g.rename(g.node('Identity', [aspp], 'debug.aspp'), 'debug.head_aspp'), ['batch', HEAD_CHANNELS, 'h', 'w']);
  }
  const { weight, bias } = foldBatchNorm(head.convProjection, weights);
  const h = HEAD_CHANNELS;
  const poolHalf = new Float32Array(h * h);
  const asppHalf = new Float32Array(h * h);
  for (let o = 0; o < h; o++) {
    poolHalf.set(weight.subarray(o * 2 * h, o * 2 * h + h), o * h);
    asppHalf.set(weight.subarray(o * 2 * h + h, (o + 1) * 2 * h), o * h);
  }
  const name = head.convProjection.name;
  const fromPool = g.node('Conv', [pool, g.initializer(`${name}.weight_pool`, poolHalf, [h, h, 1, 1])], `${name}.pool`, { kernel_shape: [1, 1] });
  const fromAspp = g.node(
    'Conv', [aspp, g.initializer(`${name}.weight_aspp`, asppHalf, [h, h, 1, 1]), g.initializer(`${name}.bias`, bias, [h])],
    `${name}.aspp`, { kernel_shape: [1, 1] },
  );
  const projected = g.node('Relu', [g.node('Add', [fromAspp, fromPool], `${name}.add`)], `${name}.relu`);
  const logits = convLayer(g, projected, head.classifier, weights, config.tfPadding);
  g.output(g.rename(logits, OUTPUT.logits), ['batch', config.numLabels, 'h', 'w']);
}
