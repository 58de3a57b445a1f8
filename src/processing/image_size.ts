/**
 * Image sizes read from file headers, without decoding: what lets a decoder that allocates the
 * whole image at once (fast-png, a browser's createImageBitmap) be stopped by the pixel limit
 * first. Covers the formats browsers decode: PNG, JPEG, GIF, WebP, BMP. No Node APIs.
 */

/** Width and height in pixels. */
export interface ImageSize {
  width: number;
  height: number;
}

/** A PNG's IHDR fields. */
export interface PngHeader extends ImageSize {
  /** Bits per sample: 1, 2, 4, 8 or 16. */
  depth: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
  colourType: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const text = (bytes: Uint8Array, at: number, length: number) => String.fromCharCode(...bytes.subarray(at, at + length));

/** The IHDR of a PNG (it must be the first chunk), or undefined when there is none. */
export function pngHeader(bytes: Uint8Array): PngHeader | undefined {
  if (bytes.length < 29 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b) || text(bytes, 12, 4) !== 'IHDR') return undefined;
  const v = view(bytes);
  return { width: v.getUint32(16), height: v.getUint32(20), depth: bytes[24]!, colourType: bytes[25]! };
}

/** SOFn markers (C0–CF but DHT C4, JPG C8 and DAC CC) carry the frame size. */
const isStartOfFrame = (marker: number) => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

/** A JPEG's frame size: the first SOFn segment, found by walking the marker segments. */
function jpegSize(bytes: Uint8Array): ImageSize | undefined {
  const v = view(bytes);
  let pos = 2;
  while (pos + 9 <= bytes.length) {
    if (bytes[pos] !== 0xff) return undefined;
    const marker = bytes[pos + 1]!;
    if (marker === 0xff) {
      pos++; // fill byte
    } else if (isStartOfFrame(marker)) {
      return { width: v.getUint16(pos + 7), height: v.getUint16(pos + 5) };
    } else if ((marker >= 0xd0 && marker <= 0xd8) || marker === 0x01) {
      pos += 2; // standalone markers: RSTn, SOI, TEM
    } else {
      pos += 2 + v.getUint16(pos + 2);
    }
  }
  return undefined;
}

/** A WebP's canvas size from its first chunk (lossy VP8, lossless VP8L or extended VP8X). */
function webpSize(bytes: Uint8Array): ImageSize | undefined {
  if (bytes.length < 30) return undefined;
  const v = view(bytes);
  const chunk = text(bytes, 12, 4);
  if (chunk === 'VP8 ') return { width: v.getUint16(26, true) & 0x3fff, height: v.getUint16(28, true) & 0x3fff };
  if (chunk === 'VP8L') {
    const bits = v.getUint32(21, true);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') return { width: 1 + (v.getUint32(24, true) & 0xffffff), height: 1 + (v.getUint32(27, true) & 0xffffff) };
  return undefined;
}

/** A BMP's size: 16-bit fields in the OS/2 core header, signed 32-bit ones (negative height = top-down) otherwise. */
function bmpSize(bytes: Uint8Array): ImageSize | undefined {
  if (bytes.length < 26) return undefined;
  const v = view(bytes);
  if (v.getUint32(14, true) === 12) return { width: v.getUint16(18, true), height: v.getUint16(20, true) };
  return { width: Math.abs(v.getInt32(18, true)), height: Math.abs(v.getInt32(22, true)) };
}

/**
 * The size an encoded image's header claims, or undefined for other formats and headers too short
 * to hold it.
 */
export function imageSize(bytes: Uint8Array): ImageSize | undefined {
  const magic = text(bytes, 0, 4);
  if (magic === '\x89PNG') return pngHeader(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes);
  if (magic === 'GIF8' && bytes.length >= 10) return { width: view(bytes).getUint16(6, true), height: view(bytes).getUint16(8, true) };
  if (magic === 'RIFF' && text(bytes, 8, 4) === 'WEBP') return webpSize(bytes);
  if (magic.startsWith('BM')) return bmpSize(bytes);
  return undefined;
}
