/**
 * Image files in and out, in Node. Reading follows transformers' `load_image`: Pillow opens the
 * file, `ImageOps.exif_transpose` applies the EXIF orientation, `convert("RGB")` drops alpha (no
 * compositing) and replicates grey. JPEG, PNG, WebP, GIF (first frame) and TIFF are decoded by
 * sharp (libvips) with colour management off, as Pillow has none; 16-bit, CMYK and palette images
 * are mapped to 8-bit RGB with Pillow's rules; BMP by our own decoder (libvips has none).
 * Segmentation maps keep their class indices (palette indices of PNG/BMP masks).
 *
 * Every decoder checks the size the header claims against the pixel limit (./pixel_limit.ts)
 * before it allocates pixels: sharp's metadata is read first, and libvips gets the same limit.
 */
import { readFile } from 'node:fs/promises';
import { encode as encodePngIndexed } from 'fast-png';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { oneLine } from '../describe.js';
import { check, MobileNetV2Error } from '../errors.js';
import { writeFileAtomic } from '../node/write_folder.js';
import { bmpToRgb, decodeBmp, isBmp } from './bmp.js';
import { checkRawImage, cmykToRgb, isRawImage, toRgb, type RawImage } from './image.js';
import { checkImagePixels, readOptions, type ImageReadOptions } from './pixel_limit.js';
import { decodePngMap } from './png_map.js';

/** What the loaders accept: a file path, the encoded file bytes (a Buffer is fine), or decoded pixels. */
export type ImageSource = string | Uint8Array | RawImage;

/** Encoded formats recognized by their first bytes. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'bmp';

const SUPPORTED = 'JPEG, PNG, WebP, GIF, TIFF or BMP';

function startsWith(bytes: Uint8Array, prefix: readonly number[], at = 0): boolean {
  return bytes.length >= at + prefix.length && prefix.every((b, i) => bytes[at + i] === b);
}

const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

/** The format of an encoded image from its signature, or undefined. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'webp';
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return 'gif';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (isBmp(bytes)) return 'bmp';
  return undefined;
}

/** Reads a whole file, turning file-system errors into one clear line. */
async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MobileNetV2Error(`${path}: image file not found`, { code: 'E_FILE_NOT_FOUND', cause: err });
    if (code === 'EISDIR') throw new MobileNetV2Error(`${path}: is a directory, not an image file`, { code: 'E_FILE_NOT_FOUND', cause: err });
    throw new MobileNetV2Error(`${path}: cannot read (${oneLine((err as Error).message)})`, { code: 'E_FILE_NOT_FOUND', cause: err });
  }
}

/** Bytes, a name for messages (default: the path) and the pixel limit from a path or bytes. */
async function bytesOf(source: string | Uint8Array, nameOrOptions: string | ImageReadOptions | undefined): Promise<{ bytes: Uint8Array; name: string; maxPixels: number }> {
  const { name, maxPixels } = readOptions(nameOrOptions, typeof source === 'string' ? source : 'image bytes');
  if (typeof source === 'string') return { bytes: await readBytes(source), name, maxPixels };
  check(source instanceof Uint8Array, () => `${name}: expected a path, encoded bytes or {data, width, height, channels}`);
  return { bytes: source, name, maxPixels };
}

function formatOf(bytes: Uint8Array, name: string): ImageFormat {
  check(bytes.length > 0, `${name}: empty file`, 'E_IMAGE_DECODE');
  const format = sniffFormat(bytes);
  check(format !== undefined, `${name}: unsupported or unrecognized image format (expected ${SUPPORTED})`, 'E_IMAGE_DECODE');
  return format;
}

/** Runs a sharp pipeline, reporting libvips failures (corrupt or truncated data) as one line. */
async function runSharp<T>(name: string, format: ImageFormat, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (err) {
    if (err instanceof MobileNetV2Error) throw err;
    const reason = oneLine((err as Error).message.split('\n')[0]!.trim());
    throw new MobileNetV2Error(`${name}: cannot decode ${format.toUpperCase()} image (corrupt or truncated?): ${reason}`, { code: 'E_IMAGE_DECODE', cause: err });
  }
}

/** sharp on untrusted bytes, with libvips' own pixel limit set to ours as a second guard. */
function openImage(bytes: Uint8Array, maxPixels: number): Sharp {
  return sharp(bytes, { limitInputPixels: maxPixels === Infinity ? false : maxPixels });
}

/**
 * The header's metadata (nothing decoded yet), refused when empty or above the pixel limit. Read
 * without libvips' limit, which would refuse with its own message and no size.
 */
