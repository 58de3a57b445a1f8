/**
 * Which transformers module a TFLite convolution belongs to, read from its weight tensor's name.
 * Google's MobileNetV2 files come in two naming schemes: TF-slim (`MobilenetV2/expanded_conv_3/…`,
 * also used by the DeepLab exports) and Keras/TF2 (`MobileNetV2/Conv2d_0_0/…`, blocks shifted by
 * one). Module paths are returned without the `mobilenet_v2.` prefix, e.g. `layer.2.conv_3x3`.
 */

/** A naming scheme of Google's MobileNetV2 exports. */
export type NamingScheme = 'TF-slim' | 'Keras';

interface Rule {
  readonly scheme: NamingScheme | 'DeepLab';
  readonly pattern: RegExp;
  readonly module: (match: RegExpMatchArray) => string | undefined;
}

/** Inverted-residual sub-layers: TF scope name → transformers attribute. */
const SUB_LAYERS: Readonly<Record<string, string>> = { expand: 'expand_1x1', depthwise: 'conv_3x3', project: 'reduce_1x1' };

/** Block `index`'s sub-layer, when `index` is one of the 16 inverted-residual blocks. */
function blockLayer(index: number, part: string): string | undefined {
  return index >= 0 && index < 16 ? `layer.${index}.${SUB_LAYERS[part]}` : undefined;
}

/** The first block has no expansion; transformers puts its depthwise and projection in the stem. */
function stemLayer(part: string): string | undefined {
  return part === 'expand' ? undefined : `conv_stem.${SUB_LAYERS[part]}`;
}

// `(?:^|/)` lets a converter prepend its own scopes; the trailing `/` keeps `Conv` from matching `Conv_1`.
const RULES: readonly Rule[] = [
  { scheme: 'TF-slim', pattern: /(?:^|\/)MobilenetV2\/Conv\//, module: () => 'conv_stem.first_conv' },
  { scheme: 'TF-slim', pattern: /(?:^|\/)MobilenetV2\/expanded_conv\/(expand|depthwise|project)\//, module: (m) => stemLayer(m[1]!) },
  { scheme: 'TF-slim', pattern: /(?:^|\/)MobilenetV2\/expanded_conv_(\d+)\/(expand|depthwise|project)\//, module: (m) => blockLayer(Number(m[1]) - 1, m[2]!) },
  { scheme: 'TF-slim', pattern: /(?:^|\/)MobilenetV2\/Conv_1\//, module: () => 'conv_1x1' },
  { scheme: 'TF-slim', pattern: /(?:^|\/)MobilenetV2\/Logits\/Conv2d_1c_1x1\//, module: () => 'classifier' },
  { scheme: 'Keras', pattern: /(?:^|\/)MobileNetV2\/Conv2d_0_0\//, module: () => 'conv_stem.first_conv' },
  {
    scheme: 'Keras',
    pattern: /(?:^|\/)MobileNetV2\/expanded_conv_(\d+)\/(expand|depthwise|project)\//,
    module: (m) => (m[1] === '1' ? stemLayer(m[2]!) : blockLayer(Number(m[1]) - 2, m[2]!)),
  },
  { scheme: 'Keras', pattern: /(?:^|\/)MobileNetV2\/Conv2d_18_1\//, module: () => 'conv_1x1' },
  { scheme: 'Keras', pattern: /(?:^|\/)MobileNetV2\/top\/Conv2d_1x1_output\//, module: () => 'classifier' },
  // DeepLab's head sits outside the backbone scope, in the TF-slim files that carry it.
  { scheme: 'DeepLab', pattern: /^image_pooling\//, module: () => 'segmentation_head.conv_pool' },
  { scheme: 'DeepLab', pattern: /^aspp0\//, module: () => 'segmentation_head.conv_aspp' },
  { scheme: 'DeepLab', pattern: /^concat_projection\//, module: () => 'segmentation_head.conv_projection' },
  { scheme: 'DeepLab', pattern: /^logits\/semantic\//, module: () => 'segmentation_head.classifier' },
];

/** Where a weight tensor belongs: its module path and the scheme its name follows. */
export interface ModuleMatch {
  readonly module: string;
  /** `DeepLab` for the segmentation head, which both backbone schemes share. */
  readonly scheme: NamingScheme | 'DeepLab';
}

/**
 * Maps a convolution's weight tensor name to a transformers module path, or `undefined` when the
 * name follows neither scheme. Fused tensors list several names joined by `;`; the first one is
 * the weight's own.
 */
export function moduleOfWeight(tensorName: string): ModuleMatch | undefined {
  const own = tensorName.split(';')[0]!;
  for (const rule of RULES) {
    const match = own.match(rule.pattern);
    if (!match) continue;
    const module = rule.module(match);
    return module === undefined ? undefined : { module, scheme: rule.scheme };
  }
  return undefined;
}
