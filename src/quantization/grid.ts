/**
 * Exact weights back from a rounded copy. A model converted from a quantized TFLite file has
 * weights `scale · (q − zero_point)` for integers q that its quantization record describes; stored
 * in float16 they move by up to 2⁻¹¹ relative, at most 255 · 2⁻¹¹ ≈ 0.12 of a quantization step,
 * so rounding to the nearest step recovers q, and the float32 weights, bit for bit. Without this the
 * integer graph, which re-quantizes weights from their values, picked different integers and moved
 * probabilities by up to 0.1.
 */
import { toFloat32 } from '../weights/dtype.js';
import type { Tensor } from '../tensor.js';
import type { QuantParams, QuantizationRecord } from './record.js';

/** Tensors by checkpoint key (the model's `StateDict`; quantization does not import model/). */
type Tensors = Map<string, Tensor>;

/**
 * Largest distance, in quantization steps, from a value to its step for the tensor to count as
 * quantized (float16 moves values by at most 0.12 steps). A tensor with any value farther (changed
 * by training, or rounded more coarsely, as bfloat16 does) is left as stored.
 */
const MAX_STEP_ERROR = 0.25;

/** Integer ranges of the weight types a record holds. */
const RANGES: Readonly<Record<string, readonly [number, number]>> = { uint8: [0, 255], int8: [-128, 127] };

/** The weight snapped to its quantization steps, or null when it does not lie on them. */
function onGrid(values: Float32Array, params: QuantParams): Float32Array | null {
  const range = RANGES[params.dtype];
  const channels = params.scale.length;
  if (!range || (params.axis ?? 0) !== 0 || values.length % channels !== 0) return null;
  const perChannel = values.length / channels;
  const out = new Float32Array(values.length);
  for (let c = 0; c < channels; c++) {
    const scale = params.scale[c]!;
    const [lo, hi] = [range[0] - params.zero_point[c]!, range[1] - params.zero_point[c]!];
    for (let i = c * perChannel; i < (c + 1) * perChannel; i++) {
      const steps = values[i]! / scale;
      const k = Math.round(steps);
      if (!(Math.abs(steps - k) <= MAX_STEP_ERROR) || k < lo || k > hi) return null;
      out[i] = scale * k; // what the converter computed: scale · (q − zero_point)
    }
  }
  return out;
}

/**
 * The checkpoint with every weight that is stored in less than float32 precision and that the
 * record quantizes replaced by its exact float32 values; other tensors as they are.
 */
export function restoreQuantizedWeights(checkpoint: Tensors, record: QuantizationRecord | undefined): Tensors {
  if (!record) return checkpoint;
  return new Map([...checkpoint].map(([key, t]) => {
    const params = record.weights[key];
    if (!params || (t.dtype !== 'float16' && t.dtype !== 'bfloat16')) return [key, t];
    const exact = onGrid(toFloat32(t), params);
    return [key, exact ? { dtype: 'float32', shape: t.shape, data: exact } : t];
  }));
}
