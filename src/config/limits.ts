/**
 * The upper bounds on everything a config file, a tensor shape or a TFLite file can ask the library
 * to allocate or loop over. A hostile or corrupt file gets a one-line {@link MobileNetV2Error} naming
 * the field instead of a hang, a `RangeError` or gigabytes of memory. Every bound sits far above
 * anything a released MobileNetV2 checkpoint uses.
 */
import { check, MobileNetV2Error } from '../errors.js';

/** The bounds, in one table. */
export const LIMITS = Object.freeze({
  /** Most classes (`num_labels`, entries of `id2label`): ImageNet-21k has 21 843. */
  maxLabels: 100_000,
  /** Most input channels (`num_channels`): grey, RGB, RGBA. */
  maxNumChannels: 4,
  /** Largest `image_size` (a training resolution; released models use 96–513). */
  maxImageSize: 8192,
  /** Largest `depth_multiplier` (released: 0.35–1.4); channels, and so weights, grow with it. */
  maxDepthMultiplier: 10,
  /** Largest `depth_divisible_by` and `min_depth` (released: 8), which also round channel counts up. */
  maxChannelRounding: 1024,
  /** Largest `expand_ratio` (released: 6). */
  maxExpandRatio: 16,
  /** `output_stride` is a power of two up to this (released: 8, 16, 32; 32 and above mean no dilation). */
  maxOutputStride: 64,
  /** Largest `layer_norm_eps` and `initializer_range`. */
  maxEpsOrRange: 1,
  /** `semantic_loss_ignore_index` fits an int32 label map (transformers: 255; PyTorch's habit: -100). */
  maxAbsIgnoreIndex: 2 ** 31 - 1,
  /** Largest `size` / `crop_size` / `shortest_edge` side of preprocessor_config.json. */
  maxImageSide: 16_384,
  /**
   * Most pixels of one resized or cropped image (8192²: 805 MB as float32 RGB): checked on the
   * config's sizes, and on each image's actual resize output (E_IMAGE_TOO_LARGE), which with
   * `shortest_edge` follows the image's aspect ratio.
   */
  maxResizePixels: 2 ** 26,
  /** Most pixels (batch × height × width) of the model's `pixel_values` (4096²: the widest activation is then 1.6 GB). */
  maxModelInputPixels: 2 ** 24,
  /** Most elements of any tensor (what an int32 index reaches). */
  maxTensorElements: 2 ** 31 - 1,
  /** Most files read from the zip a TFLite model carries (its metadata: label files). */
  maxAssociatedFiles: 1000,
  /** Largest (uncompressed) file read from that zip; bigger ones are skipped. ImageNet's labels are 11 KB. */
  maxAssociatedFileBytes: 16 * 1024 * 1024,
  /** Deepest nesting of objects and lists in a config file (deeper values crash `JSON.stringify`). */
  maxJsonDepth: 64,
});

/** Throws a {@link MobileNetV2Error} with code `E_CONFIG_INVALID` and `message` unless `condition` holds. */
export function checkConfig(condition: unknown, message: string | (() => string)): asserts condition {
  check(condition, message, 'E_CONFIG_INVALID');
}

/**
 * Throws `E_CONFIG_INVALID` naming `field` when `value` nests objects or lists deeper than
 * {@link LIMITS}.maxJsonDepth. Stops descending at the limit, so it cannot overflow the stack itself.
 */
export function checkJsonDepth(value: unknown, field: string, depth = 0): void {
  if (typeof value !== 'object' || value === null) return;
  if (depth >= LIMITS.maxJsonDepth) {
    throw new MobileNetV2Error(`${field} nests objects or lists more than ${LIMITS.maxJsonDepth} levels deep`, { code: 'E_CONFIG_INVALID' });
  }
  for (const child of Object.values(value)) checkJsonDepth(child, field, depth + 1);
}
