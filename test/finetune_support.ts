/** Shared by the fine-tuning tests: a tiny config with random but lively tensors, and feeds for the graphs. */
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { MobileNetV2ForImageClassification } from '../src/model/modeling_mobilenet_v2.js';
import { FT, fineTuneLayout, type FineTuneLayout } from '../src/training/finetune_graph.js';
import { seededRandom, type Random } from '../src/random.js';
import { float32Tensor, numel } from '../src/tensor.js';

/** Block 11's output of the tiny config on a 93 × 78 image: the input of blocks 12–15. */
export const TINY_INPUT: [number, number, number] = [24, 6, 5];

/** A tiny config: width 0.25, expansion 2, 3 classes; blocks 12–15 have a stride, two residuals and a plain block. */
export function tinyConfig(tfPadding: boolean): MobileNetV2Config {
  return new MobileNetV2Config({ depthMultiplier: 0.25, expandRatio: 2, finegrainedOutput: false, numLabels: 3, tfPadding });
}

/** Standard normal numbers from a seeded uniform source. */
export function gaussian(random: Random): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * Values for every trained tensor: conv weights of unit gain (so activations neither vanish nor
 * explode), BatchNorm scales around 1 and shifts spread widely (so ReLU6 both cuts at 0 and
 * saturates at 6), running statistics away from 0 and 1.
 */
export function randomTensors(layout: FineTuneLayout, seed: number): Map<string, Float64Array> {
  const random = seededRandom(seed);
  const normal = gaussian(random);
  const tensors = new Map<string, Float64Array>();
  for (const p of layout.parameters) {
    const fanIn = p.shape.length > 1 ? numel(p.shape.slice(1)) : 0;
    const isScale = p.key.endsWith('normalization.weight');
    tensors.set(p.key, Float64Array.from({ length: numel(p.shape) }, () => (fanIn ? normal() / Math.sqrt(fanIn) : isScale ? 0.5 + random() : 0.5 + 2 * normal())));
  }
  for (const n of layout.norms) {
    tensors.set(n.runningMean, Float64Array.from({ length: n.channels }, () => 0.3 * normal()));
    tensors.set(n.runningVar, Float64Array.from({ length: n.channels }, () => 0.5 + random()));
  }
  return tensors;
}

/** A batch of `size` random block inputs (non-negative, as ReLU6 outputs are), soft targets and a dropout mask. */
export function randomBatch(layout: FineTuneLayout, size: number, seed: number): Map<string, { data: Float64Array; dims: number[] }> {
  const random = seededRandom(seed);
  const normal = gaussian(random);
  const { classes, channels, inputShape } = layout;
  const targets = Float64Array.from({ length: size * classes }, (_, i) => (i % classes === Math.floor(i / classes) % classes ? 0.8 : 0.2 / (classes - 1)));
  return new Map([
    [FT.input, { data: Float64Array.from({ length: size * numel(inputShape) }, () => Math.abs(normal())), dims: [size, ...inputShape] }],
    [FT.targets, { data: targets, dims: [size, classes] }],
    [FT.dropoutMask, { data: Float64Array.from({ length: size * channels }, () => (random() < 0.3 ? 0 : 1 / 0.7)), dims: [size, channels] }],
  ]);
}

/**
 * A classifier of `config` with lively weights: He-scaled convs below block 12, and
 * {@link randomTensors} for blocks 12–15, `conv_1x1` and the classifier.
 */
export async function randomModel(config: MobileNetV2Config, seed: number): Promise<MobileNetV2ForImageClassification> {
  const state = new Map(await MobileNetV2ForImageClassification.fromConfig(config).getStateDict());
  const normal = gaussian(seededRandom(seed + 100));
  for (const [key, t] of state) {
    if (key.endsWith('convolution.weight')) state.set(key, float32Tensor(Float32Array.from(t.data as Float32Array, () => normal() * Math.sqrt(2 / numel(t.shape.slice(1)))), [...t.shape]));
  }
  for (const [key, data] of randomTensors(fineTuneLayout(config, 4, TINY_INPUT, config.numLabels), seed)) state.set(key, float32Tensor(Float32Array.from(data), [...state.get(key)!.shape]));
  return MobileNetV2ForImageClassification.fromStateDict(config, state);
}
