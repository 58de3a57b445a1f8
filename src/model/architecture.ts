/**
 * The MobileNetV2 module tree as data: every conv layer of the backbone and the DeepLabV3 head
 * with its geometry, and the full list of checkpoint parameters each model class owns. The graph
 * builder, the weight loader, the TFLite importer and `info` all read this one description.
 */
import { backbonePlan, type BackbonePlan } from '../config/channels.js';
import type { Architecture, MobileNetV2Config } from '../config/configuration_mobilenet_v2.js';
import { convParameters, type Activation, type ConvLayerSpec, type ParameterSpec } from './layers.js';

/** transformers' `base_model_prefix`: the backbone's module name inside the head models. */
const BASE_MODEL_PREFIX = 'mobilenet_v2.';
/** Head modules: their keys never carry {@link BASE_MODEL_PREFIX}. */
const HEAD_MODULE = /^(classifier|segmentation_head)(\.|$)/;

/** Whether a key or module path (in any layout) belongs to a head (`classifier`, `segmentation_head`). */
export function isHeadKey(key: string): boolean {
  return HEAD_MODULE.test(key);
}

/** Whether a key carries the base-model prefix (a head model's backbone key). */
export function hasBasePrefix(key: string): boolean {
  return key.startsWith(BASE_MODEL_PREFIX);
}

/**
 * The one rule of transformers' key layout: in the head models backbone keys carry
 * `mobilenet_v2.` and head keys do not; the bare model (`bare`) has no prefix at all. `key` is a
 * parameter key or module path in either layout (`layer.3.conv_3x3`, `mobilenet_v2.conv_1x1.…`).
 */
export function checkpointKey(key: string, bare = false): string {
  const unprefixed = hasBasePrefix(key) ? key.slice(BASE_MODEL_PREFIX.length) : key;
  return bare || isHeadKey(unprefixed) ? unprefixed : BASE_MODEL_PREFIX + unprefixed;
}

/** Whether a model class has the bare model's key layout (no base-model prefix). */
export function isBareModel(architecture: Architecture): boolean {
  return architecture === 'MobileNetV2Model';
}

/** The checkpoint keys of one conv module (or the classifier Linear) in the head models. */
export interface ModuleKeys {
  /** The weight (`….convolution.weight`, or `classifier.weight` for the classification head's Linear). */
  readonly weight: string;
  /** Its bias: the BatchNorm bias, or the conv/Linear bias of the classifiers, which have no BatchNorm. */
  readonly bias: string;
  /** BatchNorm key prefix (`….normalization`), or null for the classifiers. */
  readonly normalization: string | null;
}

/** Checkpoint keys of `module` (e.g. `layer.3.conv_3x3`) in transformers' head models. */
export function moduleKeys(module: string): ModuleKeys {
  const base = checkpointKey(module);
  if (module === 'classifier') return { weight: `${base}.weight`, bias: `${base}.bias`, normalization: null };
  if (module === 'segmentation_head.classifier') {
    return { weight: `${base}.convolution.weight`, bias: `${base}.convolution.bias`, normalization: null };
  }
  return { weight: `${base}.convolution.weight`, bias: `${base}.normalization.bias`, normalization: `${base}.normalization` };
}

/** BatchNorm eps of the segmentation head, hard-coded in transformers (not `layer_norm_eps`). */
export const HEAD_BN_EPS = 1e-5;
/** Width of the DeepLabV3 head. */
export const HEAD_CHANNELS = 256;

/** The conv layers of one inverted-residual block (`layer.{i}`). */
export interface BlockLayers {
  readonly expand: ConvLayerSpec;
  readonly depthwise: ConvLayerSpec;
  readonly reduce: ConvLayerSpec;
  /** Whether the block adds its input to its output. */
  readonly residual: boolean;
}

/** All conv layers of the backbone, in execution order. */
export interface BackboneLayers {
  readonly plan: BackbonePlan;
  /** `conv_stem.*`: first_conv, [expand_1x1], conv_3x3, reduce_1x1. */
  readonly stem: readonly ConvLayerSpec[];
  readonly blocks: readonly BlockLayers[];
  /** `conv_1x1`, the last layer before pooling. */
  readonly conv1x1: ConvLayerSpec;
}

