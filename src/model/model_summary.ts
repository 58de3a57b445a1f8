/**
 * Multiply-accumulate counts of a MobileNetV2 at a given input size, from the architecture
 * description (what `info` prints). Only convolutions and the linear classifier count; BatchNorm
 * (folded), activations, residual additions and pooling are not MACs.
 */
import type { Architecture, MobileNetV2Config } from '../config/configuration_mobilenet_v2.js';
import { check } from '../errors.js';
import { backboneLayers, segmentationHeadLayers } from './architecture.js';
import type { ConvLayerSpec } from './layers.js';

/** Cost of one layer at the given input size. */
export interface LayerCost {
  /** Module name, e.g. `layer.3.conv_3x3` or `classifier`. */
  readonly name: string;
  /** Output `[channels, height, width]`. */
  readonly output: readonly [number, number, number];
  /** Multiply-accumulates. */
  readonly macs: number;
}

/** Costs of every layer and their total. */
export interface MacCount {
  readonly total: number;
  readonly layers: readonly LayerCost[];
}

/** A conv layer's output size and MACs: every output value takes `in/groups · k²` multiply-adds. */
function convCost(spec: ConvLayerSpec, height: number, width: number): LayerCost {
  // With TF "SAME" padding and with the symmetric padding alike, the output is ceil(n / stride).
  const h = Math.ceil(height / spec.stride);
  const w = Math.ceil(width / spec.stride);
  const perOutput = (spec.inChannels / spec.groups) * spec.kernel * spec.kernel;
  return { name: spec.name, output: [spec.outChannels, h, w], macs: h * w * spec.outChannels * perOutput };
}

/**
 * MACs of one image of `height × width` through the layers the model class runs: the backbone
 * (with `conv_1x1` except for segmentation, whose head reads block 15 and never uses it), then the
 * classifier or the DeepLabV3 head (its pooling branch works on a 1×1 map).
 */
export function countMacs(config: MobileNetV2Config, architecture: Architecture, height: number, width: number): MacCount {
  check(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0, `input size must be positive integers, got ${height}x${width}`);
  const layers: LayerCost[] = [];
  let [h, w] = [height, width];
  const add = (spec: ConvLayerSpec): void => {
    const cost = convCost(spec, h, w);
    layers.push(cost);
    [, h, w] = cost.output;
  };
  const backbone = backboneLayers(config);
  backbone.stem.forEach(add);
  for (const block of backbone.blocks) [block.expand, block.depthwise, block.reduce].forEach(add);
  if (architecture === 'MobileNetV2ForSemanticSegmentation') {
    const head = segmentationHeadLayers(config, backbone.plan.blocks[15]!.outChannels);
    layers.push(convCost(head.convPool, 1, 1));
    [head.convAspp, head.convProjection, head.classifier].forEach((spec) => layers.push(convCost(spec, h, w)));
  } else {
    add(backbone.conv1x1);
    if (architecture === 'MobileNetV2ForImageClassification' && config.numLabels > 0) {
      const inFeatures = backbone.plan.lastChannels;
      layers.push({ name: 'classifier', output: [config.numLabels, 1, 1], macs: inFeatures * config.numLabels });
    }
  }
  return { total: layers.reduce((sum, l) => sum + l.macs, 0), layers };
}
