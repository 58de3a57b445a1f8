/**
 * Image files in and out, in Node. Reading follows transformers' `load_image`: Pillow opens the
 * file, `ImageOps.exif_transpose` applies the EXIF orientation, `convert("RGB")` drops alpha (no
 * compositing) and replicates grey. JPEG, PNG, WebP, GIF (first frame) and TIFF are decoded by
 * sharp (libvips) with colour management off, as Pillow has none; 16-bit, CMYK and palette images
 * are mapped to 8-bit RGB with Pillow's rules; BMP by our own decoder (libvips has none).
 * Segmentation maps keep their class indices (palette indices of PNG/BMP masks).
 */
import { readFile } from 'node:fs/promises';
import { decode as decodePngIndexed, encode as encodePngIndexed } from 'fast-png';
import sharp, { type Sharp } from 'sharp';
import { check, MobileNetV2Error } from '../errors.js';
import { writeFileAtomic } from '../node/write_folder.js';
import { bmpToRgb, decodeBmp, isBmp } from './bmp.js';
import { checkRawImage, cmykToRgb, isRawImage, toRgb, type RawImage } from './image.js';

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
    if (code === 'ENOENT') throw new MobileNetV2Error(`${path}: image file not found`);
    if (code === 'EISDIR') throw new MobileNetV2Error(`${path}: is a directory, not an image file`);
    throw new MobileNetV2Error(`${path}: cannot read (${(err as Error).message})`);
  }
}

/** Bytes and a name for messages from a path or bytes. */
async function bytesOf(source: string | Uint8Array, name: string | undefined): Promise<{ bytes: Uint8Array; name: string }> {
  if (typeof source === 'string') return { bytes: await readBytes(source), name: name ?? source };
  check(source instanceof Uint8Array, () => `${name ?? 'image'}: expected a path, encoded bytes or {data, width, height, channels}`);
  return { bytes: source, name: name ?? 'image bytes' };
}

function formatOf(bytes: Uint8Array, name: string): ImageFormat {
  check(bytes.length > 0, `${name}: empty file`);
  const format = sniffFormat(bytes);
  check(format !== undefined, `${name}: unsupported or unrecognized image format (expected ${SUPPORTED})`);
  return format;
}

/** Runs a sharp pipeline, reporting libvips failures (corrupt or truncated data) as one line. */
async function runSharp<T>(name: string, format: ImageFormat, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (err) {
    if (err instanceof MobileNetV2Error) throw err;
    const reason = (err as Error).message.split('\n')[0]!.trim();
    throw new MobileNetV2Error(`${name}: cannot decode ${format.toUpperCase()} image (corrupt or truncated?): ${reason}`);
  }
}

/** Raw samples of a sharp image converted to `colourspace`, 8 or 16 bits. */
async function rawPixels(image: Sharp, colourspace: string, depth: 'uchar' | 'ushort'): Promise<{ data: Uint8Array | Uint16Array; width: number; height: number; channels: number }> {
  const { data, info } = await image.toColourspace(colourspace).raw({ depth }).toBuffer({ resolveWithObject: true });
  const samples = depth === 'ushort' ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2) : new Uint8Array(data.buffer, data.byteOffset, data.length);
  return { data: samples, width: info.width, height: info.height, channels: info.channels };
}

/**
 * Pillow's 16-bit handling: RGB(A) and grey+alpha keep the high byte (the `;16B` unpackers), grey
 * alone becomes mode "I", whose conversion to RGB clips at 255.
 */
function sixteenBitToRgb(samples: Uint16Array, width: number, height: number, channels: number, grey: boolean): RawImage {
  const eight = new Uint8Array(samples.length);
  const clip = grey && channels === 1;
  for (let i = 0; i < samples.length; i++) eight[i] = clip ? Math.min(samples[i]!, 255) : samples[i]! >> 8;
  return toRgb({ data: eight, width, height, channels: channels as RawImage['channels'] });
}

