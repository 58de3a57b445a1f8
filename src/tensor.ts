/**
 * A minimal dense tensor: the currency between checkpoint readers, the image processor, the model
 * and the CLI. Row-major (C order), like numpy and torch. Kept independent of ONNX Runtime so that
 * weights and pixels can be handled without a native runtime.
 */

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

/** Builds a float32 tensor, checking that `data` has as many elements as `shape` says. */
export function float32Tensor(data: Float32Array, shape: readonly number[]): Float32Tensor {
  if (data.length !== numel(shape)) {
    throw new RangeError(`tensor data has ${data.length} elements but shape [${shape.join(', ')}] needs ${numel(shape)}`);
  }
  return { dtype: 'float32', shape: [...shape], data };
}

/** Human-readable shape, e.g. `[1, 3, 224, 224]`, for error messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
