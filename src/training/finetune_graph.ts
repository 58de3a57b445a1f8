/**
 * The ONNX graphs of fine-tuning the top of a MobileNetV2: the last K inverted-residual blocks,
 * `conv_1x1` and the classifier, from the cached input of the first trained block. The training
 * graph computes the forward pass (BatchNorm on batch statistics, or frozen on the running ones),
 * the smoothed cross-entropy and every parameter's gradient, written out op by op
 * (finetune_ops.ts); the evaluation graph computes the logits with the running statistics, as the
 * saved model will. Parameters are graph inputs, keyed as in transformers' checkpoints, so one
 * session serves every step.
 */
import type { MobileNetV2Config } from '../config/configuration_mobilenet_v2.js';
import { check } from '../errors.js';
import { backboneLayers, moduleKeys } from '../model/architecture.js';
import type { ConvLayerSpec } from '../model/layers.js';
import { GraphBuilder, type FloatType } from '../onnx/graph_builder.js';
import type { ModelProto } from '../onnx/proto.js';
import { TrainingOps, type Act, type Backward, type GradientSink, type NormKeys, type NormStats, type Pads } from './finetune_ops.js';

/**
 * How BatchNorm behaves while fine-tuning. `frozen` is the default: it works on every checkpoint
 * (those converted from TFLite, the shipped one included, carry BatchNorm folded into the
 * convolutions: running mean 0, variance 1), training computes what the saved model will, an
 * image's output does not depend on the others in its batch, and on the flowers split it scored
 * as well as `train` (bench/README.md).
 */
export type BatchNormMode =
  /** PyTorch's training mode: normalise by batch statistics, update the running ones. */
  | 'train'
  /** Normalise by the pretrained running statistics, which stay as they are (weight and bias still train). */
  | 'frozen';

/** Names of the graphs' inputs and outputs besides the parameters (which carry their checkpoint keys). */
export const FT = {
  input: 'block_input',
  targets: 'targets',
  dropoutMask: 'dropout_mask',
  loss: 'loss',
  logits: 'logits',
  pooled: 'pooled',
  grad: (key: string) => `grad.${key}`,
  batchMean: (bn: string) => `batch_mean.${bn}`,
  batchVar: (bn: string) => `batch_var.${bn}`,
  inputMean: (bn: string) => `input_mean.${bn}`,
  inputSquareMean: (bn: string) => `input_square_mean.${bn}`,
} as const;

/** A trained tensor: checkpoint key (head models' layout), shape, and whether weight decay applies. */
export interface TrainedTensor {
  readonly key: string;
  readonly shape: readonly number[];
  readonly decay: boolean;
}

/** One BatchNorm of the trained part. */
export interface TrainedNorm extends NormKeys {
  /** Key prefix (`….normalization`). */
  readonly prefix: string;
  readonly channels: number;
  readonly numBatchesTracked: string;
  /** Spatial positions (H·W) of its input, which with the batch size make the count of its statistics. */
  readonly positions: number;
  readonly eps: number;
}

/** What is trained for K blocks, on inputs of one size. */
export interface FineTuneLayout {
  /** Trained inverted-residual blocks (the last `blocks` of 16). */
  readonly blocks: number;
  /** `[C, H, W]` of the first trained block's input (the output of block 15 − `blocks`). */
  readonly inputShape: readonly [number, number, number];
  readonly classes: number;
  /** Width of the pooled features (`conv_1x1`'s output channels). */
  readonly channels: number;
  /** Trained tensors in graph order. */
  readonly parameters: readonly TrainedTensor[];
  readonly norms: readonly TrainedNorm[];
}

/** The conv layers that train for `blocks` blocks, in order, with which block each ends (for the residual). */
function trainedLayers(config: MobileNetV2Config, blocks: number): Array<{ spec: ConvLayerSpec; residualFrom?: true; residualTo?: true }> {
  const layers = backboneLayers(config);
  const list: Array<{ spec: ConvLayerSpec; residualFrom?: true; residualTo?: true }> = [];
  for (const block of layers.blocks.slice(16 - blocks)) {
    list.push({ spec: block.expand, ...(block.residual ? { residualFrom: true as const } : {}) });
    list.push({ spec: block.depthwise });
    list.push({ spec: block.reduce, ...(block.residual ? { residualTo: true as const } : {}) });
  }
  list.push({ spec: layers.conv1x1 });
  return list;
}

/**
 * The trained tensors and BatchNorms for the last `blocks` blocks on `[C, H, W]` block inputs.
 *
 * @throws MobileNetV2Error for a block count outside 1..15 or an activation without a backward here.
 */
