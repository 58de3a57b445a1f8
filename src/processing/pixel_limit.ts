/**
 * The one pixel limit of every image decoder (sharp, BMP, PNG segmentation maps, the browser's),
 * the guard against decompression bombs: a small file whose header claims a huge image. Decoders
 * read the size from the header and call {@link checkImagePixels} before allocating pixels.
 *
 * The default is Pillow's `Image.MAX_IMAGE_PIXELS` (89,478,485, about 9459²). Pillow only warns
 * between 1× and 2× that and refuses above 2×; we refuse above the limit itself, since a warning
 * does not stop the allocation. The limit is raised (or removed with 0) per call
 * (`{ maxPixels }`), for the process ({@link setMaxImagePixels}) or from the environment
 * (`MOBILENET_V2_MAX_IMAGE_PIXELS`, read at each decode so the CLI honours it too). No Node APIs.
 */
import { check, MobileNetV2Error } from '../errors.js';

/** Pillow's `Image.MAX_IMAGE_PIXELS`: the default limit on width × height. */
export const DEFAULT_MAX_IMAGE_PIXELS = 89_478_485;

/** Environment variable that sets the limit: a pixel count, or `0` / `none` for no limit. */
export const MAX_IMAGE_PIXELS_ENV = 'MOBILENET_V2_MAX_IMAGE_PIXELS';

const HOW_TO_RAISE = `raise it with the maxPixels option, setMaxImagePixels() or ${MAX_IMAGE_PIXELS_ENV}; 0 or none = no limit`;

/** Options of the image decoders that take a limit. */
export interface ImageLimitOptions {
  /** Most pixels (width × height) to decode; 0 or `Infinity` = no limit. Default: {@link maxImagePixels}. */
  maxPixels?: number;
}

/** Options of the image loaders: the limit and a name for error messages. */
export interface ImageReadOptions extends ImageLimitOptions {
  /** Names the image in error messages (default: the path, or "image bytes"). */
  name?: string;
}

let processLimit: number | undefined;

/** A limit from an option or the environment: a non-negative integer, 0 meaning none (→ Infinity). */
function parseLimit(value: number | string, what: string): number {
  const n = typeof value === 'string' ? (value.trim().toLowerCase() === 'none' ? 0 : Number(value.trim() || NaN)) : value;
  check(n === Infinity || (Number.isSafeInteger(n) && n >= 0), `${what}: expected a pixel count (a non-negative integer), 0 or none for no limit, got ${JSON.stringify(value)}`);
  return n === 0 ? Infinity : n;
}

/**
 * Sets the pixel limit for this process (all decoders, Node and browser); `undefined` goes back to
 * `MOBILENET_V2_MAX_IMAGE_PIXELS`, else the default.
 *
 * @param limit most pixels per image; 0 or `Infinity` = no limit.
 * @throws MobileNetV2Error (E_INVALID_ARGUMENT) for a negative or fractional limit.
 */
export function setMaxImagePixels(limit: number | undefined): void {
  processLimit = limit === undefined ? undefined : parseLimit(limit, 'setMaxImagePixels');
}

/** The limit in force: {@link setMaxImagePixels}'s, else the environment's, else the default (`Infinity` = none). */
export function maxImagePixels(): number {
  if (processLimit !== undefined) return processLimit;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[MAX_IMAGE_PIXELS_ENV];
  return env === undefined || env === '' ? DEFAULT_MAX_IMAGE_PIXELS : parseLimit(env, MAX_IMAGE_PIXELS_ENV);
}

/** The limit a decoder applies: `options.maxPixels` (0 = none → `Infinity`), else {@link maxImagePixels}. */
export function limitOf(options: ImageLimitOptions, name: string): number {
  return options.maxPixels === undefined ? maxImagePixels() : parseLimit(options.maxPixels, `${name}: maxPixels`);
}

/** The loader options in force: `name` (or `fallbackName`) and the limit ({@link limitOf}). */
export function readOptions(nameOrOptions: string | ImageReadOptions | undefined, fallbackName: string): { name: string; maxPixels: number } {
  const options = typeof nameOrOptions === 'string' ? { name: nameOrOptions } : (nameOrOptions ?? {});
  const name = options.name ?? fallbackName;
  return { name, maxPixels: limitOf(options, name) };
}

/**
 * Refuses an image whose header claims more than `limit` pixels, before anything is allocated.
 *
 * @param name names the image in the message.
 * @throws MobileNetV2Error (E_IMAGE_TOO_LARGE): "name: image is W×H = N pixels, above the limit L (raise it with …)".
 */
export function checkImagePixels(width: number, height: number, name: string, limit = maxImagePixels()): void {
  const pixels = width * height;
  if (pixels <= limit) return;
  throw new MobileNetV2Error(`${name}: image is ${width}×${height} = ${pixels} pixels, above the limit ${limit} (${HOW_TO_RAISE})`, { code: 'E_IMAGE_TOO_LARGE' });
}
