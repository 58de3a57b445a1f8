/**
 * TFLite constants → transformers' state dict. Weights are dequantized (`real = scale·(q − zero_point)`,
 * per tensor or per channel), transposed from TFLite's OHWI / 1HWC layouts to PyTorch's OIHW, and the
 * BatchNorm the converter folded into each convolution's bias is put back as a BatchNorm that only
 * adds that bias: running_mean 0, running_var 1, weight √(1+eps), bias b — so that transformers'
 * `(x − 0)/√(1 + eps)·√(1 + eps) + b` computes what the file computes.
 */
import type { Architecture, MobileNetV2Config } from '../../config/configuration_mobilenet_v2.js';
import { MobileNetV2Error, check } from '../../errors.js';
import { HEAD_BN_EPS, isHeadKey, moduleKeys, parameterSpecs } from '../../model/architecture.js';
import { loadStateDict, type StateDict } from '../../model/loading.js';
import { formatShape, numel, type DType, type Tensor } from '../../tensor.js';
import { itemSize, toFloat32, viewAs } from '../../weights/dtype.js';
import type { ConvNode, MobileNetV2Graph } from './graph.js';
import type { TfliteTensor } from './reader.js';

/** TFLite tensor types the importer reads, as library dtypes. */
const DTYPES: Readonly<Record<string, DType>> = {
  FLOAT32: 'float32', FLOAT16: 'float16', INT32: 'int32', INT16: 'int16', INT8: 'int8', UINT8: 'uint8',
};

/**
 * A constant tensor's real values, in the tensor's own layout: float types as they are, integer types
 * dequantized with their (per-tensor or per-channel) scale and zero point.
 */
export function realValues(t: TfliteTensor, source: string): Float32Array {
  const what = `${source}: tensor "${t.name.split(';')[0]}"`;
  const dtype = DTYPES[t.type];
  check(dtype !== undefined, () => `${what} has type ${t.type}, which the importer does not read`);
  check(t.data !== undefined, () => `${what} has no constant data`);
  const n = numel(t.shape);
  check(t.data.length === n * itemSize(dtype), () => `${what} has ${t.data!.length} bytes but shape ${formatShape(t.shape)} of ${t.type} needs ${n * itemSize(dtype)}`);
  const raw = viewAs(dtype, t.data, 0, n);
  if (dtype === 'float32' || dtype === 'float16') return toFloat32({ dtype, shape: t.shape, data: raw });
  const q = t.quantization;
  check(q !== undefined, () => `${what} holds ${t.type} values without quantization parameters`);
  const perChannel = q.scale.length > 1;
  const axis = q.quantizedDimension;
  check(!perChannel || t.shape[axis] === q.scale.length,
    () => `${what} has ${q.scale.length} scales along dimension ${axis} of shape ${formatShape(t.shape)}`);
  check(q.zeroPoint.length === q.scale.length, () => `${what} has ${q.scale.length} scales but ${q.zeroPoint.length} zero points`);
  const inner = perChannel ? numel(t.shape.slice(axis + 1)) : n;
  const channels = q.scale.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const c = perChannel ? Math.floor(i / inner) % channels : 0;
    out[i] = q.scale[c]! * (Number(raw[i]) - q.zeroPoint[c]!);
  }
  return out;
}

/** Permutes the axes of a row-major array (`perm[k]` = source axis of output axis k). */
export function transpose(data: Float32Array, shape: readonly number[], perm: readonly number[]): { data: Float32Array; shape: number[] } {
  const outShape = perm.map((p) => shape[p]!);
  const srcStrides = shape.map((_, k) => numel(shape.slice(k + 1)));
  const strides = perm.map((p) => srcStrides[p]!);
  const out = new Float32Array(data.length);
  const index = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < index.length; k++) src += index[k]! * strides[k]!;
    out[o] = data[src]!;
    for (let k = index.length - 1; k >= 0 && ++index[k]! === outShape[k]; k--) index[k] = 0;
  }
  return { data: out, shape: outShape };
}

/** OHWI (CONV_2D) → OIHW; depthwise 1HWC → C1HW, transformers' `[C, 1, kh, kw]` with groups = C. */
function torchWeight(node: ConvNode, source: string): Tensor {
  const { data, shape } = transpose(realValues(node.weight, source), node.weight.shape, node.depthwise ? [3, 0, 1, 2] : [0, 3, 1, 2]);
  // The classification head is a Linear in transformers: [N, K, 1, 1] → [N, K].
  return { dtype: 'float32', shape: node.module === 'classifier' ? shape.slice(0, 2) : shape, data };
}

function filled(length: number, value: number): Tensor {
  return { dtype: 'float32', shape: [length], data: new Float32Array(length).fill(value) };
}

/** The file's tensors of one module, under transformers' keys. */
function moduleTensors(node: ConvNode, config: MobileNetV2Config, source: string): Array<[string, Tensor]> {
  const keys = moduleKeys(node.module);
  const weight = torchWeight(node, source);
  const channels = weight.shape[0]!;
  const bias = node.bias ? realValues(node.bias, source) : new Float32Array(channels);
  check(bias.length === channels, () => `${source}: ${node.module} has ${bias.length} biases for ${channels} output channels`);
  const tensors: Array<[string, Tensor]> = [[keys.weight, weight], [keys.bias, { dtype: 'float32', shape: [channels], data: bias }]];
  if (keys.normalization) {
    const eps = isHeadKey(node.module) ? HEAD_BN_EPS : config.layerNormEps;
    tensors.push(
      [`${keys.normalization}.weight`, filled(channels, Math.sqrt(1 + eps))],
      [`${keys.normalization}.running_mean`, filled(channels, 0)],
      [`${keys.normalization}.running_var`, filled(channels, 1)],
      [`${keys.normalization}.num_batches_tracked`, { dtype: 'int64', shape: [], data: new BigInt64Array(1) }],
    );
  }
  return tensors;
}

/** A converted state dict and the keys the file had no values for. */
export interface ConvertedWeights {
  /** Every key of the model class's `state_dict()`, in transformers' order. */
  readonly stateDict: StateDict;
  /**
   * Keys freshly initialised as transformers does for missing weights (DeepLab's unused
   * `conv_1x1`); saved checkpoints leave them out rather than store random values.
   */
  readonly initialisedKeys: readonly string[];
}

/**
 * Builds the complete state dict of the config's model class. Keys the file lacks are initialised
 * like transformers' `from_pretrained` initialises missing weights (normal(0, initializer_range)
 * conv weights, identity BatchNorm); only DeepLab's `conv_1x1`, which the segmentation model computes
 * but never uses, may be missing.
 */
export function convertWeights(graph: MobileNetV2Graph, config: MobileNetV2Config, source: string): ConvertedWeights {
  const checkpoint: StateDict = new Map([...graph.convs.values()].flatMap((node) => moduleTensors(node, config, source)));
  const architecture: Architecture = config.architectures![0]!;
  const { stateDict, report } = loadStateDict(checkpoint, parameterSpecs(config, architecture), config.initializerRange, source);
  const unexplained = report.missingKeys;
  if (unexplained.length > 0 || report.unexpectedKeys.length > 0) {
    // inferConfig has matched every layer already, so this is a bug rather than a bad file.
    throw new MobileNetV2Error(
      `${source}: converted weights do not fit ${architecture} (missing ${unexplained.join(', ') || 'none'}; unexpected ${report.unexpectedKeys.join(', ') || 'none'})`,
    );
  }
  return { stateDict, initialisedKeys: [...stateDict.keys()].filter((k) => !checkpoint.has(k)) };
}
