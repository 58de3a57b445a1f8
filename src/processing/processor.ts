/**
 * `MobileNetV2ImageProcessor`: transformers' slow (numpy + Pillow) image processor, reproduced
 * exactly — spec §7. Per image: resize with Pillow's 8-bit resampler, centre crop (zero padding
 * when the crop is larger), rescale, normalize, channels first; segmentation maps get
 * `do_reduce_labels`, a NEAREST resize and the same crop. Inputs behave as in transformers: a
 * {@link RawImage} like a PIL image (`np.array` of it), a {@link Tensor} like a numpy array (dtype and
 * channels-first/last layout honoured, float values in [0, 1] quantized to 8 bits for Pillow).
 * No Node APIs.
 */
import { LIMITS } from '../config/limits.js';
import { parseJson } from '../describe.js';
import { check, MobileNetV2Error } from '../errors.js';
import { formatShape, numel, type DType, type Tensor } from '../tensor.js';
import { checkRawImage, isRawImage, type RawImage } from './image.js';
import { precomputedPixelValues } from './precomputed.js';
import { pilResize, Resample, type Pixels8, type ResampleCode, type Window } from './pil_resample.js';
import { wasmPlanes, type KernelOptions } from './pil_resample_wasm.js';
import {
  DEFAULT_SETTINGS,
  parseProcessorConfig,
  processorConfigToJson,
  resolveSettings,
  type CropSize,
  type ImageProcessorOptions,
  type ImageProcessorSettings,
  type ResizeSize,
} from './processor_config.js';

/** An image: decoded pixels (like a PIL image) or an array like numpy's, `[H,W,C]` or `[C,H,W]` (C = 1 or 3), or a batch `[B,…]`. */
export type ProcessorImage = RawImage | Tensor;

/** A segmentation map: a 1-channel {@link RawImage} (class index per pixel), or an integer array `[H,W]` (or a batch `[B,H,W]`). */
export type SegmentationMapInput = RawImage | Tensor;

/** The output of {@link MobileNetV2ImageProcessor.preprocess}. */
export interface ProcessorOutput {
  /** `[B, C, H, W]` float32. */
  pixelValues: Tensor<'float32'>;
  /** `[B, H, W]` int64 class indices, when segmentation maps were given. */
  labels?: Tensor<'int64'>;
}

/** One processed image. */
export interface ProcessedImage {
  /** `[C, H, W]` float32. */
  pixelValues: Tensor<'float32'>;
  /** The whole Pillow-resized 8-bit image before cropping (only with `keepResized`, when resizing). */
  resized?: Pixels8;
}

// numpy semantics of the working array: uint8 (Uint8Array), or values held in a Float64Array that
// numpy would store as an integer type, float32 or float64.
type Kind = 'uint8' | 'int' | 'float32' | 'float64';

/** An image or map being processed: HWC, with the dtype numpy would have at this step. */
interface Work {
  data: Uint8Array | Float64Array;
  kind: Kind;
  height: number;
  width: number;
  channels: number;
}

const KIND_OF_DTYPE: Partial<Record<DType, Kind>> = {
  uint8: 'uint8', bool: 'int', int8: 'int', int16: 'int', int32: 'int', int64: 'int', float32: 'float32', float64: 'float64',
};

/** Channel counts `infer_channel_dimension_format` recognizes for images. */
const IMAGE_CHANNELS: readonly number[] = [1, 3];

function workFromArray(values: ArrayLike<number | bigint>, kind: Kind, shape: readonly number[], channelsFirst: boolean): Work {
  const [d0, d1, d2] = shape as [number, number, number];
  const [height, width, channels] = channelsFirst ? [d1, d2, d0] : [d0, d1, d2];
  const n = values.length;
  // Channels-last bytes are used as they are: nothing downstream writes into its input.
  if (!channelsFirst && kind === 'uint8' && values instanceof Uint8Array) return { data: values, kind, height, width, channels };
  const data = kind === 'uint8' ? new Uint8Array(n) : new Float64Array(n);
  const plane = height * width;
  for (let i = 0; i < n; i++) {
    // Channels-first element i = (c, p) goes to HWC position p * channels + c.
    const j = channelsFirst ? (i % plane) * channels + Math.floor(i / plane) : i;
    data[j] = Number(values[i]);
  }
  return { data, kind, height, width, channels };
}

