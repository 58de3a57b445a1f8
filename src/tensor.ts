/**
 * A minimal dense tensor: the currency between checkpoint readers, the image processor, the model
 * and the CLI. Row-major (C order), like numpy and torch. Kept independent of ONNX Runtime so that
 * weights and pixels can be handled without a native runtime.
 */
import { LIMITS } from './config/limits.js';
import { describeValue } from './describe.js';
import { check, type MobileNetV2ErrorCode } from './errors.js';

/** Element types the library reads and writes (safetensors / torch / TFLite names map onto these). */
export type DType =
  | 'float32' | 'float16' | 'bfloat16' | 'float64'
  | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** Typed-array storage for each dtype. float16/bfloat16 keep their raw 16-bit patterns. */
export interface DataTypeMap {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  float64: Float64Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/** A dense row-major tensor. */
export interface Tensor<D extends DType = DType> {
  /** Element type. */
  readonly dtype: D;
  /** Dimensions; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** Elements in row-major order; `data.length === numel(shape)`. */
  readonly data: DataTypeMap[D];
}

/** A float32 tensor, the type of every activation and (after conversion) every weight. */
export type Float32Tensor = Tensor<'float32'>;

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Number of elements of a shape, checked: throws a {@link MobileNetV2Error} with `code` unless
 * `shape` is a list of non-negative safe integers with at most {@link LIMITS}.maxTensorElements
 * elements (so no product overflows and no allocation follows from a nonsense shape).
 *
 * @param what names the tensor in the message.
 */
export function checkedNumel(shape: readonly number[], what: string, code: MobileNetV2ErrorCode = 'E_INVALID_ARGUMENT'): number {
  check(Array.isArray(shape), () => `${what}: shape must be a list of sizes, got ${describeValue(shape)}`, code);
  let n = 1;
  for (const d of shape) {
    check(Number.isSafeInteger(d) && d >= 0, () => `${what}: shape ${formatShape(shape)} has a size that is not a non-negative integer (${describeValue(d)})`, code);
    n *= d;
  }
  // Checked after the loop: a 0 anywhere makes the product 0, however large the other sizes are.
  check(n <= LIMITS.maxTensorElements, () => `${what}: shape ${formatShape(shape)} has more than ${LIMITS.maxTensorElements} elements`, code);
  return n;
}

/** Builds a float32 tensor, checking the shape and that `data` has as many elements as it says. */
export function float32Tensor(data: Float32Array, shape: readonly number[]): Float32Tensor {
  const n = checkedNumel(shape, 'tensor');
  check(data instanceof Float32Array, () => `tensor data must be a Float32Array, got ${describeValue(data)}`);
  check(data.length === n, () => `tensor data has ${data.length} elements but shape ${formatShape(shape)} needs ${n}`);
  return { dtype: 'float32', shape: [...shape], data };
}

/** Concatenates float32 tensors of one shape past the first axis along the first axis: `[n_i, ...]` → `[Σn_i, ...]`. */
export function concatFirstAxis(parts: readonly Float32Tensor[]): Float32Tensor {
  const data = new Float32Array(parts.reduce((n, t) => n + t.data.length, 0));
  let offset = 0;
  for (const t of parts) {
    data.set(t.data, offset);
    offset += t.data.length;
  }
  return float32Tensor(data, [parts.reduce((n, t) => n + t.shape[0]!, 0), ...parts[0]!.shape.slice(1)]);
}

/** Human-readable shape, e.g. `[1, 3, 224, 224]`, for error messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
