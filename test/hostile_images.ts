/**
 * Small generators of hostile image files for the decoder tests: BMP headers written field by
 * field, PNG chunks written by hand, and zlib streams of N zero bytes built directly (fixed-Huffman
 * matches of 258 zeros, 13 bits each), so a gigabyte of image data costs a few megabytes and no
 * gigabyte buffer. Plus a child-process runner that measures a decode's peak memory.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { REPO_ROOT } from './helpers.js';

/** LSB-first bit writer into a buffer of known size, as deflate packs its bits. */
class BitWriter {
  readonly bytes: Uint8Array;
  private length = 0;
  private acc = 0;
  private count = 0;

  constructor(bits: number) {
    this.bytes = new Uint8Array(Math.ceil(bits / 8));
  }

  write(value: number, bits: number): void {
    this.acc |= value << this.count;
    this.count += bits;
    while (this.count >= 8) {
      this.bytes[this.length++] = this.acc & 0xff;
      this.acc >>>= 8;
      this.count -= 8;
    }
  }

  finish(): Uint8Array {
    if (this.count > 0) this.bytes[this.length++] = this.acc & 0xff;
    return this.bytes.subarray(0, this.length);
  }
}

/** A Huffman code of `bits` bits, reversed so that BitWriter emits its most significant bit first. */
function huffman(code: number, bits: number): number {
  let out = 0;
  for (let i = 0; i < bits; i++) out |= ((code >> i) & 1) << (bits - 1 - i);
  return out;
}

/** A zlib stream that inflates to `n` zero bytes (n ≥ 1), in one fixed-Huffman deflate block. */
export function zlibZeros(n: number): Uint8Array {
  const matches = Math.floor((n - 1) / 258);
  const w = new BitWriter(3 + 8 + 13 * matches + 8 * ((n - 1) % 258) + 7);
  w.write(1, 1); // BFINAL
  w.write(1, 2); // BTYPE = fixed Huffman
  const literalZero = huffman(0x30, 8);
  w.write(literalZero, 8);
  // Length 258 = symbol 285 (8-bit code 0xC5), then distance 1 = distance code 0 (5 bits): 13 bits.
  const match = huffman(0xc5, 8);
  for (let i = 0; i < matches; i++) w.write(match, 13);
  for (let i = 0; i < (n - 1) % 258; i++) w.write(literalZero, 8);
  w.write(0, 7); // end of block (symbol 256)
  const adler = ((n % 65521) * 65536 + 1) >>> 0; // a = 1, b = n·1
  const trailer = Uint8Array.from([adler >>> 24, (adler >>> 16) & 0xff, (adler >>> 8) & 0xff, adler & 0xff]);
  return Buffer.concat([Uint8Array.from([0x78, 0x01]), w.finish(), trailer]);
}

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  out.set(Buffer.from(type, 'latin1'), 4);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** PNG fields of {@link pngFile}. */
export interface PngSpec {
  width: number;
  height: number;
  /** Bits per sample (default 8). */
  depth?: number;
  /** 0 grey, 2 RGB, 3 palette (default), 4 grey+alpha, 6 RGBA. */
  colourType?: number;
  /** The zlib stream of the IDAT chunk (default: zero rows of the right size). */
  idat?: Uint8Array;
  /** Chunks to put between PLTE and IDAT. */
  extra?: Uint8Array[];
}

/** Samples per pixel of the PNG colour types. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** A PNG from its fields; palette images get a 2-colour PLTE. Zero rows compress to ~1/1600 of their size. */
export function pngFile(spec: PngSpec): Uint8Array {
  const { width, height, depth = 8, colourType = 3 } = spec;
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([depth, colourType, 0, 0, 0], 8);
  const rowBytes = Math.ceil((width * CHANNELS[colourType]! * depth) / 8);
  const idat = spec.idat ?? zlibZeros(height * (1 + rowBytes));
  const parts = [
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    ...(colourType === 3 ? [pngChunk('PLTE', Uint8Array.from([0, 0, 0, 255, 255, 255]))] : []),
    ...(spec.extra ?? []),
    pngChunk('IDAT', idat),
    pngChunk('IEND', new Uint8Array(0)),
  ];
  return Buffer.concat(parts);
}

/** BMP fields of {@link bmpFile}; anything not given is a plausible default. */
export interface BmpSpec {
  width: number;
  height: number;
  bits: number;
  compression?: number;
  headerSize?: number;
  /** biClrUsed. */
  colors?: number;
  /** bfOffBits (default: right after the headers, masks and palette). */
  dataOffset?: number;
  masks?: number[];
  palette?: number[][];
  /** Pixel data (or RLE stream) after the headers. */
  pixels?: Uint8Array;
}

/** A BMP with a 40-byte (or `headerSize`) info header, every field as given, nothing validated. */
export function bmpFile(spec: BmpSpec): Uint8Array {
  const headerSize = spec.headerSize ?? 40;
  const masks = spec.masks ?? [];
  const palette = spec.palette ?? [];
  const offset = 14 + headerSize + masks.length * 4 + palette.length * 4;
  const pixels = spec.pixels ?? new Uint8Array(0);
  const out = new Uint8Array(Math.max(offset + pixels.length, 14 + headerSize));
  const v = new DataView(out.buffer);
  out.set([0x42, 0x4d]);
  v.setUint32(2, out.length, true);
  v.setUint32(10, spec.dataOffset ?? offset, true);
  v.setUint32(14, headerSize, true);
  v.setInt32(18, spec.width, true);
  v.setInt32(22, spec.height, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, spec.bits, true);
  v.setUint32(30, spec.compression ?? 0, true);
  v.setUint32(46, spec.colors ?? palette.length, true);
  masks.forEach((m, i) => v.setUint32(14 + headerSize + 4 * i, m, true));
  palette.forEach(([r, g, b], i) => out.set([b!, g!, r!, 0], 14 + headerSize + masks.length * 4 + 4 * i));
  out.set(pixels, offset);
  return out;
}

/** What a decode in a child process gave: the error (if any), its time and the child's peak RSS. */
export interface ChildDecode {
  code?: string;
  message?: string;
  width?: number;
  height?: number;
  ms: number;
  /** Peak resident set size of the whole child, in MiB. */
  peakMiB: number;
}

/**
 * Runs `loadImage` or `loadSegmentationMap` on `path` in a fresh Node process, so that the peak
 * RSS is the decode's alone (the test process has its own history).
 */
export function decodeInChild(loader: 'loadImage' | 'loadSegmentationMap', path: string, env: Record<string, string> = {}): ChildDecode {
  const module = join(REPO_ROOT, 'dist/src/processing/image_io_node.js');
  const script = `
    const m = await import(${JSON.stringify(module)});
    const t = performance.now();
    let out = {};
    try { const r = await m.${loader}(${JSON.stringify(path)}); out = { width: r.width, height: r.height }; }
    catch (e) { out = { code: e.code ?? e.name, message: e.message }; }
    out.ms = performance.now() - t;
    out.peakMiB = process.resourceUsage().maxRSS / 1024;
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child decode failed (${r.status} ${r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildDecode;
}