/**
 * `to_numpy_array` + `infer_channel_dimension_format`: a 3-D array whose first axis has an allowed
 * channel count is channels-first (even when the last one has too), else channels-last.
 */
function toWork(values: ArrayLike<number | bigint>, kind: Kind, shape: readonly number[], allowed: readonly number[], what: string): Work {
  check(shape.length === 3, () => `${what}: Unsupported number of image dimensions: ${shape.length}${shape.length === 2 ? ' (a grey image: convert it to RGB first, as load_image does)' : ''}`);
  check(shape.every((d) => d > 0), () => `${what}: empty image of shape ${formatShape(shape)}`);
  if (allowed.includes(shape[0]!)) return workFromArray(values, kind, shape, true);
  if (allowed.includes(shape[2]!)) return workFromArray(values, kind, shape, false);
  throw new MobileNetV2Error(`${what}: Unable to infer channel dimension format (shape ${formatShape(shape)}: ${allowed.join(' or ')} channels expected on the first or last axis; RGBA and grey+alpha images must be converted to RGB first)`);
}

function tensorKind(tensor: Tensor, what: string): Kind {
  const kind = KIND_OF_DTYPE[tensor.dtype];
  check(kind !== undefined, () => `${what}: arrays of dtype ${tensor.dtype} are not supported; use uint8, an integer type, float32 or float64`);
  check(tensor.data.length === numel(tensor.shape), () => `${what}: tensor data has ${tensor.data.length} elements but shape ${formatShape(tensor.shape)} needs ${numel(tensor.shape)}`);
  return kind;
}

/** The numpy array transformers sees for an image. */
function imageWork(image: ProcessorImage, what: string): Work {
  if (isRawImage(image)) {
    checkRawImage(image, what);
    // np.array(PIL image): mode "L" gives a 2-D array, the others [H, W, C].
    const shape = image.channels === 1 ? [image.height, image.width] : [image.height, image.width, image.channels];
    return toWork(image.data, 'uint8', shape, IMAGE_CHANNELS, what);
  }
  return toWork(image.data, tensorKind(image, what), image.shape, IMAGE_CHANNELS, what);
}

/** The numpy array transformers sees for a segmentation map (a 2-D map gets a channel axis). */
function mapWork(map: SegmentationMapInput, what: string): Work {
  if (isRawImage(map)) {
    checkRawImage(map, what);
    check(map.channels === 1, () => `${what}: Unable to infer channel dimension format (a segmentation map must have 1 channel of class indices, this image has ${map.channels})`);
    return workFromArray(map.data, 'uint8', [map.height, map.width, 1], false);
  }
  const kind = tensorKind(map, what);
  check(map.shape.length === 2, () => `${what}: a segmentation map must be a 2-D array [height, width], got shape ${formatShape(map.shape)}`);
  check(map.shape.every((d) => d > 0), () => `${what}: empty segmentation map of shape ${formatShape(map.shape)}`);
  return workFromArray(map.data, kind, [...map.shape, 1], false);
}

/** `make_flat_list_of_images`: arrays with one extra leading axis are batches. */
function flatten<T extends RawImage | Tensor>(inputs: T | readonly T[], itemDims: number): T[] {
  const list = Array.isArray(inputs) ? (inputs as readonly T[]) : [inputs as T];
  return list.flatMap((item): T[] => {
    if (isRawImage(item) || item.shape.length !== itemDims + 1) return [item];
    const [count, ...shape] = item.shape as [number, ...number[]];
    const size = numel(shape);
    return Array.from({ length: count }, (_, i) => ({ dtype: item.dtype, shape, data: item.data.subarray(i * size, (i + 1) * size) }) as unknown as T);
  });
}

/** `get_resize_output_image_size`: the long side is truncated, as `int()` does. Returns [H, W]. */
export function resizeOutputSize(height: number, width: number, size: ResizeSize): [number, number] {
  if (!('shortestEdge' in size)) return [size.height, size.width];
  const s = size.shortestEdge;
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((s * long) / short);
  return width <= height ? [newLong, s] : [s, newLong];
}

