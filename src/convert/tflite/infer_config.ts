/**
 * Derives the `MobileNetV2Config` of a recognised TFLite graph from its tensor shapes and op options,
 * and proves it: the config is accepted only if transformers' module tree for it (model/architecture.ts)
 * reproduces every convolution of the file — channels, kernel, stride, dilation, groups, activation —
 * and every residual connection. Defaults are never assumed: Google's depth-multiplier-0.5 DeepLab,
 * for one, was built with `depth_divisible_by = 1`.
 */
import { MobileNetV2Config, type Architecture } from '../../config/configuration_mobilenet_v2.js';
import { LIMITS } from '../../config/limits.js';
import { MobileNetV2Error } from '../../errors.js';
import { backboneLayers, segmentationHeadLayers } from '../../model/architecture.js';
import type { Activation, ConvLayerSpec } from '../../model/layers.js';
import { formatShape } from '../../tensor.js';
import { checkSupported, type ConvNode, type MobileNetV2Graph } from './graph.js';

/** The geometry a file gives a convolution (what {@link ConvLayerSpec} says, minus BatchNorm). */
type ConvGeometry = Pick<ConvLayerSpec, 'inChannels' | 'outChannels' | 'kernel' | 'stride' | 'dilation' | 'groups' | 'activation'>;
const GEOMETRY_FIELDS = ['inChannels', 'outChannels', 'kernel', 'stride', 'dilation', 'groups', 'activation'] as const;

const ACTIVATIONS: Readonly<Record<string, Activation>> = { NONE: 'none', RELU: 'relu', RELU6: 'relu6' };

// Search space: the multipliers Google released (plus what the shapes suggest), and every rounding
// divisor and output stride transformers can express for them.
const DEPTH_MULTIPLIERS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4];
const DIVISORS = [8, 1, 2, 4, 16];
const OUTPUT_STRIDES = [32, 16, 8, 4, 2];

/** Reads a convolution's geometry from its weight shape and options. */
function geometryOf(node: ConvNode, source: string): ConvGeometry {
  const { weight, op, module } = node;
  const o = op.options;
  const what = `${source}: ${module} (${op.op} #${op.index})`;
  checkSupported(weight.shape.length === 4 && weight.shape[1] === weight.shape[2],
    () => `${what}: weight "${weight.name.split(';')[0]}" has shape ${formatShape(weight.shape)}, expected a square kernel`);
  checkSupported(o.strideH === o.strideW && o.dilationH === o.dilationW, () => `${what}: unequal strides or dilations are not supported`);
  const activation = ACTIVATIONS[o.activation ?? 'NONE'];
  checkSupported(activation !== undefined, () => `${what}: fused activation ${o.activation} is not supported`);
  const kernel = weight.shape[1]!;
  // VALID padding equals SAME for a 1×1 stride-1 conv; anything else would not match tf_padding.
  checkSupported(o.padding === 'SAME' || (kernel === 1 && o.strideH === 1), () => `${what}: ${o.padding} padding is not supported`);
  if (node.depthwise) {
    checkSupported(o.depthMultiplier === 1 && weight.shape[0] === 1, () => `${what}: depthwise channel multipliers other than 1 are not supported`);
  }
  const channels = node.depthwise ? weight.shape[3]! : weight.shape[0]!;
  return {
    inChannels: weight.shape[3]!, outChannels: channels, kernel, stride: o.strideH!, dilation: o.dilationH!,
    groups: node.depthwise ? channels : 1, activation,
  };
}

/** Everything the config must reproduce, read once from the graph. */
interface FileFacts {
  readonly geometry: ReadonlyMap<string, ConvGeometry>;
  readonly residualBlocks: ReadonlySet<number>;
}

/** The conv layers (and residual flags) transformers builds for `config`, by module path. */
function expectedLayers(config: MobileNetV2Config, task: MobileNetV2Graph['task']): { layers: Map<string, ConvLayerSpec>; residual: Set<number> } {
  const backbone = backboneLayers(config);
  const layers = [...backbone.stem, ...backbone.blocks.flatMap((b) => [b.expand, b.depthwise, b.reduce]), backbone.conv1x1];
  if (task === 'segmentation') {
    const head = segmentationHeadLayers(config, backbone.plan.blocks[15]!.outChannels);
    layers.push(head.convPool, head.convAspp, head.convProjection, head.classifier);
  } else {
    // The classifier is a Linear in transformers; in the file it is a 1×1 conv over the pooled features.
    layers.push({
      name: 'classifier', inChannels: backbone.plan.lastChannels, outChannels: config.numLabels, kernel: 1,
      stride: 1, dilation: 1, groups: 1, bnEps: null, activation: 'none',
    });
  }
  const residual = new Set(backbone.blocks.flatMap((b, i) => (b.residual ? [i] : [])));
  return { layers: new Map(layers.map((l) => [l.name, l])), residual };
}

