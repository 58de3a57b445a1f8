/**
 * The quantization record: scales and zero points of an integer model, keyed by transformers' names,
 * written by the TFLite importer (the quantization the file carries) and by calibration (measured
 * ranges), read when an int8 graph is built. Saved as a JSON string in model.safetensors'
 * `__metadata__` under {@link QUANTIZATION_METADATA_KEY} (transformers only looks at the `format`
 * entry there, and the record travels with the weights when our models re-save them). The format is
 * described in convert/tflite/README.md.
 */
import { MobileNetV2Error } from '../errors.js';

/** The safetensors `__metadata__` key holding the record's JSON. */
// The key predates calibration; it stays so that every checkpoint saved so far still reads.
export const QUANTIZATION_METADATA_KEY = 'tflite_quantization';
/** The record's `format` tag. */
export const QUANTIZATION_FORMAT = 'mobilenet-v2/tflite-quantization';

/** Affine quantization of one tensor: `real = scale[c] · (q − zero_point[c])`. */
export interface QuantParams {
  /** Storage type of the integers: `uint8`, `int8` or `int32` (biases). */
  readonly dtype: string;
  /** One scale (per tensor) or one per channel along `axis`. */
  readonly scale: number[];
  /** Zero points, as many as `scale`. */
  readonly zero_point: number[];
  /** Axis of the per-channel parameters in the checkpoint tensor's layout; null for per-tensor. */
  readonly axis: number | null;
}

/** Quantization of a node's activations. */
export interface ActivationQuant {
  /** The tensor(s) the node reads, in input order. */
  readonly inputs: QuantParams[];
  /** The tensor it writes (for convolutions: after the fused ReLU/ReLU6). */
  readonly output: QuantParams;
}

/** Everything an integer graph needs, keyed by transformers' names (see README.md). */
export interface QuantizationRecord {
  /** Identifies the format; bumped if it ever changes incompatibly. */
  readonly format: typeof QUANTIZATION_FORMAT;
  /** Format version. */
  readonly version: 1;
  /** The converted file's name. */
  readonly source: string;
  /** The model input (the pixels the TFLite model takes, NHWC). */
  readonly input: QuantParams;
  /** The model output (e.g. the uint8 softmax), when quantized. */
  readonly output: QuantParams | null;
  /** Per checkpoint key: weights (axis in PyTorch layout) and the int32 biases. */
  readonly weights: Record<string, QuantParams>;
  /** Per module (`mobilenet_v2.layer.3.expand_1x1`) or op (`mobilenet_v2.layer.3` = residual add, pooling, …). */
  readonly activations: Record<string, ActivationQuant>;
}

/**
 * The record stored in a checkpoint's safetensors metadata, or undefined when there is none (a
 * float model, or a checkpoint that did not come from TFLite).
 *
 * @throws MobileNetV2Error naming `source` when the entry exists but is not a version-1 record.
 */
export function readQuantizationRecord(metadata: Readonly<Record<string, string>>, source: string): QuantizationRecord | undefined {
  const text = metadata[QUANTIZATION_METADATA_KEY];
  if (text === undefined) return undefined;
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (err) {
    throw new MobileNetV2Error(`${source}: metadata "${QUANTIZATION_METADATA_KEY}" is not valid JSON (${(err as Error).message})`, {
      code: 'E_CHECKPOINT_CORRUPT', cause: err,
    });
  }
  const r = record as Partial<QuantizationRecord> | null;
  if (r?.format !== QUANTIZATION_FORMAT || r.version !== 1 || typeof r.weights !== 'object' || typeof r.activations !== 'object') {
    throw new MobileNetV2Error(`${source}: metadata "${QUANTIZATION_METADATA_KEY}" is not a version-1 ${QUANTIZATION_FORMAT} record`, {
      code: 'E_CHECKPOINT_CORRUPT',
    });
  }
  return r as QuantizationRecord;
}
