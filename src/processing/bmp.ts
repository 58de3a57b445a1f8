/**
 * BMP decoding with Pillow's reading rules (BmpImagePlugin, Pillow 9.4): palette images keep their
 * indices (a segmentation mask's class per pixel, as `np.array(Image.open(mask))` gives), 32-bit
 * BI_RGB ignores the fourth byte, BITFIELDS accepts Pillow's byte-aligned layouts and 5/6/5 and
 * 5/5/5 16-bit, RLE8/RLE4 follow Pillow's decoder. sharp (libvips) has no BMP loader, and the npm
 * BMP decoders expand palettes, losing the indices masks need. No Node APIs.
 *
 * The file is untrusted: sizes are computed in floating point (no 32-bit wrap-around), every read
 * is bounds-checked against the file before it happens, and the pixel limit is checked from the
 * header before any pixel buffer is allocated. Every failure is an E_IMAGE_DECODE error naming the
 * file (E_IMAGE_TOO_LARGE above the limit).
 */
import { check, MobileNetV2Error } from '../errors.js';
import type { RawImage } from './image.js';
import { checkImagePixels, limitOf, type ImageLimitOptions } from './pixel_limit.js';

/** A decoded BMP: palette indices plus palette, or direct colour. */
export type DecodedBmp =
  | { kind: 'indexed'; width: number; height: number; indices: Uint8Array; /** 256 RGB triplets */ palette: Uint8Array }
  | { kind: 'direct'; image: RawImage };

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;
const HEADER_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);
const BIT_DEPTHS = new Set([1, 2, 4, 8, 16, 24, 32]);

/** `check` with the code of every BMP format failure. */
function ok(condition: unknown, message: string): asserts condition {
  check(condition, message, 'E_IMAGE_DECODE');
}

/** True when `bytes` start with the BMP signature. */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

interface Header {
  width: number;
  height: number;
  topDown: boolean;
  bits: number;
  compression: number;
  colors: number;
  masks: [number, number, number];
  /** File offset of the colour table. */
  paletteOffset: number;
  paletteEntrySize: number;
  dataOffset: number;
}

function readHeader(view: DataView, source: string): Header {
  const size = view.byteLength;
  ok(size >= 26, `${source}: truncated BMP (${size} bytes, the headers alone need more)`);
  const headerSize = view.getUint32(14, true);
  ok(HEADER_SIZES.has(headerSize), `${source}: unsupported BMP header size ${headerSize}`);
  ok(size >= 14 + headerSize, `${source}: truncated BMP header`);
  const dataOffset = view.getUint32(10, true);
  if (headerSize === 12) {
    // OS/2 1.x BITMAPCOREHEADER: 16-bit sizes, 3-byte palette entries.
    const bits = view.getUint16(24, true);
    return { width: view.getUint16(18, true), height: view.getUint16(20, true), topDown: false, bits, compression: BI_RGB,
      colors: bits <= 8 ? 1 << bits : 0, masks: [0, 0, 0], paletteOffset: 26, paletteEntrySize: 3, dataOffset };
  }
  const rawHeight = view.getInt32(22, true);
  // -2^31 has no positive int32 counterpart: Pillow's abs() would give a height no BMP can hold.
  ok(rawHeight !== -(2 ** 31), `${source}: BMP height ${rawHeight} is out of range`);
  const bits = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  let paletteOffset = 14 + headerSize;
  let masks: [number, number, number] = [0, 0, 0];
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    // V2+ headers hold the masks; a 40-byte header is followed by them.
    const at = 54;
    if (headerSize === 40) paletteOffset += compression === BI_ALPHABITFIELDS ? 16 : 12;
    ok(size >= at + 12, `${source}: truncated BMP bitfield masks`);
    masks = [view.getUint32(at, true), view.getUint32(at + 4, true), view.getUint32(at + 8, true)];
  }
  const clrUsed = view.getUint32(46, true);
  return { width: view.getInt32(18, true), height: Math.abs(rawHeight), topDown: rawHeight < 0, bits, compression,
    colors: clrUsed || (bits <= 8 ? 1 << bits : 0), masks, paletteOffset, paletteEntrySize: 4, dataOffset };
}

function readPalette(bytes: Uint8Array, h: Header, source: string): Uint8Array {
  ok(h.colors > 0 && h.colors <= 256 * 256, `${source}: unsupported BMP palette size ${h.colors}`);
  const end = h.paletteOffset + h.colors * h.paletteEntrySize;
  ok(end <= bytes.length, `${source}: truncated BMP palette`);
  // Pillow's palettes start as a grey ramp; indices past the file's colour table keep it.
  const palette = new Uint8Array(768);
  for (let i = 0; i < 256; i++) palette.fill(i, 3 * i, 3 * i + 3);
  for (let i = 0; i < Math.min(h.colors, 256); i++) {
    const p = h.paletteOffset + i * h.paletteEntrySize;
    palette[3 * i] = bytes[p + 2]!; // stored B, G, R
    palette[3 * i + 1] = bytes[p + 1]!;
    palette[3 * i + 2] = bytes[p]!;
  }
  return palette;
}