/** Top-left corner of the centre crop (floor division; negative when the crop is larger). */
function cropOrigin(height: number, width: number, crop: CropSize): { top: number; left: number } {
  return { top: Math.floor((height - crop.height) / 2), left: Math.floor((width - crop.width) / 2) };
}

/** `center_crop`: the window `[top, top+ch) × [left, left+cw)`, zeros where it leaves the image. */
function centerCrop(work: Work, crop: CropSize): Work {
  const { data, height, width, channels } = work;
  const { top, left } = cropOrigin(height, width, crop);
  const out = data instanceof Uint8Array ? new Uint8Array(crop.height * crop.width * channels) : new Float64Array(crop.height * crop.width * channels);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(crop.width, width - left);
  for (let y = Math.max(0, -top); y < Math.min(crop.height, height - top); y++) {
    const from = ((y + top) * width + left + x0) * channels;
    out.set(data.subarray(from, from + (x1 - x0) * channels), (y * crop.width + x0) * channels);
  }
  return { ...work, data: out, height: crop.height, width: crop.width };
}

function valueRange(data: ArrayLike<number>): string {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    lo = Math.min(lo, data[i]!);
    hi = Math.max(hi, data[i]!);
  }
  return `[${lo}, ${hi}]`;
}

/**
 * `to_pil_image`'s conversion to 8 bits: uint8 as is; arrays of (numpy-`allclose`) integers in
 * [0, 255] truncated; other arrays in [0, 1] multiplied by 255 in float32 and truncated — those are
 * divided by 255 again after resizing (`rescaleBack`).
 */
function toPixels8(work: Work, what: string): { pixels: Pixels8; rescaleBack: boolean } {
  const { data, width, height, channels } = work;
  if (data instanceof Uint8Array) return { pixels: { data, width, height, channels }, rescaleBack: false };
  let integral = true;
  let in255 = true;
  let in01 = true;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    const t = Math.trunc(v);
    if (!(Math.abs(v - t) <= 1e-8 + 1e-5 * Math.abs(t))) integral = false;
    if (!(v >= 0 && v <= 255)) in255 = false;
    if (!(v >= 0 && v <= 1)) in01 = false;
  }
  const out = new Uint8Array(data.length);
  if (integral) {
    check(in255, () => `${what}: The image to be converted to a PIL image contains values outside the range [0, 255], got ${valueRange(data)} which cannot be converted to uint8.`);
    for (let i = 0; i < data.length; i++) out[i] = Math.trunc(data[i]!);
    return { pixels: { data: out, width, height, channels }, rescaleBack: false };
  }
  check(in01, () => `${what}: The image to be converted to a PIL image contains values outside the range [0, 1], got ${valueRange(data)} which cannot be converted to uint8.`);
  for (let i = 0; i < data.length; i++) out[i] = Math.trunc(Math.fround(data[i]! * 255));
  return { pixels: { data: out, width, height, channels }, rescaleBack: true };
}