/** The DeepLabV3 head's layers (`segmentation_head.*`). */
export interface SegmentationHeadLayers {
  readonly convPool: ConvLayerSpec;
  readonly convAspp: ConvLayerSpec;
  readonly convProjection: ConvLayerSpec;
  readonly classifier: ConvLayerSpec;
}

function conv(
  name: string, inChannels: number, outChannels: number, kernel: number, activation: Activation,
  bnEps: number | null, geometry: { stride?: number; dilation?: number; groups?: number } = {},
): ConvLayerSpec {
  return {
    name, inChannels, outChannels, kernel, activation, bnEps,
    stride: geometry.stride ?? 1, dilation: geometry.dilation ?? 1, groups: geometry.groups ?? 1,
  };
}

/** The backbone's conv layers for a config (spec §4). */
export function backboneLayers(config: MobileNetV2Config): BackboneLayers {
  const plan = backbonePlan(config);
  const act = config.hiddenAct;
  const eps = config.layerNormEps;
  const s = plan.stemChannels;
  const stem = [
    conv('conv_stem.first_conv', config.numChannels, s, 3, act, eps, { stride: 2 }),
    ...(config.firstLayerIsExpansion ? [] : [conv('conv_stem.expand_1x1', s, s, 1, act, eps)]),
    conv('conv_stem.conv_3x3', s, s, 3, act, eps, { groups: s }),
    conv('conv_stem.reduce_1x1', s, plan.stemOutChannels, 1, 'none', eps),
  ];
  const blocks = plan.blocks.map((b) => {
    const name = `layer.${b.index}`;
    return {
      expand: conv(`${name}.expand_1x1`, b.inChannels, b.expandedChannels, 1, act, eps),
      depthwise: conv(`${name}.conv_3x3`, b.expandedChannels, b.expandedChannels, 3, act, eps, {
        stride: b.stride, dilation: b.dilation, groups: b.expandedChannels,
      }),
      reduce: conv(`${name}.reduce_1x1`, b.expandedChannels, b.outChannels, 1, 'none', eps),
      residual: b.residual,
    };
  });
  const conv1x1 = conv('conv_1x1', plan.blocks[15]!.outChannels, plan.lastChannels, 1, act, eps);
  return { plan, stem, blocks, conv1x1 };
}

/** The DeepLabV3 head's layers; it reads the output of block 15 (`inChannels` wide). */
export function segmentationHeadLayers(config: MobileNetV2Config, inChannels: number): SegmentationHeadLayers {
  const h = HEAD_CHANNELS;
  return {
    convPool: conv('segmentation_head.conv_pool', inChannels, h, 1, 'relu', HEAD_BN_EPS),
    convAspp: conv('segmentation_head.conv_aspp', inChannels, h, 1, 'relu', HEAD_BN_EPS),
    convProjection: conv('segmentation_head.conv_projection', 2 * h, h, 1, 'relu', HEAD_BN_EPS),
    classifier: conv('segmentation_head.classifier', h, config.numLabels, 1, 'none', null),
  };
}

/** Every parameter of a model class, with keys exactly as in transformers' `state_dict()`. */
export function parameterSpecs(config: MobileNetV2Config, architecture: Architecture): ParameterSpec[] {
  const layers = backboneLayers(config);
  const backbone = [...layers.stem, ...layers.blocks.flatMap((b) => [b.expand, b.depthwise, b.reduce])];
  const specs = backbone.flatMap((c) => convParameters(c));
  // DeepLab's head reads block 15: the segmentation graph never computes conv_1x1.
  const conv1x1Unused = architecture === 'MobileNetV2ForSemanticSegmentation';
  specs.push(...convParameters(layers.conv1x1).map((p) => (conv1x1Unused ? { ...p, unused: true as const } : p)));
  if (architecture === 'MobileNetV2ForImageClassification' && config.numLabels > 0) {
    specs.push(
      { key: 'classifier.weight', shape: [config.numLabels, layers.plan.lastChannels], init: 'normal' },
      { key: 'classifier.bias', shape: [config.numLabels], init: 'zeros' },
    );
  }
  if (architecture === 'MobileNetV2ForSemanticSegmentation') {
    const head = segmentationHeadLayers(config, layers.plan.blocks[15]!.outChannels);
    specs.push(...[head.convPool, head.convAspp, head.convProjection, head.classifier].flatMap((c) => convParameters(c)));
  }
  const bare = isBareModel(architecture);
  return specs.map((p) => ({ ...p, key: checkpointKey(p.key, bare) }));
}