async function checkedMetadata(bytes: Uint8Array, name: string, maxPixels: number): Promise<Metadata> {
  const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  const { width = 0, height = 0 } = meta; // height: of the first page, the one decoded
  check(width > 0 && height > 0, `${name}: image size ${width}x${height} is empty`, 'E_IMAGE_DECODE');
  checkImagePixels(width, height, name, maxPixels);
  return meta;
}

/** Raw samples of a sharp image converted to `colourspace`, 8 or 16 bits. */
async function rawPixels(image: Sharp, colourspace: string, depth: 'uchar' | 'ushort'): Promise<{ data: Uint8Array | Uint16Array; width: number; height: number; channels: number }> {
  const { data, info } = await image.toColourspace(colourspace).raw({ depth }).toBuffer({ resolveWithObject: true });
  const samples = depth === 'ushort' ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2) : new Uint8Array(data.buffer, data.byteOffset, data.length);
  return { data: samples, width: info.width, height: info.height, channels: info.channels };
}

/**
 * Pillow's 16-bit grey without alpha: mode "I", whose conversion to RGB clips at 255 (libvips
 * would keep the high byte, as Pillow does for every other 16-bit mode). Narrowed in place, so the
 * 16-bit buffer is the only copy besides the RGB result.
 */
function clipGrey16ToRgb(samples: Uint16Array, width: number, height: number): RawImage {
  const eight = new Uint8Array(samples.buffer, samples.byteOffset, samples.length);
  // Byte i is written after sample i (bytes 2i, 2i+1) is read, and never before a later sample.
  for (let i = 0; i < samples.length; i++) eight[i] = Math.min(samples[i]!, 255);
  return toRgb({ data: eight, width, height, channels: 1 });
}

/** Decodes a non-BMP file with sharp into Pillow's `convert("RGB")` result, EXIF orientation applied. */
async function decodeWithSharp(bytes: Uint8Array, format: ImageFormat, name: string, maxPixels: number): Promise<RawImage> {
  return runSharp(name, format, async () => {
    // keepIccProfile: no colour conversion (Pillow ignores ICC profiles); autoOrient = exif_transpose.
    const meta = await checkedMetadata(bytes, name, maxPixels);
    const image = openImage(bytes, maxPixels).keepIccProfile().autoOrient();
    if (meta.depth === 'ushort' && meta.channels === 1) {
      const px = await rawPixels(image, 'grey16', 'ushort');
      return clipGrey16ToRgb(px.data as Uint16Array, px.width, px.height);
    }
    // Other 16-bit images: libvips' conversion to 8 bits keeps the high byte, like Pillow's `;16B`
    // unpackers, and streams, so no 16-bit copy of the image is ever held.
    check(meta.depth === 'uchar' || meta.depth === 'ushort', `${name}: unsupported sample format ${meta.depth} (8- or 16-bit images only)`, 'E_IMAGE_DECODE');
    if (meta.space === 'cmyk') {
      const px = await rawPixels(image, 'cmyk', 'uchar');
      return cmykToRgb(px.data as Uint8Array, px.width, px.height);
    }
    const px = await rawPixels(image, 'srgb', 'uchar');
    return toRgb({ data: px.data as Uint8Array, width: px.width, height: px.height, channels: px.channels as RawImage['channels'] });
  });
}

/**
 * Decodes an encoded image (JPEG, PNG, WebP, GIF's first frame, TIFF, BMP) into 8-bit RGB as
 * transformers' `load_image` does.
 *
 * @param nameOrOptions the name for error messages (default "image bytes"), or `{ name, maxPixels }`
 *   (`maxPixels`: the pixel limit for this image, 0 = none; default: the process's).
 * @throws MobileNetV2Error naming the image: E_IMAGE_DECODE for empty, unrecognized, corrupt,
 *   truncated or zero-size images, E_IMAGE_TOO_LARGE above the pixel limit.
 */
export async function decodeImage(bytes: Uint8Array, nameOrOptions?: string | ImageReadOptions): Promise<RawImage> {
  const { name, maxPixels } = readOptions(nameOrOptions, 'image bytes');
  const format = formatOf(bytes, name);
  if (format === 'bmp') return bmpToRgb(decodeBmp(bytes, name, { maxPixels }));
  return decodeWithSharp(bytes, format, name, maxPixels);
}