/** Differences between the file and `config`, as readable strings (empty: the config reproduces the file). */
function mismatches(facts: FileFacts, config: MobileNetV2Config, task: MobileNetV2Graph['task']): string[] {
  const { layers, residual } = expectedLayers(config, task);
  const found: string[] = [];
  for (const [module, spec] of layers) {
    const actual = facts.geometry.get(module);
    if (!actual) continue; // only conv_1x1 may be absent (DeepLab files stop after block 15)
    for (const field of GEOMETRY_FIELDS) {
      if (actual[field] !== spec[field]) found.push(`${module} ${field} ${actual[field]} (config gives ${spec[field]})`);
    }
  }
  for (let i = 0; i < 16; i++) {
    if (residual.has(i) !== facts.residualBlocks.has(i)) {
      found.push(`layer.${i} ${facts.residualBlocks.has(i) ? 'has' : 'lacks'} a residual connection (config gives the opposite)`);
    }
  }
  return found;
}

/** Candidate configs, most likely first (transformers' defaults before the unusual divisors). */
function* candidates(facts: FileFacts, base: ConstructorParameters<typeof MobileNetV2Config>[0]): Generator<MobileNetV2Config> {
  const last = facts.geometry.get('layer.15.reduce_1x1')!.outChannels;
  const stem = facts.geometry.get('conv_stem.first_conv')!.outChannels;
  const multipliers = [...new Set([last / 320, stem / 32, ...DEPTH_MULTIPLIERS])].filter((m) => m > 0 && m <= LIMITS.maxDepthMultiplier);
  for (const depthDivisibleBy of DIVISORS) {
    for (const depthMultiplier of multipliers) {
      for (const outputStride of OUTPUT_STRIDES) {
        for (const finegrainedOutput of [true, false]) {
          yield new MobileNetV2Config({ ...base, depthMultiplier, depthDivisibleBy, outputStride, finegrainedOutput });
        }
      }
    }
  }
}

/**
 * Finds the config whose transformers model has exactly the file's layers.
 *
 * @param id2label the labels already chosen for the classifier's output count.
 * @throws MobileNetV2Error when no config reproduces the file, naming the closest candidate's differences.
 */
export function inferConfig(graph: MobileNetV2Graph, id2label: Record<number, string>, source: string): MobileNetV2Config {
  const geometry = new Map([...graph.convs].map(([module, node]) => [module, geometryOf(node, source)]));
  const [, height, width, numChannels] = graph.input.shape as [number, number, number, number];
  const facts: FileFacts = { geometry, residualBlocks: graph.residualBlocks };
  const architecture: Architecture = graph.task === 'segmentation' ? 'MobileNetV2ForSemanticSegmentation' : 'MobileNetV2ForImageClassification';
  const base = {
    numChannels, imageSize: Math.max(height, width), id2label, architectures: [architecture], tfPadding: true, layerNormEps: 0.001,
  };
  try {
    new MobileNetV2Config(base); // validates what the file gives every candidate: input size, channels, labels
  } catch (err) {
    throw new MobileNetV2Error(`${source}: unsupported model: ${(err as Error).message}`, { code: 'E_CHECKPOINT_MISMATCH', cause: err });
  }
  let closest: { config: MobileNetV2Config; differences: string[] } | undefined;
  for (const config of candidates(facts, base)) {
    const differences = mismatches(facts, config, graph.task);
    if (differences.length === 0) return config;
    if (!closest || differences.length < closest.differences.length) closest = { config, differences };
  }
  const c = closest!.config;
  throw new MobileNetV2Error(
    `${source}: unsupported model: no MobileNetV2Config reproduces its layers; closest (depth_multiplier ${c.depthMultiplier}, ` +
      `depth_divisible_by ${c.depthDivisibleBy}, output_stride ${c.outputStride}) differs at ${closest!.differences.slice(0, 4).join('; ')}` +
      (closest!.differences.length > 4 ? `; … (${closest!.differences.length} differences)` : ''),
    { code: 'E_CHECKPOINT_MISMATCH' },
  );
}