export function fineTuneLayout(config: MobileNetV2Config, blocks: number, inputShape: readonly [number, number, number], classes: number): FineTuneLayout {
  check(Number.isInteger(blocks) && blocks >= 1 && blocks <= 15, `fine-tune needs a block count from 1 to 15, got ${blocks}`);
  check(['relu6', 'relu'].includes(config.hiddenAct), `fine-tuning supports the relu6 and relu activations; this config's hidden_act is ${JSON.stringify(config.hiddenAct)}`);
  const parameters: TrainedTensor[] = [];
  const norms: TrainedNorm[] = [];
  let [, h, w] = inputShape;
  for (const { spec } of trainedLayers(config, blocks)) {
    if (spec.kernel > 1) [h, w] = convOutputSize(spec, h, w, config.tfPadding);
    const keys = moduleKeys(spec.name);
    const prefix = keys.normalization!;
    parameters.push(
      { key: keys.weight, shape: [spec.outChannels, spec.inChannels / spec.groups, spec.kernel, spec.kernel], decay: true },
      { key: `${prefix}.weight`, shape: [spec.outChannels], decay: false },
      { key: keys.bias, shape: [spec.outChannels], decay: false },
    );
    norms.push({
      prefix, channels: spec.outChannels, weight: `${prefix}.weight`, bias: keys.bias,
      runningMean: `${prefix}.running_mean`, runningVar: `${prefix}.running_var`, numBatchesTracked: `${prefix}.num_batches_tracked`, positions: h * w, eps: spec.bnEps!,
    });
  }
  const channels = backboneLayers(config).conv1x1.outChannels;
  parameters.push({ key: 'classifier.weight', shape: [classes, channels], decay: true }, { key: 'classifier.bias', shape: [classes], decay: false });
  return { blocks, inputShape, classes, channels, parameters, norms };
}

/**
 * Padding of a depthwise conv on an `h × w` input: TF "SAME" (transformers' `tf_padding`, from the
 * input size: the odd pixel after) or PyTorch's symmetric `dilation` on each side.
 */
function depthwisePads(spec: ConvLayerSpec, h: number, w: number, tfPadding: boolean): Pads {
  const d = spec.dilation;
  if (!tfPadding) return [d, d, d, d];
  const total = (n: number) => (n % spec.stride === 0 ? Math.max(spec.kernel - spec.stride, 0) : Math.max(spec.kernel - (n % spec.stride), 0));
  const [ph, pw] = [total(h), total(w)];
  return [Math.floor(ph / 2) * d, (ph - Math.floor(ph / 2)) * d, Math.floor(pw / 2) * d, (pw - Math.floor(pw / 2)) * d];
}

/** Output size of a 3×3 conv on an `h × w` input. */
function convOutputSize(spec: ConvLayerSpec, h: number, w: number, tfPadding: boolean): [number, number] {
  const [top, bottom, left, right] = depthwisePads(spec, h, w, tfPadding);
  const span = spec.dilation * (spec.kernel - 1) + 1;
  return [Math.floor((h + top + bottom - span) / spec.stride) + 1, Math.floor((w + left + right - span) / spec.stride) + 1];
}

/** Options of {@link buildFineTuneGraph}. */
export interface FineTuneGraphOptions {
  /** `train`: loss and gradients; `eval`: logits and pooled features with the running statistics. */
  readonly mode: 'train' | 'eval';
  /** BatchNorm while training (ignored for `eval`). */
  readonly batchNorm: BatchNormMode;
  /** Element type (float64 for gradient checks; default float32). */
  readonly float?: FloatType;
  /** `eval` only: also output the mean and mean square of each BatchNorm's input (`input_mean.<prefix>`, `input_square_mean.<prefix>`). */
  readonly statistics?: boolean;
}

/**
 * The training or evaluation graph of `layout`. Training inputs: `block_input` `[B, C, H, W]`,
 * `targets` `[B, N]`, `dropout_mask` `[B, channels]`, the trained tensors (and running statistics
 * with frozen BatchNorm); outputs: `loss`, `logits`, `grad.<key>` per trained tensor and, with
 * BatchNorm in training mode, each BatchNorm's `batch_mean.<prefix>` and biased `batch_var.<prefix>`.
 */
