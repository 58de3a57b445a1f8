/**
 * PNG segmentation maps, decoded with fast-png because it keeps palette indices (libvips expands
 * them to colours). fast-png has no limits of its own: it allocates whatever the IHDR claims and
 * inflates however much IDAT (and iCCP) data there is. So the size is checked from the IHDR against
 * the pixel limit, and the compressed data is inflated once in small pieces, counting, before
 * fast-png runs: a 390 KB file claiming 20000² pixels, or a 1×1 PNG whose IDAT inflates to
 * gigabytes, is refused with memory bounded by one piece. No Node APIs.
 */
import { decode as decodePng } from 'fast-png';
import { Unzlib } from 'fflate';
import { oneLine } from '../describe.js';
import { check, MobileNetV2Error } from '../errors.js';
import type { RawImage } from './image.js';
import { pngHeader, type PngHeader } from './image_size.js';
import { checkImagePixels } from './pixel_limit.js';

/** Samples per pixel of each PNG colour type. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Compressed bytes fed to the counting inflater at once: deflate expands at most ~1032×, so ≤ 1 MiB out per piece. */
const INFLATE_PIECE = 1024;

/**
 * Most bytes the image data may inflate to: each row's samples plus its filter byte, with room
 * for Adam7 interlacing (under 2 × 15/8 extra row bytes per image row) and a little slack.
 */
function inflatedLimit(h: PngHeader): number {
  const rowBytes = Math.ceil((h.width * (CHANNELS[h.colourType] ?? 4) * h.depth) / 8);
  return h.height * (rowBytes + 4) + 64;
}

/** Most bytes an embedded ICC profile may inflate to (real profiles are kilobytes, rarely a megabyte). */
const MAX_ICC_PROFILE_BYTES = 16 * 1024 * 1024;

/** The data of each chunk of a PNG, in file order (a chunk running past the end is cut short). */
function chunks(bytes: Uint8Array): Array<{ type: string; data: Uint8Array }> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [];
  for (let pos = 8; pos + 8 <= bytes.length; pos += 12 + v.getUint32(pos)) {
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    out.push({ type, data: bytes.subarray(pos + 8, Math.min(pos + 8 + v.getUint32(pos), bytes.length)) });
  }
  return out;
}

/** Inflates `parts` (one zlib stream) piece by piece, throwing as soon as they give more than `limit` bytes. */
function checkInflatedSize(parts: Uint8Array[], limit: number, what: string, name: string): void {
  let total = 0;
  const inflater = new Unzlib((chunk) => {
    total += chunk.length;
    check(total <= limit, `${name}: PNG ${what} inflates to more than ${limit} bytes (a decompression bomb?)`, 'E_IMAGE_DECODE');
  });
  for (const part of parts) {
    for (let at = 0; at < part.length; at += INFLATE_PIECE) inflater.push(part.subarray(at, at + INFLATE_PIECE));
  }
}

/** Checks what fast-png would inflate: the image data against the IHDR's size, ICC profiles against a fixed cap. */
function checkInflatedSizes(bytes: Uint8Array, header: PngHeader, name: string): void {
  const all = chunks(bytes);
  checkInflatedSize(all.filter((c) => c.type === 'IDAT').map((c) => c.data), inflatedLimit(header), 'image data', name);
  for (const { data } of all.filter((c) => c.type === 'iCCP')) {
    // keyword, NUL, compression method, then the zlib stream
    checkInflatedSize([data.subarray(data.indexOf(0) + 2)], MAX_ICC_PROFILE_BYTES, 'ICC profile', name);
  }
}

/**
 * One 8-bit value per pixel from fast-png's samples (rows of packed 1/2/4-bit values are
 * byte-aligned). Grey levels as numpy sees Pillow's modes: "1" keeps 0/1, 2- and 4-bit grey is
 * scaled to 0–255; palette indices stay as they are; 16-bit values above 255 are refused.
 */
function pngSamples(png: ReturnType<typeof decodePng>, name: string): Uint8Array {
  const { width, height, depth, data, palette } = png;
  if (depth === 8) return data as Uint8Array;
  if (depth === 16) {
    const max = (data as Uint16Array).reduce((m, v) => Math.max(m, v), 0);
    check(max <= 255, () => `${name}: class index ${max} does not fit 8 bits (transformers converts maps to 8-bit images)`, 'E_IMAGE_DECODE');
    return Uint8Array.from(data);
  }
  const out = new Uint8Array(width * height);
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

/**
 * A PNG segmentation map: palette indices, or grey levels as numpy sees them.
 *
 * @param maxPixels the pixel limit in force (`Infinity` = none).
 * @throws MobileNetV2Error (E_IMAGE_TOO_LARGE) above the limit, (E_IMAGE_DECODE) for corrupt or
 *   truncated files, zero sizes, colour channels or values above 255.
 */
export function decodePngMap(bytes: Uint8Array, name: string, maxPixels: number): RawImage {
  const header = pngHeader(bytes);
  check(header !== undefined, `${name}: cannot decode PNG segmentation map (no IHDR header: corrupt or truncated?)`, 'E_IMAGE_DECODE');
  check(header.width > 0 && header.height > 0, `${name}: image size ${header.width}x${header.height} is empty`, 'E_IMAGE_DECODE');
  checkImagePixels(header.width, header.height, name, maxPixels);
  check(CHANNELS[header.colourType] === 1, `${name}: a segmentation map must have one channel of class indices (grey or palette PNG), this one has ${CHANNELS[header.colourType] ?? 'an unknown number of'} channels`, 'E_IMAGE_DECODE');
  let png: ReturnType<typeof decodePng>;
  try {
    checkInflatedSizes(bytes, header, name);
    png = decodePng(bytes);
  } catch (err) {
    if (err instanceof MobileNetV2Error) throw err;
    throw new MobileNetV2Error(`${name}: cannot decode PNG segmentation map (corrupt or truncated?): ${oneLine((err as Error).message)}`, { code: 'E_IMAGE_DECODE', cause: err });
  }
  const { width, height } = png;
  return { data: pngSamples(png, name), width, height, channels: 1 };
}