/** `resize()`: Pillow resize of the 8-bit image, then back to [0, 1] float32 if it came from there. */
function resize(work: Work, [outHeight, outWidth]: [number, number], resample: ResampleCode, what: string, window?: Window): { work: Work; resized: Pixels8 } {
  const { pixels, rescaleBack } = toPixels8(work, what);
  const resized = pilResize(pixels, outWidth, outHeight, resample, window);
  const base = { height: resized.height, width: resized.width, channels: resized.channels };
  if (!rescaleBack) return { work: { ...base, data: resized.data, kind: 'uint8' }, resized };
  const data = new Float64Array(resized.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(resized.data[i]! * (1 / 255));
  return { work: { ...base, data, kind: 'float32' }, resized };
}

/**
 * Refuses a resize output above {@link LIMITS}.maxResizePixels before anything is allocated. The
 * config bounds `size` (and `crop_size`, so a crop padding a small image is bounded already), but
 * with `shortest_edge` the resized size follows the image's aspect ratio: a 1×1000 image at
 * shortest edge 8192 would be 8192×8192000. E_IMAGE_TOO_LARGE, since it is this image, not the
 * config, that makes the output too big.
 */
function checkResizeOutput(height: number, width: number, what: string): void {
  check(
    height * width <= LIMITS.maxResizePixels,
    () => `${what}: resizing it would give ${width}×${height} = ${height * width} pixels, above the limit of ${LIMITS.maxResizePixels}`,
    'E_IMAGE_TOO_LARGE',
  );
}

/**
 * Resize and centre crop. When the crop lies inside the resized image only that window is
 * resampled (same pixels, less work), unless the whole resized image is wanted.
 */
function resizeAndCrop(work: Work, settings: ImageProcessorSettings, resample: ResampleCode, what: string, keepResized: boolean): { work: Work; resized?: Pixels8 } {
  let current = work;
  let resized: Pixels8 | undefined;
  let cropped = false;
  if (settings.doResize) {
    const target = resizeOutputSize(work.height, work.width, settings.size);
    const [outHeight, outWidth] = target;
    checkResizeOutput(outHeight, outWidth, what);
    const crop = settings.cropSize;
    const { top, left } = cropOrigin(outHeight, outWidth, crop);
    const inside = settings.doCenterCrop && !keepResized && top >= 0 && left >= 0 && crop.height <= outHeight && crop.width <= outWidth;
    const window = inside ? { top, left, height: crop.height, width: crop.width } : undefined;
    ({ work: current, resized } = resize(work, target, resample, what, window));
    cropped = inside;
  }
  if (settings.doCenterCrop && !cropped) current = centerCrop(current, settings.cropSize);
  return keepResized && resized ? { work: current, resized } : { work: current };
}

function perChannel(value: number | number[], channels: number, name: string, what: string): number[] {
  if (!Array.isArray(value)) return new Array<number>(channels).fill(value);
  check(value.length === channels, () => `${what}: ${name} must have ${channels} elements if it is an iterable, got ${value.length}`);
  return value;
}

/**
 * `rescale` (`float32(float64(x) * factor)`) then `normalize` (`(x - mean) / std` in the array's
 * float type: float32, or float64 for an untouched float64 array) as a function of one value.
 */
function pointwise(kind: Kind, settings: ImageProcessorSettings, channels: number, what: string): (x: number, c: number) => number {
  const { doRescale, rescaleFactor, doNormalize } = settings;
  const inFloat64 = !doRescale && kind === 'float64';
  const round = inFloat64 ? (v: number) => v : Math.fround;
  const mean = doNormalize ? perChannel(settings.imageMean, channels, 'image_mean', what).map(round) : [];
  const std = doNormalize ? perChannel(settings.imageStd, channels, 'image_std', what).map(round) : [];
  return (x, c) => {
    const v = doRescale ? Math.fround(x * rescaleFactor) : round(x);
    return doNormalize ? round(round(v - mean[c]!) / std[c]!) : v;
  };
}

/** Rescale + normalize + HWC → CHW float32 (a per-channel lookup table for 8-bit pixels). */
function toPixelValues(work: Work, settings: ImageProcessorSettings, what: string): Tensor<'float32'> {
  const { data, kind, height, width, channels } = work;
  const f = pointwise(kind, settings, channels, what);
  const shape = [channels, height, width];
  if (data instanceof Uint8Array) {
    const lut = new Float32Array(256 * channels);
    for (let c = 0; c < channels; c++) for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(v, c);
    return { dtype: 'float32', shape, data: lookupPlanes(data, channels, lut) };
  }
  const plane = height * width;
  const out = new Float32Array(plane * channels);
  for (let c = 0; c < channels; c++) {
    for (let p = 0, i = c; p < plane; p++, i += channels) out[c * plane + p] = f(data[i]!, c);
  }
  return { dtype: 'float32', shape, data: out };
}

/**
 * Interleaved bytes to channel planes through per-channel tables: byte `v` of channel `c` becomes
 * `lut[c * 256 + v]`. In WebAssembly where available (./pil_resample_wasm.ts), else here.
 */
export function lookupPlanes(data: Uint8Array, channels: number, lut: Float32Array, options: KernelOptions = {}): Float32Array {
  const fast = options.wasm === false ? undefined : wasmPlanes(data, channels, lut);
  if (fast) return fast;
  const plane = data.length / channels;
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    const table = lut.subarray(c * 256, c * 256 + 256);
    for (let p = 0, i = c; p < plane; p++, i += channels) out[c * plane + p] = table[data[i]!]!;
  }
  return out;
}