/**
 * transformers' `load_image` + `convert("RGB")`: a path or encoded bytes are decoded with the EXIF
 * orientation applied; decoded pixels are converted to RGB.
 *
 * @param nameOrOptions names the image in error messages (default: the path), or `{ name, maxPixels }`
 *   (`maxPixels`: the pixel limit for this image, 0 = none; default: the process's).
 * @throws MobileNetV2Error naming the file for missing (E_FILE_NOT_FOUND), empty, unsupported,
 *   corrupt or truncated files (E_IMAGE_DECODE), and images above the pixel limit (E_IMAGE_TOO_LARGE).
 */
export async function loadImage(source: ImageSource, nameOrOptions?: string | ImageReadOptions): Promise<RawImage> {
  if (isRawImage(source)) {
    checkRawImage(source, readOptions(nameOrOptions, 'image').name);
    return toRgb(source);
  }
  const { bytes, name, maxPixels } = await bytesOf(source, nameOrOptions);
  return decodeImage(bytes, { name, maxPixels });
}

/**
 * Reads a segmentation map as `np.array(Image.open(path))` sees it: one channel of class indices —
 * palette indices for palette PNG/BMP masks, grey levels otherwise. No EXIF rotation (transformers
 * users pass the opened map as is).
 *
 * @param nameOrOptions as {@link loadImage}'s.
 * @throws MobileNetV2Error naming the file for unreadable files or maps with colour channels
 *   (E_IMAGE_DECODE), and maps above the pixel limit (E_IMAGE_TOO_LARGE).
 */
export async function loadSegmentationMap(source: ImageSource, nameOrOptions?: string | ImageReadOptions): Promise<RawImage> {
  if (isRawImage(source)) {
    checkRawImage(source, readOptions(nameOrOptions, 'segmentation map').name);
    return source;
  }
  const { bytes, name, maxPixels } = await bytesOf(source, nameOrOptions);
  const format = formatOf(bytes, name);
  if (format === 'png') return decodePngMap(bytes, name, maxPixels);
  if (format === 'bmp') {
    const bmp = decodeBmp(bytes, name, { maxPixels });
    check(bmp.kind === 'indexed', `${name}: a segmentation map must have one channel of class indices (8-bit palette or grey BMP), this BMP has RGB pixels`, 'E_IMAGE_DECODE');
    return { data: bmp.indices, width: bmp.width, height: bmp.height, channels: 1 };
  }
  return runSharp(name, format, async () => {
    const meta = await checkedMetadata(bytes, name, maxPixels);
    const image = openImage(bytes, maxPixels).keepIccProfile();
    check(meta.channels === 1 && meta.depth === 'uchar' && !meta.isPalette, `${name}: a segmentation map must be an 8-bit single-channel image (grey, or a palette PNG/BMP), this ${format.toUpperCase()} is not`, 'E_IMAGE_DECODE');
    const px = await rawPixels(image, 'b-w', 'uchar');
    return { data: px.data as Uint8Array, width: px.width, height: px.height, channels: 1 };
  });
}

/** Options of {@link encodePng}. */
export interface EncodePngOptions {
  /**
   * Write a 1-channel image as a palette PNG with these RGB colours (index → `[r, g, b]`), the
   * usual format of segmentation masks (PASCAL VOC's, for example).
   */
  palette?: ReadonlyArray<readonly [number, number, number]>;
}

/**
 * Encodes an 8-bit image (grey, grey+alpha, RGB, RGBA) as PNG — for masks and overlays.
 *
 * @throws MobileNetV2Error for a malformed image, or palette indices beyond the palette.
 */
export async function encodePng(image: RawImage, options: EncodePngOptions = {}): Promise<Uint8Array> {
  checkRawImage(image, 'image to encode');
  const { data, width, height, channels } = image;
  if (options.palette) {
    const { palette } = options;
    check(channels === 1, `a palette PNG needs a 1-channel image of indices, this one has ${channels} channels`);
    check(palette.length > 0 && palette.length <= 256, `a PNG palette has 1-256 colours, got ${palette.length}`);
    const max = data.reduce((m, v) => Math.max(m, v), 0);
    check(max < palette.length, `index ${max} is beyond the ${palette.length}-colour palette`);
    return encodePngIndexed({ width, height, data, channels: 1, depth: 8, palette: palette.map((c) => [...c]) });
  }
  // 'b-w' keeps 1- and 2-channel images grey in the file instead of expanding them to RGB.
  const pipeline = sharp(data, { raw: { width, height, channels } });
  const out = await (channels <= 2 ? pipeline.toColourspace('b-w') : pipeline).png().toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Writes `image` as a PNG file atomically (temporary name, then rename). */
export async function writePng(path: string, image: RawImage, options?: EncodePngOptions): Promise<void> {
  await writeFileAtomic(path, await encodePng(image, options));
}
