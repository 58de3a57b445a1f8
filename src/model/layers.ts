/**
 * Reusable building blocks (timm style), independent of the MobileNetV2 family: a
 * conv → BatchNorm → activation layer and the activations, emitted as ONNX nodes with BatchNorm
 * folded into the convolution. Each block also lists the checkpoint parameters it consumes, named
 * after transformers' module tree (`<name>.convolution.weight`, `<name>.normalization.*`).
 */
import type { AttributeValue, GraphBuilder } from '../onnx/graph_builder.js';

/** Activations a layer can end with (`hidden` = the config's `hidden_act`). */
export type Activation = 'relu6' | 'relu' | 'gelu' | 'silu' | 'swish' | 'tanh' | 'sigmoid' | 'linear' | 'identity' | 'none';

/** One `MobileNetV2ConvLayer`: geometry, normalisation and activation. */
export interface ConvLayerSpec {
  /** Module path, e.g. `layer.3.conv_3x3` (without the `mobilenet_v2.` prefix). */
  readonly name: string;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Square kernel size. */
  readonly kernel: number;
  readonly stride: number;
  readonly dilation: number;
  /** Convolution groups (= channels for depthwise). */
  readonly groups: number;
  /** BatchNorm eps, or null for a conv with a bias and no BatchNorm (the DeepLab classifier). */
  readonly bnEps: number | null;
  readonly activation: Activation;
}

/** A checkpoint parameter a layer reads: key, shape, and how transformers initialises it. */
export interface ParameterSpec {
  readonly key: string;
  readonly shape: readonly number[];
  /** `normal` = N(0, initializer_range²); `zeros`/`ones` constant; `count` = int64 num_batches_tracked. */
  readonly init: 'normal' | 'zeros' | 'ones' | 'count';
  /**
   * The class's outputs never read it (the segmentation model's `conv_1x1`): a checkpoint may leave
   * it out without a warning, as transformers' `_keys_to_ignore_on_load_missing` allows.
   */
  readonly unused?: true;
}

/** Whether a state-dict key is a BatchNorm buffer (running statistics), not a trainable parameter. */
export function isBuffer(key: string): boolean {
  return /\.(running_mean|running_var|num_batches_tracked)$/.test(key);
}

/** Parameters of a conv layer, in `state_dict()` order, keyed by its module path. */
export function convParameters(spec: ConvLayerSpec): ParameterSpec[] {
  const base = spec.name;
  const weight: ParameterSpec = {
    key: `${base}.convolution.weight`,
    shape: [spec.outChannels, spec.inChannels / spec.groups, spec.kernel, spec.kernel],
    init: 'normal',
  };
  if (spec.bnEps === null) return [weight, { key: `${base}.convolution.bias`, shape: [spec.outChannels], init: 'zeros' }];
  const bn = `${base}.normalization`;
  const c = [spec.outChannels];
  return [
    weight,
    { key: `${bn}.weight`, shape: c, init: 'ones' },
    { key: `${bn}.bias`, shape: c, init: 'zeros' },
    { key: `${bn}.running_mean`, shape: c, init: 'zeros' },
    { key: `${bn}.running_var`, shape: c, init: 'ones' },
    { key: `${bn}.num_batches_tracked`, shape: [], init: 'count' },
  ];
}

/**
 * Reads float32 weights by module-path key (`layer.3.conv_3x3.convolution.weight`; the caller maps
 * it to the checkpoint's layout); the state dict has been normalised and shape-checked already.
 */
export type WeightLookup = (key: string) => Float32Array;

/**
 * Folds eval-mode BatchNorm into the preceding convolution (in float64, then rounded once):
 * `W' = W·γ/√(σ²+ε)`, `b' = β − μ·γ/√(σ²+ε)`.
 */
export function foldBatchNorm(spec: ConvLayerSpec, weights: WeightLookup): { weight: Float32Array; bias: Float32Array } {
  const base = spec.name;
  const w = weights(`${base}.convolution.weight`);
  if (spec.bnEps === null) return { weight: w, bias: weights(`${base}.convolution.bias`) };
  const bn = `${base}.normalization`;
  const [gamma, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => weights(`${bn}.${k}`)) as [
    Float32Array, Float32Array, Float32Array, Float32Array,
  ];
  const perOut = w.length / spec.outChannels;
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(spec.outChannels);
  for (let o = 0; o < spec.outChannels; o++) {
    const scale = gamma[o]! / Math.sqrt(variance[o]! + spec.bnEps);
    for (let j = o * perOut; j < (o + 1) * perOut; j++) weight[j] = w[j]! * scale;
    bias[o] = beta[o]! - mean[o]! * scale;
  }
  return { weight, bias };
}

/** Appends `activation(x)` and returns the result's name. */
export function applyActivation(g: GraphBuilder, x: string, activation: Activation, name: string): string {
  switch (activation) {
    case 'relu6':
      return g.node('Clip', [x, g.scalar(0), g.scalar(6)], `${name}.relu6`);
    case 'relu':
      return g.node('Relu', [x], `${name}.relu`);
    case 'gelu': {
      // transformers' "gelu" is the exact erf form: x·½·(1 + erf(x/√2)).
      const erf = g.node('Erf', [g.node('Div', [x, g.scalar(Math.SQRT2)], `${name}.gelu_div`)], `${name}.gelu_erf`);
      const half = g.node('Mul', [x, g.scalar(0.5)], `${name}.gelu_half`);
      return g.node('Mul', [half, g.node('Add', [erf, g.scalar(1)], `${name}.gelu_add`)], `${name}.gelu`);
    }
    case 'silu':
    case 'swish':
      return g.node('Mul', [x, g.node('Sigmoid', [x], `${name}.sigmoid`)], `${name}.silu`);
    case 'tanh':
      return g.node('Tanh', [x], `${name}.tanh`);
    case 'sigmoid':
      return g.node('Sigmoid', [x], `${name}.sigmoid`);
    case 'linear':
    case 'identity':
    case 'none':
      return x;
  }
}

/**
 * Emits one conv layer (BatchNorm folded). Stride-1 convs (all dilated ones included) pad
 * `⌊(k−1)/2⌋·d` on every side in both padding modes. For strided convs with `tfPadding`, ONNX's
 * `auto_pad = SAME_UPPER` reproduces transformers' runtime TF padding for every input size: both
 * pad `max((⌈n/s⌉−1)·s + k − n, 0)` in total with the odd pixel at the end, so one graph serves
 * all sizes. (ONNX Runtime rejects SAME_* with dilation, which strided convs never have.)
 */
export function convLayer(g: GraphBuilder, x: string, spec: ConvLayerSpec, weights: WeightLookup, tfPadding: boolean): string {
  const { weight, bias } = foldBatchNorm(spec, weights);
  const w = g.initializer(`${spec.name}.weight`, weight, [spec.outChannels, spec.inChannels / spec.groups, spec.kernel, spec.kernel]);
  const b = g.initializer(`${spec.name}.bias`, bias, [spec.outChannels]);
  const p = Math.floor((spec.kernel - 1) / 2) * spec.dilation;
  const padding: Record<string, AttributeValue> = tfPadding && spec.stride > 1 ? { auto_pad: 'SAME_UPPER' } : { pads: [p, p, p, p] };
  const y = g.node('Conv', [x, w, b], spec.name, {
    kernel_shape: [spec.kernel, spec.kernel],
    strides: [spec.stride, spec.stride],
    dilations: [spec.dilation, spec.dilation],
    group: spec.groups,
    ...padding,
  });
  return applyActivation(g, y, spec.activation, spec.name);
}
