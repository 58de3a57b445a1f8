/**
 * What a saved checkpoint holds: `config.json` and `model.safetensors` as transformers'
 * `save_pretrained` writes them, in float32 or float16. Shared by `savePretrained` and the TFLite
 * converter. No Node APIs: runs in a browser too.
 */
import type { MobileNetV2Config } from '../config/configuration_mobilenet_v2.js';
import { check } from '../errors.js';
import type { Float32Tensor } from '../tensor.js';
import { serializeSafetensors } from '../weights/safetensors.js';
import { STORAGE_DTYPES, toFloat16, toFloat32, type StorageDType } from '../weights/dtype.js';
import type { StateDict } from './loading.js';

/** Options of `savePretrained`, `toPretrainedFiles` and the converter. */
export interface SaveOptions {
  /**
   * `float32` (default) or `float16`, which halves the file as transformers'
   * `model.half().save_pretrained()` does, except that 1-D tensors (BatchNorm, biases) stay float32
   * unless float16 holds them exactly (see {@link storedTensors}); `config.json` says `"dtype"`.
   * Loading upcasts to float32 either way.
   */
  readonly dtype?: StorageDType;
}

/** The dtype of {@link SaveOptions}, checked. */
export function saveDType(options: SaveOptions): StorageDType {
  const dtype = options.dtype ?? 'float32';
  check(STORAGE_DTYPES.includes(dtype), () => `dtype must be ${STORAGE_DTYPES.map((d) => `"${d}"`).join(' or ')}, got ${JSON.stringify(dtype)}`);
  return dtype;
}

/**
 * The tensors as stored in `dtype`. For float16, the convolution and classifier weights (2-D and
 * up, nearly all the bytes) are rounded; 1-D tensors (BatchNorm, biases) are stored in float16 only
 * where it holds them exactly (running means of 0, variances of 1), else kept float32, as
 * transformers' `_keep_in_fp32_modules` keeps precision-sensitive modules: a BatchNorm weight of
 * √(1 + 0.001) rounds to 1 + 2⁻¹⁰ in float16, an error of the same sign in every layer, which moved
 * the built-in classifier's probabilities by up to 0.011 (rounding the weights alone: 0.003).
 */
export function storedTensors(stateDict: StateDict, dtype: StorageDType): StateDict {
  if (dtype === 'float32') return stateDict;
  return new Map([...stateDict].map(([key, t]) => {
    if (t.dtype !== 'float32') return [key, t];
    const half = toFloat16(t as Float32Tensor, key);
    const exact = (): boolean => toFloat32(half).every((v, i) => Object.is(v, t.data[i]));
    return [key, t.shape.length >= 2 || exact() ? half : t];
  }));
}

/** A JSON file as transformers writes it: two-space indent, final newline. */
export function jsonFile(value: unknown): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * `config.json` and `model.safetensors` of a checkpoint. `config.json` gets transformers' `"dtype"`
 * (which replaces `"torch_dtype"`) when saving float16, or when the config already named a dtype.
 */
export function pretrainedFiles(
  config: MobileNetV2Config, stateDict: StateDict, metadata: Record<string, string>, options: SaveOptions,
): Record<string, Uint8Array> {
  const dtype = saveDType(options);
  const { torch_dtype: torchDType, ...extra } = config.extra;
  const named = torchDType !== undefined || (extra['dtype'] ?? null) !== null;
  const saved = dtype === 'float16' || named ? config.with({ extra: { ...extra, dtype } }) : config;
  return {
    'config.json': jsonFile(saved.toJSON()),
    'model.safetensors': serializeSafetensors(storedTensors(stateDict, dtype), metadata),
  };
}