/**
 * Bytes per stored row (padded to 4 bytes), in floating point: the int32 form
 * `((bits * width + 31) >> 5) << 2` wraps negative for wide images.
 */
function rowStride(bits: number, width: number): number {
  return Math.ceil((bits * width) / 32) * 4;
}

/** Checks that the uncompressed pixel array lies inside the file. */
function checkPixelArray(bytes: Uint8Array, h: Header, stride: number, source: string): void {
  const needed = stride * h.height;
  ok(h.dataOffset + needed <= bytes.length, `${source}: truncated BMP (pixel data needs ${needed} bytes from offset ${h.dataOffset}, the file has ${bytes.length} bytes)`);
}

/** A zeroed buffer of `length` bytes; an allocation failure (the limit raised too far) becomes one clear line. */
function allocate(length: number, source: string): Uint8Array {
  try {
    return new Uint8Array(length);
  } catch (err) {
    throw new MobileNetV2Error(`${source}: cannot allocate ${length} bytes for the BMP's pixels`, { code: 'E_IMAGE_TOO_LARGE', cause: err });
  }
}

/** Index of the first byte of image row `y` (top = 0) in an uncompressed pixel array. */
function rowStart(h: Header, y: number, stride: number): number {
  return h.dataOffset + (h.topDown ? y : h.height - 1 - y) * stride;
}

function unpackIndices(bytes: Uint8Array, h: Header, source: string): Uint8Array {
  const { width, height, bits } = h;
  const stride = rowStride(bits, width);
  checkPixelArray(bytes, h, stride, source);
  const out = allocate(width * height, source);
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  for (let y = 0; y < height; y++) {
    const start = rowStart(h, y, stride);
    for (let x = 0; x < width; x++) {
      const byte = bytes[start + Math.floor(x / perByte)]!;
      out[y * width + x] = (byte >> (8 - bits * (1 + (x % perByte)))) & mask;
    }
  }
  return out;
}

/** Pillow's `BmpRleDecoder`: a linear index buffer in file row order, then flipped if bottom-up. */
function decodeRle(bytes: Uint8Array, h: Header, rle4: boolean, source: string): Uint8Array {
  const { width, height } = h;
  const total = width * height;
  const data = allocate(total + 256, source); // room for the last overlong run
  let n = 0;
  let x = 0;
  let pos = h.dataOffset;
  const push = (v: number) => {
    if (n < data.length) data[n] = v;
    n++;
  };
  while (n < total && pos + 1 < bytes.length) {
    const count = bytes[pos]!;
    const byte = bytes[pos + 1]!;
    pos += 2;
    if (count > 0) {
      const run = Math.max(0, Math.min(count, width - x));
      for (let i = 0; i < run; i++) push(rle4 ? (i % 2 === 0 ? byte >> 4 : byte & 0x0f) : byte);
      x += run;
    } else if (byte === 0) {
      while (n % width !== 0) push(0);
      x = 0;
    } else if (byte === 1) {
      break;
    } else if (byte === 2) {
      if (pos + 1 >= bytes.length) break;
      const skip = bytes[pos]! + bytes[pos + 1]! * width;
      pos += 2;
      for (let i = 0; i < skip; i++) push(0);
      x = n % width;
    } else {
      const byteCount = rle4 ? byte >> 1 : byte;
      const available = Math.min(byteCount, bytes.length - pos);
      for (let i = 0; i < available; i++) {
        const b = bytes[pos + i]!;
        if (rle4) {
          push(b >> 4);
          push(b & 0x0f);
        } else {
          push(b);
        }
      }
      pos += available;
      if (available < byteCount) break;
      x += byte;
      if (pos % 2 !== 0) pos++; // runs are padded to 16 bits
    }
  }
  ok(n >= total, `${source}: truncated BMP (RLE data ends after ${Math.min(n, total)} of ${total} pixels)`);
  const out = allocate(total, source);
  for (let y = 0; y < height; y++) {
    const fileRow = h.topDown ? y : height - 1 - y;
    out.set(data.subarray(fileRow * width, fileRow * width + width), y * width);
  }
  return out;
}

/** Shift of a byte-aligned 8-bit channel mask, or -1. */
function byteShift(mask: number): number {
  for (const shift of [0, 8, 16, 24]) if (mask >>> 0 === (0xff << shift) >>> 0) return shift;
  return -1;
}