export function buildFineTuneGraph(config: MobileNetV2Config, layout: FineTuneLayout, options: FineTuneGraphOptions): ModelProto {
  const g = new GraphBuilder({ float: options.float ?? 'float32' });
  const training = options.mode === 'train';
  const ops = new TrainingOps(g, training);
  const stats: NormStats = training && options.batchNorm === 'train' ? 'batch' : 'running';
  const grads: GradientSink = (key, grad) => {
    const shape = layout.parameters.find((p) => p.key === key)!.shape;
    g.output(g.node('Identity', [grad], FT.grad(key)), [...shape]);
  };
  let x: Act = ops.input(FT.input, layout.inputShape);
  const backwards: Backward[] = [];
  let residualInput = x;
  let blockStart = 0;
  trainedLayers(config, layout.blocks).forEach(({ spec, residualFrom, residualTo }, index) => {
    if (residualFrom) {
      residualInput = x;
      blockStart = backwards.length;
    }
    const keys = moduleKeys(spec.name);
    const name = spec.name;
    let conv: [Act, Backward];
    if (spec.groups === 1 && spec.kernel === 1) {
      conv = ops.pointwise(x, keys.weight, spec.outChannels, name, grads, index > 0);
    } else {
      check(spec.groups === spec.inChannels && spec.kernel === 3, `${name}: only 1×1 and depthwise 3×3 convolutions can be fine-tuned`);
      conv = ops.depthwise(x, keys.weight, spec.stride, spec.dilation, depthwisePads(spec, x.h, x.w, config.tfPadding), name, grads);
    }
    const norm = layout.norms.find((n) => n.bias === keys.bias)!;
    if (options.statistics && !training) {
      const mean = (t: string, name: string) => g.node('ReduceMean', [t], name, { axes: [0, 1, 2], keepdims: 0 });
      g.output(mean(conv[0].name, FT.inputMean(norm.prefix)), [norm.channels]);
      g.output(mean(g.node('Mul', [conv[0].name, conv[0].name], `${name}.square`), FT.inputSquareMean(norm.prefix)), [norm.channels]);
    }
    const bn = ops.batchNorm(conv[0], norm, spec.bnEps!, stats, `${name}.normalization`, grads, ({ mean, variance }) => {
      g.output(g.node('Identity', [mean], FT.batchMean(norm.prefix)), [norm.channels]);
      g.output(g.node('Identity', [variance], FT.batchVar(norm.prefix)), [norm.channels]);
    });
    const act = ops.activation(bn[0], spec.activation === 'none' ? 'none' : (config.hiddenAct as 'relu6' | 'relu'), name);
    x = act[0];
    backwards.push((d) => conv[1](bn[1](act[1](d))));
    if (residualTo) {
      x = ops.add(residualInput, x, `${name}.residual`);
      wrapResidual(g, backwards, blockStart);
    }
  });
  const [pooled, poolBack] = ops.pool(x, 'pooler');
  if (!training) {
    g.output(g.node('Identity', [pooled], FT.pooled), ['batch', layout.channels]);
    const [logits] = ops.linear(pooled, 'classifier.weight', 'classifier.bias', layout.classes, layout.channels, grads);
    g.output(g.node('Identity', [logits], FT.logits), ['batch', layout.classes]);
    return g.build('mobilenet_v2_finetune_eval');
  }
  const [dropped, dropBack] = ops.mask(pooled, g.input(FT.dropoutMask, ['batch', layout.channels]), 'dropout');
  const [logits, linearBack] = ops.linear(dropped, 'classifier.weight', 'classifier.bias', layout.classes, layout.channels, grads);
  const [loss, dlogits] = ops.crossEntropy(logits, g.input(FT.targets, ['batch', layout.classes]));
  g.output(g.node('Identity', [loss], FT.loss), [1]);
  g.output(g.node('Identity', [logits], FT.logits), ['batch', layout.classes]);
  let d = poolBack(dropBack(linearBack(dlogits)));
  for (let i = backwards.length - 1; i >= 0; i--) d = backwards[i]!(d);
  return g.build('mobilenet_v2_finetune_train');
}

/**
 * Turns the backward steps from `start` on (one residual block's layers) into one step that also
 * passes the output gradient straight to the block's input (`dx = d + branch(d)`).
 */
function wrapResidual(g: GraphBuilder, backwards: Backward[], start: number): void {
  const branch = backwards.splice(start);
  backwards.push((d) => {
    let dx = d;
    for (let i = branch.length - 1; i >= 0; i--) dx = branch[i]!(dx);
    // The first trained layer computes no input gradient: nothing below it trains.
    return dx === '' ? '' : g.node('Add', [d, dx], `residual.dx_${start}`);
  });
}