/** Decodes a non-BMP file with sharp into Pillow's `convert("RGB")` result, EXIF orientation applied. */
async function decodeWithSharp(bytes: Uint8Array, format: ImageFormat, name: string): Promise<RawImage> {
  return runSharp(name, format, async () => {
    // keepIccProfile: no colour conversion (Pillow ignores ICC profiles); autoOrient = exif_transpose.
    const image = sharp(bytes).keepIccProfile().autoOrient();
    const meta = await image.metadata();
    check((meta.width ?? 0) > 0 && (meta.height ?? 0) > 0, `${name}: image size ${meta.width}x${meta.height} is empty`);
    if (meta.depth === 'ushort') {
      const grey = meta.space === 'grey16' || meta.space === 'b-w';
      const px = await rawPixels(image, grey ? 'grey16' : 'rgb16', 'ushort');
      return sixteenBitToRgb(px.data as Uint16Array, px.width, px.height, px.channels, grey);
    }
    check(meta.depth === 'uchar', `${name}: unsupported sample format ${meta.depth} (8- or 16-bit images only)`);
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
 * @param name the file name for error messages.
 * @throws MobileNetV2Error naming `name` for empty, unrecognized, corrupt, truncated or zero-size images.
 */
export async function decodeImage(bytes: Uint8Array, name = 'image bytes'): Promise<RawImage> {
  const format = formatOf(bytes, name);
  if (format === 'bmp') return bmpToRgb(decodeBmp(bytes, name));
  return decodeWithSharp(bytes, format, name);
}

/**
 * transformers' `load_image` + `convert("RGB")`: a path or encoded bytes are decoded with the EXIF
 * orientation applied; decoded pixels are converted to RGB.
 *
 * @param name names the image in error messages (default: the path).
 * @throws MobileNetV2Error naming the file for missing, empty, unsupported, corrupt or truncated files.
 */
export async function loadImage(source: ImageSource, name?: string): Promise<RawImage> {
  if (isRawImage(source)) {
    checkRawImage(source, name ?? 'image');
    return toRgb(source);
  }
  const { bytes, name: label } = await bytesOf(source, name);
  return decodeImage(bytes, label);
}

/**
 * One value per pixel from fast-png's samples (rows of packed 1/2/4-bit values are byte-aligned).
 * Grey levels as numpy sees Pillow's modes: "1" keeps 0/1, 2- and 4-bit grey is scaled to 0–255;
 * palette indices stay as they are.
 */
function pngSamples(png: ReturnType<typeof decodePngIndexed>): Uint32Array {
  const { width, height, depth, data, palette } = png;
  const out = new Uint32Array(width * height);
  if (depth >= 8) {
    out.set(data);
    return out;
  }
  const scale = palette || depth === 1 ? 1 : 255 / ((1 << depth) - 1);
  const rowBytes = Math.ceil((width * depth) / 8);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = data[y * rowBytes + (bit >> 3)]!;
      out[y * width + x] = ((byte >> (8 - depth - (bit & 7))) & ((1 << depth) - 1)) * scale;
    }
  }
  return out;
}

/** A PNG map: palette indices, or grey levels as numpy sees them. */
function pngMap(bytes: Uint8Array, name: string): RawImage {
  let png: ReturnType<typeof decodePngIndexed>;
  try {
    png = decodePngIndexed(bytes);
  } catch (err) {
    throw new MobileNetV2Error(`${name}: cannot decode PNG segmentation map (corrupt or truncated?): ${(err as Error).message}`);
  }
  const { width, height, channels } = png;
  check(width > 0 && height > 0, `${name}: image size ${width}x${height} is empty`);
  check(channels === 1, `${name}: a segmentation map must have one channel of class indices (grey or palette PNG), this one has ${channels}`);
  const samples = pngSamples(png);
  const max = samples.reduce((m, v) => Math.max(m, v), 0);
  check(max <= 255, () => `${name}: class index ${max} does not fit 8 bits (transformers converts maps to 8-bit images)`);
  return { data: Uint8Array.from(samples), width, height, channels: 1 };
}

/**
 * Reads a segmentation map as `np.array(Image.open(path))` sees it: one channel of class indices —
 * palette indices for palette PNG/BMP masks, grey levels otherwise. No EXIF rotation (transformers
 * users pass the opened map as is).
 *
 * @throws MobileNetV2Error naming the file for unreadable files or maps with colour channels.
 */
export async function loadSegmentationMap(source: ImageSource, name?: string): Promise<RawImage> {
  if (isRawImage(source)) {
    checkRawImage(source, name ?? 'segmentation map');
    return source;
  }
  const { bytes, name: label } = await bytesOf(source, name);
  const format = formatOf(bytes, label);
  if (format === 'png') return pngMap(bytes, label);
  if (format === 'bmp') {
    const bmp = decodeBmp(bytes, label);
    check(bmp.kind === 'indexed', `${label}: a segmentation map must have one channel of class indices (8-bit palette or grey BMP), this BMP has RGB pixels`);
    return { data: bmp.indices, width: bmp.width, height: bmp.height, channels: 1 };
  }
  return runSharp(label, format, async () => {
    const meta = await sharp(bytes).metadata();
    check(meta.channels === 1 && meta.depth === 'uchar' && !meta.isPalette, `${label}: a segmentation map must be an 8-bit single-channel image (grey, or a palette PNG/BMP), this ${format.toUpperCase()} is not`);
    const px = await rawPixels(sharp(bytes).keepIccProfile(), 'b-w', 'uchar');
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
