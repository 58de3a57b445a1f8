/**
 * `preprocessor_config.json` ⇄ image-processor settings. Reads what transformers' `from_dict`
 * accepts (snake_case keys, `size`/`crop_size` as an int, a `[h, w]` list or a dict, the legacy
 * `feature_extractor_type`), rejects wrong types with an error naming the key, and writes what
 * `save_pretrained` writes: sorted keys, two-space indent, Python's float formatting.
 */
import { checkConfig, checkJsonDepth, LIMITS } from '../config/limits.js';
import { describeValue, quote } from '../describe.js';
import { MobileNetV2Error } from '../errors.js';
import { isResampleCode, Resample, type ResampleCode } from './pil_resample.js';

/** Target of the resize step: the shorter side, or an exact height × width. */
export type ResizeSize =
  | { shortestEdge: number; longestEdge?: number }
  | { height: number; width: number };

/** Output size of the centre crop. */
export interface CropSize {
  height: number;
  width: number;
}

/** Every setting of `MobileNetV2ImageProcessor`, camelCase. */
export interface ImageProcessorSettings {
  doResize: boolean;
  /** `longestEdge` is accepted and saved back but, as in transformers, not used by this resize. */
  size: ResizeSize;
  /** Pillow filter code ({@link Resample}). */
  resample: ResampleCode;
  doCenterCrop: boolean;
  cropSize: CropSize;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  /** One value for all channels, or one per channel. */
  imageMean: number | number[];
  imageStd: number | number[];
  /** Segmentation maps only: 0 → 255 (ignore), k → k − 1. */
  doReduceLabels: boolean;
}

/**
 * Options as a caller gives them: any subset of the settings, where `size` may also be a number
 * (the shortest edge) or `[height, width]`, and `cropSize` a number (a square) or `[height, width]`.
 */
export type ImageProcessorOptions = Partial<Omit<ImageProcessorSettings, 'size' | 'cropSize'>> & {
  size?: ResizeSize | number | [number, number];
  cropSize?: CropSize | number | [number, number];
};

/** transformers' defaults for `MobileNetV2ImageProcessor`. */
export const DEFAULT_SETTINGS: Readonly<ImageProcessorSettings> = Object.freeze({
  doResize: true,
  size: { shortestEdge: 256 },
  resample: Resample.BILINEAR,
  doCenterCrop: true,
  cropSize: { height: 224, width: 224 },
  doRescale: true,
  rescaleFactor: 1 / 255,
  doNormalize: true,
  imageMean: [0.5, 0.5, 0.5],
  imageStd: [0.5, 0.5, 0.5],
  doReduceLabels: false,
});

/** JSON key of each setting, in transformers' spelling. */
const JSON_KEYS = {
  doResize: 'do_resize',
  size: 'size',
  resample: 'resample',
  doCenterCrop: 'do_center_crop',
  cropSize: 'crop_size',
  doRescale: 'do_rescale',
  rescaleFactor: 'rescale_factor',
  doNormalize: 'do_normalize',
  imageMean: 'image_mean',
  imageStd: 'image_std',
  doReduceLabels: 'do_reduce_labels',
} as const satisfies Record<keyof ImageProcessorSettings, string>;

type SettingKey = keyof typeof JSON_KEYS;
const SETTING_OF_JSON_KEY = new Map(Object.entries(JSON_KEYS).map(([setting, key]) => [key as string, setting as SettingKey]));
// Settings for which a JSON null means "use the default", as transformers' __init__ does.
const NULL_MEANS_DEFAULT = new Set<SettingKey>(['size', 'cropSize', 'imageMean', 'imageStd']);
// Keys naming the processor class: transformers drops them on load and writes its own on save.
const CLASS_KEYS = ['image_processor_type', 'feature_extractor_type'] as const;
// Dict keys of size / crop_size in JSON spelling.
const SIZE_KEYS: Readonly<Record<string, string>> = { shortest_edge: 'shortestEdge', longest_edge: 'longestEdge', height: 'height', width: 'width' };