function decodeDirect(bytes: Uint8Array, h: Header, source: string): RawImage {
  const { width, height, bits } = h;
  const bytesPerPixel = bits / 8;
  const stride = rowStride(bits, width);
  checkPixelArray(bytes, h, stride, source);
  const bitfields = h.compression === BI_BITFIELDS || h.compression === BI_ALPHABITFIELDS;
  // Pillow's defaults: 32-bit BGRX (the 4th byte ignored), 24-bit BGR, 16-bit 5/5/5.
  let masks = h.masks;
  if (!bitfields) masks = bits === 16 ? [0x7c00, 0x3e0, 0x1f] : [0xff0000, 0xff00, 0xff];
  const shifts = masks.map(byteShift);
  const is565 = bits === 16 && masks.join() === [0xf800, 0x7e0, 0x1f].join();
  const is555 = bits === 16 && masks.join() === [0x7c00, 0x3e0, 0x1f].join();
  ok(
    (bits === 24 && shifts.join() === '16,8,0') || (bits === 32 && shifts.every((s) => s >= 0)) || is565 || is555,
    `${source}: unsupported BMP bitfields layout for ${bits}-bit pixels (masks ${masks.map((m) => `0x${m.toString(16)}`).join(', ')})`,
  );
  const out = allocate(width * height * 3, source);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let y = 0; y < height; y++) {
    const start = rowStart(h, y, stride);
    for (let x = 0, o = y * width * 3; x < width; x++, o += 3) {
      const p = start + x * bytesPerPixel;
      if (bits === 16) {
        const v = view.getUint16(p, true);
        // Pillow's BGR;15 / BGR;16 unpackers: value * 255 / max, truncated.
        out[o] = is565 ? Math.trunc(((v >> 11) & 31) * 255 / 31) : Math.trunc(((v >> 10) & 31) * 255 / 31);
        out[o + 1] = is565 ? Math.trunc(((v >> 5) & 63) * 255 / 63) : Math.trunc(((v >> 5) & 31) * 255 / 31);
        out[o + 2] = Math.trunc((v & 31) * 255 / 31);
      } else {
        const v = bits === 32 ? view.getUint32(p, true) : bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16);
        for (let c = 0; c < 3; c++) out[o + c] = (v >>> shifts[c]!) & 0xff;
      }
    }
  }
  return { data: out, width, height, channels: 3 };
}

/**
 * Decodes a BMP file.
 *
 * @param source the file name for error messages.
 * @param options `maxPixels`: the pixel limit (0 = none; default: the process's), checked from the header.
 * @throws MobileNetV2Error (E_IMAGE_DECODE) for a missing signature, an unsupported variant, a
 *   zero-size image or truncated data; (E_IMAGE_TOO_LARGE) for an image above the pixel limit.
 */
export function decodeBmp(bytes: Uint8Array, source: string, options: ImageLimitOptions = {}): DecodedBmp {
  ok(isBmp(bytes), `${source}: not a BMP file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = readHeader(view, source);
  ok(h.width > 0 && h.height > 0, `${source}: BMP image size ${h.width}x${h.height} is empty`);
  ok(BIT_DEPTHS.has(h.bits), `${source}: unsupported BMP bit depth ${h.bits}`);
  checkImagePixels(h.width, h.height, source, limitOf(options, source));
  if (h.bits <= 8) {
    const palette = readPalette(bytes, h, source);
    let indices: Uint8Array;
    if (h.compression === BI_RLE8 || h.compression === BI_RLE4) {
      ok(h.bits === (h.compression === BI_RLE8 ? 8 : 4), `${source}: RLE compression ${h.compression} does not match ${h.bits}-bit pixels`);
      indices = decodeRle(bytes, h, h.compression === BI_RLE4, source);
    } else {
      ok(h.compression === BI_RGB, `${source}: unsupported BMP compression ${h.compression}`);
      indices = unpackIndices(bytes, h, source);
    }
    return { kind: 'indexed', width: h.width, height: h.height, indices, palette };
  }
  ok(h.compression === BI_RGB || h.compression === BI_BITFIELDS || h.compression === BI_ALPHABITFIELDS, `${source}: unsupported BMP compression ${h.compression}`);
  return { kind: 'direct', image: decodeDirect(bytes, h, source) };
}

/** The RGB image Pillow's `convert("RGB")` gives for a decoded BMP (palette looked up). */
export function bmpToRgb(bmp: DecodedBmp): RawImage {
  if (bmp.kind === 'direct') return bmp.image;
  const { indices, palette, width, height } = bmp;
  const out = new Uint8Array(indices.length * 3);
  for (let i = 0; i < indices.length; i++) {
    const p = indices[i]! * 3;
    out[3 * i] = palette[p]!;
    out[3 * i + 1] = palette[p + 1]!;
    out[3 * i + 2] = palette[p + 2]!;
  }
  return { data: out, width, height, channels: 3 };
}
