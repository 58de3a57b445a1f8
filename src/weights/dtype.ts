/**
 * Element-type helpers shared by the checkpoint readers and writers: item sizes, typed-array views
 * onto raw little-endian bytes, and conversion of any dtype to float32 (what the model runs on).
 */
import { MobileNetV2Error } from '../errors.js';
import type { DataTypeMap, DType, Float32Tensor, Tensor } from '../tensor.js';

/** Typed-array constructors by dtype (float16/bfloat16 keep raw 16-bit patterns). */
const ARRAY_TYPES = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
} as const;

/** Bytes per element of each dtype. */
export function itemSize(dtype: DType): number {
  return ARRAY_TYPES[dtype].BYTES_PER_ELEMENT;
}

/** Whether `data` is the typed-array kind that stores `dtype` (e.g. Uint16Array for float16). */
export function hasStorageOf(dtype: DType, data: ArrayBufferView): boolean {
  return data instanceof ARRAY_TYPES[dtype];
}

// Checkpoint files are little-endian; typed arrays use the platform's byte order, so refuse to
// misread them on a (practically extinct) big-endian host instead of returning garbage.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * `length` elements of `dtype` stored little-endian at `bytes[byteOffset…]`. Returns a view sharing
 * memory with `bytes` when the address is aligned to the element size, otherwise an aligned copy.
 * The caller has checked the range lies within `bytes`.
 */
export function viewAs<D extends DType>(dtype: D, bytes: Uint8Array, byteOffset: number, length: number): DataTypeMap[D] {
  if (!LITTLE_ENDIAN) throw new MobileNetV2Error('reading tensors needs a little-endian platform');
  const Ctor = ARRAY_TYPES[dtype];
  const start = bytes.byteOffset + byteOffset;
  if (start % Ctor.BYTES_PER_ELEMENT === 0) {
    return new Ctor(bytes.buffer as ArrayBuffer, start, length) as DataTypeMap[D];
  }
  // The Uint8Array constructor copies (unlike Buffer#slice, which Node callers may hand us).
  const copy = new Uint8Array(bytes.subarray(byteOffset, byteOffset + length * Ctor.BYTES_PER_ELEMENT));
  return new Ctor(copy.buffer, 0, length) as DataTypeMap[D];
}

/** A new zero-filled typed array for `length` elements of `dtype`. */
export function allocate<D extends DType>(dtype: D, length: number): DataTypeMap[D] {
  return new ARRAY_TYPES[dtype](length) as DataTypeMap[D];
}

/** The raw bytes of a tensor's data (a view, no copy). */
export function tensorBytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

// Scratch buffers for reinterpreting bits between float32 and uint32.
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** Value of an IEEE 754 half-precision bit pattern. */
export function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero or subnormal
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1024 + fraction) * 2 ** (exponent - 25);
}

/** Value of a bfloat16 bit pattern (the top half of a float32). */
export function bfloat16ToFloat32(bits: number): number {
  U32[0] = (bits & 0xffff) << 16;
  return F32[0]!;
}

/**
 * Nearest IEEE 754 half-precision bit pattern to `value` (round half to even, like numpy and torch),
 * overflowing to ±Infinity; NaN maps to the canonical quiet NaN 0x7e00.
 */
export function float32ToFloat16(value: number): number {
  F32[0] = value; // the float32 rounding first matches converting a float32 tensor
  const x = U32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | (mantissa ? 0x7e00 : 0x7c00);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit bit into place.
    if (e < -10) return sign;
    const m = mantissa | 0x800000;
    const shift = 14 - e;
    return sign | roundShift(m, shift);
  }
  // Normal half: a carry out of the mantissa correctly bumps the exponent (up to Infinity).
  return sign | ((e << 10) + roundShift(mantissa, 13));
}

/** Floating-point dtypes a checkpoint's weights can be saved in. */
export const STORAGE_DTYPES = ['float32', 'float16'] as const;
/** A floating-point dtype a checkpoint's weights can be saved in. */
export type StorageDType = (typeof STORAGE_DTYPES)[number];

/**
 * A float32 tensor's values as float16 (nearest, ties to even: what torch's `.half()` gives).
 *
 * @throws MobileNetV2Error (E_INVALID_ARGUMENT) naming `name` when a finite value is beyond
 *   float16's range (±65504): it would silently become infinite.
 */
export function toFloat16(t: Float32Tensor, name: string): Tensor {
  const values = t.data;
  const data = Uint16Array.from(values, float32ToFloat16);
  const overflow = data.findIndex((bits, i) => (bits & 0x7fff) === 0x7c00 && Number.isFinite(values[i]));
  if (overflow >= 0) {
    throw new MobileNetV2Error(`tensor "${name}" holds ${values[overflow]}, beyond float16's range (±65504); save it as float32`, {
      code: 'E_INVALID_ARGUMENT',
    });
  }
  return { dtype: 'float16', shape: [...t.shape], data };
}

/** `m >> shift`, rounded half to even. */
function roundShift(m: number, shift: number): number {
  const truncated = m >>> shift;
  const rest = m - truncated * 2 ** shift;
  const half = 2 ** (shift - 1);
  return rest > half || (rest === half && (truncated & 1) === 1) ? truncated + 1 : truncated;
}

let float16Table: Float32Array | undefined;

/** The value of every half-precision bit pattern: a lookup is ~50× faster than decoding each weight. */
function float16Values(): Float32Array {
  float16Table ??= Float32Array.from({ length: 0x10000 }, (_, bits) => float16ToFloat32(bits));
  return float16Table;
}

/**
 * The tensor's values as float32: float32 data is returned as is (not copied); float16, bfloat16,
 * float64, integer and bool data are converted into a new array.
 */
export function toFloat32(t: Tensor): Float32Array {
  const data = t.data;
  switch (t.dtype) {
    case 'float32':
      return data as Float32Array;
    case 'float16': {
      const table = float16Values();
      const out = new Float32Array(data.length);
      const src = data as Uint16Array;
      for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
      return out;
    }
    case 'bfloat16': {
      const out = new Float32Array(data.length);
      const bits = new Uint32Array(out.buffer);
      const src = data as Uint16Array;
      for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
      return out;
    }
    case 'int64':
      return Float32Array.from(data as BigInt64Array, Number);
    default:
      return Float32Array.from(data as Exclude<typeof data, BigInt64Array>);
  }
}
