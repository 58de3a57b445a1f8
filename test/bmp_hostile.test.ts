/**
 * The BMP decoder against hostile headers: every field out of range gives a MobileNetV2Error
 * (E_IMAGE_DECODE, or E_IMAGE_TOO_LARGE above the pixel limit) naming the file, quickly and without
 * allocating what the header claims; random header mutations never give anything else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MobileNetV2Error } from '../src/errors.js';
import { decodeBmp } from '../src/processing/bmp.js';
import { bmpFile, type BmpSpec } from './hostile_images.js';

const PALETTE = [[0, 0, 0], [255, 255, 255]];

/** Asserts that decoding throws a MobileNetV2Error with `code` naming the file, matching `pattern`. */
function refuses(bytes: Uint8Array, code: string, pattern: RegExp, maxPixels?: number): void {
  const started = performance.now();
  assert.throws(() => decodeBmp(bytes, 'hostile.bmp', { maxPixels }), (err: unknown) => {
    assert.ok(err instanceof MobileNetV2Error, `a MobileNetV2Error, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, /^hostile\.bmp: /);
    assert.match(err.message, pattern);
    return true;
  });
  assert.ok(performance.now() - started < 1000, 'refused quickly');
}

describe('hostile BMP headers', () => {
  it('a row stride that overflows 32 bits is neither accepted nor a RangeError', () => {
    for (const bits of [1, 8, 16, 24, 32]) {
      const bmp = bmpFile({ width: 2 ** 28, height: 1, bits, palette: bits <= 8 ? PALETTE : [] });
      refuses(bmp, 'E_IMAGE_TOO_LARGE', /image is 268435456×1 = 268435456 pixels, above the limit 89478485/);
      // With the limit off, the 1 KB file is simply too short for the rows it claims.
      refuses(bmp, 'E_IMAGE_DECODE', /truncated BMP \(pixel data needs \d+ bytes/, 0);
    }
  });

  it('sizes, heights and depths out of range', () => {
    const cases: Array<[string, BmpSpec, RegExp]> = [
      ['height -2^31', { width: 1, height: -(2 ** 31), bits: 24 }, /BMP height -2147483648 is out of range/],
      ['negative width', { width: -5, height: 1, bits: 24 }, /BMP image size -5x1 is empty/],
      ['zero height', { width: 5, height: 0, bits: 24 }, /BMP image size 5x0 is empty/],
      ['0 bits', { width: 1, height: 1, bits: 0 }, /unsupported BMP bit depth 0/],
      ['3 bits', { width: 1, height: 1, bits: 3, palette: PALETTE }, /unsupported BMP bit depth 3/],
      ['64 bits', { width: 1, height: 1, bits: 64 }, /unsupported BMP bit depth 64/],
      ['header size 41', { width: 1, height: 1, bits: 24, headerSize: 41 }, /unsupported BMP header size 41/],
      ['pixel data offset 2^32-1', { width: 1, height: 1, bits: 24, dataOffset: 0xffffffff, pixels: new Uint8Array(4) }, /truncated BMP \(pixel data needs 4 bytes from offset 4294967295/],
    ];
    for (const [what, spec, pattern] of cases) {
      assert.doesNotThrow(() => bmpFile(spec), what);
      refuses(bmpFile(spec), 'E_IMAGE_DECODE', pattern);
    }
  });

  it('palettes: counts out of range, past the end of the file', () => {
    refuses(bmpFile({ width: 1, height: 1, bits: 8, colors: 0xffffffff }), 'E_IMAGE_DECODE', /unsupported BMP palette size 4294967295/);
    refuses(bmpFile({ width: 1, height: 1, bits: 8, colors: 65536 }), 'E_IMAGE_DECODE', /truncated BMP palette/);
  });

  it('bitfield masks: missing, or layouts Pillow does not read', () => {
    const cut = bmpFile({ width: 1, height: 1, bits: 16, compression: 3 }).subarray(0, 60);
    refuses(cut, 'E_IMAGE_DECODE', /truncated BMP/);
    refuses(bmpFile({ width: 1, height: 1, bits: 16, compression: 3, masks: [0xffffffff, 0, 1], pixels: new Uint8Array(4) }), 'E_IMAGE_DECODE', /unsupported BMP bitfields layout for 16-bit pixels \(masks 0xffffffff, 0x0, 0x1\)/);
    refuses(bmpFile({ width: 1, height: 1, bits: 32, compression: 3, masks: [0x0f0, 0xff00, 0xff], pixels: new Uint8Array(4) }), 'E_IMAGE_DECODE', /unsupported BMP bitfields layout for 32-bit pixels/);
  });

  it('RLE runs past the row and the image end are clipped; short streams are truncated', () => {
    // An encoded run of 255 in a 3-wide row, an absolute run of 5 bytes, a delta far past the image.
    const rle = (stream: number[]) => bmpFile({ width: 3, height: 2, bits: 8, compression: 1, palette: PALETTE, pixels: Uint8Array.from(stream) });
    const clipped = decodeBmp(rle([255, 1, 0, 0, 0, 5, 1, 1, 1, 1, 1, 0, 0, 1]), 'rle.bmp');
    assert.equal(clipped.kind, 'indexed');
    assert.deepEqual(clipped.kind === 'indexed' && [...clipped.indices], [1, 1, 1, 1, 1, 1]);
    const skipped = decodeBmp(rle([0, 2, 255, 255, 0, 1]), 'delta.bmp');
    assert.deepEqual(skipped.kind === 'indexed' && [...skipped.indices], [0, 0, 0, 0, 0, 0]);
    refuses(rle([0, 5, 1, 1]), 'E_IMAGE_DECODE', /truncated BMP \(RLE data ends after 2 of 6 pixels\)/);
    refuses(rle([3, 1]), 'E_IMAGE_DECODE', /truncated BMP \(RLE data ends after 3 of 6 pixels\)/);
  });

  it('random header mutations give a clean result or a clean error, never a raw one', () => {
    const seeds = [
      bmpFile({ width: 3, height: 2, bits: 24, pixels: new Uint8Array(24) }),
      bmpFile({ width: 5, height: -2, bits: 8, palette: PALETTE, pixels: new Uint8Array(16) }),
      bmpFile({ width: 5, height: 2, bits: 8, compression: 1, palette: PALETTE, pixels: Uint8Array.from([5, 1, 0, 0, 0, 3, 1, 0, 1, 0, 0, 1]) }),
      bmpFile({ width: 2, height: 2, bits: 16, compression: 3, masks: [0xf800, 0x7e0, 0x1f], pixels: new Uint8Array(8) }),
      bmpFile({ width: 2, height: 2, bits: 32, pixels: new Uint8Array(16) }),
      bmpFile({ width: 9, height: 1, bits: 4, compression: 2, palette: PALETTE, pixels: Uint8Array.from([9, 0x10, 0, 1]) }),
    ];
    const mutation = fc.record({
      seed: fc.nat({ max: seeds.length - 1 }),
      edits: fc.array(fc.record({ at: fc.nat({ max: 69 }), value: fc.oneof(fc.constant(0), fc.constant(255), fc.nat({ max: 255 })) }), { minLength: 1, maxLength: 6 }),
    });
    fc.assert(
      fc.property(mutation, ({ seed, edits }) => {
        const bytes = Uint8Array.from(seeds[seed]!);
        for (const { at, value } of edits) if (at < bytes.length) bytes[at] = value;
        try {
          // A small limit keeps every accepted mutation cheap to decode.
          decodeBmp(bytes, 'mutant.bmp', { maxPixels: 1 << 16 });
        } catch (err) {
          if (!(err instanceof MobileNetV2Error) || !['E_IMAGE_DECODE', 'E_IMAGE_TOO_LARGE'].includes(err.code) || !err.message.startsWith('mutant.bmp: ')) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