function isDict(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One side of a size: an integer from 1 to {@link LIMITS}.maxImageSide. */
function side(v: unknown, field: string): number {
  checkConfig(Number.isInteger(v) && (v as number) > 0 && (v as number) <= LIMITS.maxImageSide,
    () => `${field} must be an integer from 1 to ${LIMITS.maxImageSide}, got ${describeValue(v)}`);
  return v as number;
}

/** A height × width within {@link LIMITS}.maxResizePixels. */
function area(height: number, width: number, field: string): { height: number; width: number } {
  checkConfig(height * width <= LIMITS.maxResizePixels,
    () => `${field} is ${height}×${width} = ${height * width} pixels, above the limit of ${LIMITS.maxResizePixels}`);
  return { height, width };
}

function heightWidth(dict: Record<string, unknown>, field: string): { height: number; width: number } {
  return area(side(dict.height, `${field}.height`), side(dict.width, `${field}.width`), field);
}

function pair(value: unknown[], field: string): { height: number; width: number } {
  checkConfig(value.length === 2, () => `${field} must be [height, width], got ${describeValue(value)}`);
  return area(side(value[0], `${field}[0]`), side(value[1], `${field}[1]`), field);
}

/** A shortest edge: its square (the smallest image it resizes to) must fit the pixel limit. */
function shortestEdge(v: unknown, field: string): number {
  const s = side(v, field);
  area(s, s, field);
  return s;
}

/** `get_size_dict(size, default_to_square=False)`: a number is the shortest edge. */
function toResizeSize(value: unknown, field: string): ResizeSize {
  if (typeof value === 'number') return { shortestEdge: shortestEdge(value, field) };
  if (Array.isArray(value)) return pair(value, field);
  checkConfig(isDict(value), () => `${field} must be a number, [height, width] or an object, got ${describeValue(value)}`);
  const keys = Object.keys(value).sort().join(',');
  if (keys === 'shortestEdge') return { shortestEdge: shortestEdge(value.shortestEdge, `${field}.shortest_edge`) };
  if (keys === 'longestEdge,shortestEdge') {
    return { shortestEdge: shortestEdge(value.shortestEdge, `${field}.shortest_edge`), longestEdge: side(value.longestEdge, `${field}.longest_edge`) };
  }
  if (keys === 'height,width') return heightWidth(value, field);
  throw new MobileNetV2Error(`${field} must have the keys {shortest_edge} (optionally with longest_edge) or {height, width} for this processor, got ${describeValue(value)}`,
    { code: 'E_CONFIG_INVALID' });
}

/** `get_size_dict(crop_size)`: a number is a square. */
function toCropSize(value: unknown, field: string): CropSize {
  if (typeof value === 'number') {
    const n = side(value, field);
    return area(n, n, field);
  }
  if (Array.isArray(value)) return pair(value, field);
  checkConfig(isDict(value), () => `${field} must be a number, [height, width] or an object, got ${describeValue(value)}`);
  const keys = Object.keys(value).sort().join(',');
  checkConfig(keys === 'height,width', () => `${field} must have the keys {height, width}, got ${describeValue(value)}`);
  return heightWidth(value, field);
}

function toMeanOrStd(value: unknown, field: string): number | number[] {
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (finite(value)) return value;
  checkConfig(Array.isArray(value) && value.length > 0 && value.length <= LIMITS.maxNumChannels && value.every(finite),
    () => `${field} must be a finite number or a list of 1 to ${LIMITS.maxNumChannels} (one per channel), got ${describeValue(value)}`);
  return [...value];
}

/** Validates one setting's value (camelCase form) and returns it normalized. */
function toSetting(key: SettingKey, value: unknown, field: string): ImageProcessorSettings[SettingKey] {
  switch (key) {
    case 'size':
      return toResizeSize(value, field);
    case 'cropSize':
      return toCropSize(value, field);
    case 'resample':
      checkConfig(isResampleCode(value), () => `${field} must be a Pillow filter code 0-5 (0 NEAREST, 2 BILINEAR, 3 BICUBIC, ...), got ${describeValue(value)}`);
      return value;
    case 'rescaleFactor':
      checkConfig(typeof value === 'number' && Number.isFinite(value), () => `${field} must be a finite number, got ${describeValue(value)}`);
      return value;
    case 'imageMean':
      return toMeanOrStd(value, field);
    case 'imageStd': {
      const std = toMeanOrStd(value, field);
      checkConfig(!(Array.isArray(std) ? std : [std]).includes(0), () => `${field} must not contain 0 (it divides the pixels)`);
      return std;
    }
    default:
      checkConfig(typeof value === 'boolean', () => `${field} must be true or false, got ${describeValue(value)}`);
      return value;
  }
}

/**
 * Applies `options` on top of `base`, validating every given value.
 *
 * @param source prefix for error messages (e.g. a file name).
 * @throws MobileNetV2Error naming the option when a value has the wrong type or range.
 */
export function resolveSettings(base: Readonly<ImageProcessorSettings>, options: ImageProcessorOptions | undefined, source = 'options'): ImageProcessorSettings {
  const settings = { ...base } as Record<SettingKey, unknown>;
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    checkConfig(key in JSON_KEYS, () => `${source}: unknown image-processor option ${quote(key)}`);
    settings[key as SettingKey] = toSetting(key as SettingKey, value, `${source}: ${key}`);
  }
  return settings as unknown as ImageProcessorSettings;
}