/** `reduce_label`: 0 → 255, k → k − 1, and 255 stays 255. */
function reduceLabels(work: Work): Work {
  const data = work.data.slice();
  for (let i = 0; i < data.length; i++) {
    const v = (data[i] === 0 ? 255 : data[i]!) - 1;
    data[i] = v === 254 ? 255 : v;
  }
  return { ...work, data };
}

function stack<D extends 'float32' | 'int64'>(items: Tensor<D>[], what: string): Tensor<D> {
  const first = items[0]!;
  for (const [i, t] of items.entries()) {
    check(
      formatShape(t.shape) === formatShape(first.shape),
      () => `cannot batch ${what} of different sizes: item 0 is ${formatShape(first.shape)}, item ${i} is ${formatShape(t.shape)} (enable center crop, or process them one at a time)`,
    );
  }
  // One item (the usual case) is its own batch: no copy, which halves the peak memory of a big output.
  if (items.length === 1) return { dtype: first.dtype, shape: [1, ...first.shape], data: first.data };
  const size = first.data.length;
  const data = new (first.data.constructor as new (length: number) => Float32Array)(size * items.length);
  items.forEach((t, i) => data.set(t.data as Float32Array, i * size));
  return { dtype: first.dtype, shape: [items.length, ...first.shape], data: data as Tensor<D>['data'] };
}

/** Options of one {@link MobileNetV2ImageProcessor.preprocessImage} call. */
export interface PreprocessImageOptions {
  /** Also return the whole resized 8-bit image (`resized_u8` in the fixtures). */
  keepResized?: boolean;
  /** Names the image in error messages (default "image"). */
  name?: string;
}

/**
 * transformers' `MobileNetV2ImageProcessor`. Construct it with options (camelCase) or from a
 * `preprocessor_config.json` object with {@link MobileNetV2ImageProcessor.fromConfig}; every call
 * may override any setting, as `preprocess(**kwargs)` can.
 */
export class MobileNetV2ImageProcessor {
  /** The settings in force; call-time options override them for one call. */
  readonly settings: Readonly<ImageProcessorSettings>;
  /** `preprocessor_config.json` keys this processor does not use, kept to be saved back. */
  readonly extra: Readonly<Record<string, unknown>>;

  /**
   * @param options settings differing from transformers' defaults.
   * @param extra unused config keys to keep (e.g. `crop_pct`).
   * @throws MobileNetV2Error naming the option when a value has the wrong type.
   */
  constructor(options?: ImageProcessorOptions, extra: Record<string, unknown> = {}) {
    this.settings = Object.freeze(resolveSettings(DEFAULT_SETTINGS, options));
    this.extra = Object.freeze({ ...extra });
  }

  /**
   * Builds a processor from a parsed `preprocessor_config.json` (snake_case keys).
   *
   * @param source the file name used in error messages.
   * @throws MobileNetV2Error naming `source` and the key for wrong types.
   */
  static fromConfig<T extends typeof MobileNetV2ImageProcessor>(this: T, json: unknown, source = 'preprocessor_config.json'): InstanceType<T> {
    const { settings, extra } = parseProcessorConfig(json, source);
    return new this(settings, extra) as InstanceType<T>;
  }

  /**
   * Builds a processor from the text of a `preprocessor_config.json`.
   *
   * @throws MobileNetV2Error naming `source` when the text is not JSON or a key has a wrong type.
   */
  static fromJsonText<T extends typeof MobileNetV2ImageProcessor>(this: T, text: string, source = 'preprocessor_config.json'): InstanceType<T> {
    return this.fromConfig<T>(parseJson(text, source, 'E_CONFIG_INVALID'), source);
  }

  /** The class name transformers records as `image_processor_type`. */
  get className(): string {
    return 'MobileNetV2ImageProcessor';
  }

