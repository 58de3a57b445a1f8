/**
 * Affine (scale, zero point) quantization arithmetic: parameters for an activation range or a
 * weight tensor, and weights/biases turned into integers. Parameters use the quantization record's
 * `QuantParams` shape (`real = scale · (q − zero_point)`), so records written by the TFLite importer
 * and records made by calibration are handled alike.
 */
import type { QuantParams } from './record.js';

export type { QuantParams };

/** Integer ranges of the storage types a graph may use. */
const RANGE: Readonly<Record<string, readonly [number, number]>> = {
  uint8: [0, 255],
  int8: [-128, 127],
};

/**
 * uint8 parameters covering `[min, max]`. The range is widened to include 0 so that zero padding
 * and ReLU's 0 are exact, as TFLite and ONNX Runtime's quantizer do.
 */
export function activationParams(min: number, max: number): QuantParams {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
  return { dtype: 'uint8', scale: [Math.fround(scale)], zero_point: [zeroPoint], axis: null };
}

/**
 * The same real values stored as uint8: ONNX Runtime's integer kernels want uint8 activations, and
 * an int8 tensor with zero point z is the uint8 tensor with zero point z + 128.
 */
export function asUint8(params: QuantParams): QuantParams {
  if (params.dtype !== 'int8') return params;
  return { ...params, dtype: 'uint8', zero_point: params.zero_point.map((z) => z + 128) };
}

/**
 * Symmetric per-channel int8 parameters of a weight whose output channels run along axis 0
 * (`scale = max|w| / 127`, zero point 0), as TFLite's and ONNX Runtime's quantizers make them.
 */
export function symmetricWeightParams(weight: Float32Array, channels: number): QuantParams {
  const perChannel = weight.length / channels;
  const scale: number[] = [];
  for (let c = 0; c < channels; c++) {
    let max = 0;
    for (let i = c * perChannel; i < (c + 1) * perChannel; i++) max = Math.max(max, Math.abs(weight[i]!));
    scale.push(Math.fround(max > 0 ? max / 127 : 1));
  }
  return { dtype: 'int8', scale, zero_point: new Array<number>(channels).fill(0), axis: 0 };
}

/** The scale and zero point of element `i` of a tensor with `channels` channels along axis 0. */
function channelOf(params: QuantParams, i: number, perChannel: number): number {
  return params.scale.length > 1 ? Math.floor(i / perChannel) : 0;
}

/**
 * Rounds real values to the integers of `params` (per tensor, or per channel along axis 0), with
 * saturation: `q = clamp(round(x / scale) + zero_point)`.
 */
export function quantizeValues(values: Float32Array, params: QuantParams): Int8Array | Uint8Array {
  const [lo, hi] = RANGE[params.dtype] ?? RANGE.int8!;
  const out = params.dtype === 'uint8' ? new Uint8Array(values.length) : new Int8Array(values.length);
  const perChannel = values.length / params.scale.length;
  for (let i = 0; i < values.length; i++) {
    const c = channelOf(params, i, perChannel);
    out[i] = Math.min(hi, Math.max(lo, Math.round(values[i]! / params.scale[c]!) + params.zero_point[c]!));
  }
  return out;
}

/**
 * int32 bias of an integer convolution: `round(b / (input_scale · weight_scale[c]))`, the scale
 * integer kernels accumulate in. Returns the integers and the per-channel (or single) scale.
 */
export function quantizeBias(bias: Float32Array, inputScale: number, weight: QuantParams): { values: Int32Array; scale: number[] } {
  const scale = weight.scale.map((s) => Math.fround(inputScale * s));
  const values = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    values[c] = Math.round(bias[c]! / scale[scale.length > 1 ? c : 0]!);
  }
  return { values, scale };
}