/** Turns a JSON `size`/`crop_size` dict into the camelCase form; other values pass through. */
function camelSize(value: unknown): unknown {
  if (!isDict(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [SIZE_KEYS[k] ?? k, v]));
}

/**
 * Reads the known snake_case keys of a JSON object (a `preprocessor_config.json`, or call-time
 * keyword arguments) into options; the other keys are returned in `extra`, untouched.
 *
 * @throws MobileNetV2Error naming `source` and the key when a value has the wrong type.
 */
export function optionsFromJson(json: unknown, source: string): { options: ImageProcessorOptions; extra: Record<string, unknown> } {
  checkConfig(isDict(json), () => `${source}: expected a JSON object, got ${describeValue(json)}`);
  checkJsonDepth(json, source);
  const options: Record<string, unknown> = {};
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const setting = SETTING_OF_JSON_KEY.get(key);
    if (setting === undefined) {
      extra[key] = value;
    } else if (value === null) {
      checkConfig(NULL_MEANS_DEFAULT.has(setting), () => `${source}: ${key} must not be null`);
    } else {
      // Validate here so that the message names the JSON key, not the camelCase option.
      options[setting] = toSetting(setting, setting === 'size' || setting === 'cropSize' ? camelSize(value) : value, `${source}: ${key}`);
    }
  }
  return { options: options, extra };
}

/** Settings read from a `preprocessor_config.json` object, plus the keys this processor does not use. */
export interface ParsedProcessorConfig {
  settings: ImageProcessorSettings;
  /** Unused keys (e.g. `crop_pct`, `processor_class`), written back on save as transformers does. */
  extra: Record<string, unknown>;
}

/**
 * Parses a `preprocessor_config.json` object: defaults for absent keys, as `from_dict` does.
 *
 * @throws MobileNetV2Error naming `source` and the key for wrong types, or a class-name key that
 *   is not a string.
 */
export function parseProcessorConfig(json: unknown, source: string): ParsedProcessorConfig {
  const { options, extra } = optionsFromJson(json, source);
  for (const key of CLASS_KEYS) {
    checkConfig(extra[key] === undefined || typeof extra[key] === 'string', () => `${source}: ${key} must be a string, got ${describeValue(extra[key])}`);
    delete extra[key];
  }
  return { settings: resolveSettings(DEFAULT_SETTINGS, options, source), extra };
}

/** A float to be written the way Python's `repr` writes it (`1.0`, `1e-05`). */
class PyFloat {
  constructor(readonly value: number) {}
}

/** Python's `repr(float)`: shortest round-trip digits, `.0` on integers, exponent below 1e-4 or from 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = x.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const fixed = String(x);
  return Number.isInteger(x) ? `${fixed}.0` : fixed;
}

/** `json.dumps(value, indent=2, sort_keys=True)` (ensure_ascii on). */
function pythonJson(value: unknown, indent: string): string {
  if (value instanceof PyFloat) return pythonFloatRepr(value.value);
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pythonFloatRepr(value);
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (value === null || typeof value === 'boolean') return String(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + pythonJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${pythonJson(k, inner)}: ${pythonJson(v, inner)}`).join(',\n')}\n${indent}}`;
}

function sizeToJson(size: ResizeSize | CropSize): Record<string, number> {
  if ('shortestEdge' in size) {
    return size.longestEdge === undefined ? { shortest_edge: size.shortestEdge } : { shortest_edge: size.shortestEdge, longest_edge: size.longestEdge };
  }
  return { height: size.height, width: size.width };
}

/**
 * The JSON text `save_pretrained` writes for these settings: the settings in snake_case, the
 * `extra` keys, and `image_processor_type`. Floats are written as Python writes them.
 *
 * @param className the class name transformers records (`MobileNetV2ImageProcessor`).
 */
export function processorConfigToJson(settings: ImageProcessorSettings, extra: Record<string, unknown>, className: string): string {
  const floats = (v: number | number[]) => (Array.isArray(v) ? v.map((x) => new PyFloat(x)) : new PyFloat(v));
  const out: Record<string, unknown> = {
    ...extra,
    do_resize: settings.doResize,
    size: sizeToJson(settings.size),
    resample: settings.resample,
    do_center_crop: settings.doCenterCrop,
    crop_size: sizeToJson(settings.cropSize),
    do_rescale: settings.doRescale,
    rescale_factor: new PyFloat(settings.rescaleFactor),
    do_normalize: settings.doNormalize,
    image_mean: floats(settings.imageMean),
    image_std: floats(settings.imageStd),
    do_reduce_labels: settings.doReduceLabels,
    image_processor_type: className,
  };
  return `${pythonJson(out, '')}\n`;
}