  /** The `preprocessor_config.json` text `save_pretrained` would write. */
  toJsonString(): string {
    return processorConfigToJson(this.settings, this.extra, this.className);
  }

  /**
   * Processes images (each on its own) and optional segmentation maps, then batches them.
   *
   * @param images one image, a list, or an array with a leading batch axis.
   * @param segmentationMaps as many maps as images (2-D arrays, 1-channel images, or a `[B,H,W]` array).
   * @param options call-time overrides of the settings.
   * @throws MobileNetV2Error for inputs transformers rejects (grey or RGBA PIL-style images, values
   *   out of range, …), a count mismatch, or outputs of different sizes that cannot be batched.
   */
  preprocess(images: ProcessorImage | readonly ProcessorImage[], segmentationMaps?: SegmentationMapInput | readonly SegmentationMapInput[], options?: ImageProcessorOptions): ProcessorOutput {
    const settings = resolveSettings(this.settings, options);
    const imageList = flatten(images, 3);
    check(imageList.length > 0, 'no images to preprocess');
    const pixelValues = stack(imageList.map((image, i) => this.run(image, settings, { name: `image ${i}` }).pixelValues), 'images');
    if (segmentationMaps === undefined) return { pixelValues };
    const maps = flatten(segmentationMaps, 2);
    check(maps.length === imageList.length, () => `got ${imageList.length} image(s) but ${maps.length} segmentation map(s)`);
    const labels = stack(maps.map((map, i) => this.runMap(map, settings, `segmentation map ${i}`)), 'segmentation maps');
    return { pixelValues, labels };
  }

  /**
   * Processes one image into `[C, H, W]` float32 pixel values.
   *
   * @throws MobileNetV2Error as {@link MobileNetV2ImageProcessor.preprocess} does.
   */
  preprocessImage(image: ProcessorImage, options?: ImageProcessorOptions, extra: PreprocessImageOptions = {}): ProcessedImage {
    return this.run(image, resolveSettings(this.settings, options), extra);
  }

  /**
   * Processes one segmentation map into `[H, W]` int64 labels: `do_reduce_labels`, NEAREST resize
   * to the images' target size, the same centre crop (padding with class 0).
   *
   * @throws MobileNetV2Error for maps with more than one channel or values that do not fit 8 bits.
   */
  preprocessSegmentationMap(map: SegmentationMapInput, options?: ImageProcessorOptions, name = 'segmentation map'): Tensor<'int64'> {
    return this.runMap(map, resolveSettings(this.settings, options), name);
  }

  private run(image: ProcessorImage, settings: ImageProcessorSettings, extra: PreprocessImageOptions): ProcessedImage {
    // Made by a decode worker with these very settings (./prepare_pool_node.ts): the same pixels.
    const ready = isRawImage(image) && !extra.keepResized ? precomputedPixelValues(image, settings) : undefined;
    if (ready) return { pixelValues: ready };
    const what = extra.name ?? 'image';
    const { work, resized } = resizeAndCrop(imageWork(image, what), settings, settings.resample, what, extra.keepResized ?? false);
    const pixelValues = toPixelValues(work, settings, what);
    return resized ? { pixelValues, resized } : { pixelValues };
  }

  private runMap(map: SegmentationMapInput, settings: ImageProcessorSettings, what: string): Tensor<'int64'> {
    let work = mapWork(map, what);
    if (settings.doReduceLabels) work = reduceLabels(work);
    ({ work } = resizeAndCrop(work, settings, Resample.NEAREST, what, false));
    const labels = new BigInt64Array(work.data.length);
    for (let i = 0; i < labels.length; i++) labels[i] = BigInt(Math.trunc(work.data[i]!));
    return { dtype: 'int64', shape: [work.height, work.width], data: labels };
  }
}

/**
 * The deprecated name transformers still exports for the same processor.
 *
 * @deprecated Use {@link MobileNetV2ImageProcessor}.
 */
export class MobileNetV2FeatureExtractor extends MobileNetV2ImageProcessor {
  override get className(): string {
    return 'MobileNetV2FeatureExtractor';
  }
}
