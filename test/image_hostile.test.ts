/**
 * Odd and broken files through the Node decoders (each a clean result or a clean E_IMAGE_DECODE),
 * and the header size reader the browser decoder checks the pixel limit with.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { MobileNetV2Error } from '../src/errors.js';
import { imageSize } from '../src/processing/image_size.js';
import { decodeImage, loadImage } from '../src/processing/image_io_node.js';
import { bmpFile, pngFile } from './hostile_images.js';
import { useTempDir } from './helpers.js';

const colour = (width: number, height: number) =>
  sharp(Buffer.from(Array.from({ length: width * height * 3 }, (_, i) => (i * 37) % 256)), { raw: { width, height, channels: 3 } });

/** A JPEG segment: marker, big-endian length (counting itself), payload. */
function segment(marker: number, payload: Uint8Array): Uint8Array {
  const length = payload.length + 2;
  return Buffer.concat([Uint8Array.from([0xff, marker, length >> 8, length & 0xff]), payload]);
}

/** `jpeg` with `segments` inserted right after its SOI marker. */
const withSegments = (jpeg: Uint8Array, segments: Uint8Array[]) => Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);

async function decodeError(promise: Promise<unknown>): Promise<MobileNetV2Error> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof MobileNetV2Error, `a MobileNetV2Error, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('odd and broken files', () => {
  const tempDir = useTempDir('hostile');

  it('truncated JPEG and PNG, zero bytes, text named .jpg: E_IMAGE_DECODE naming the file', async () => {
    const jpeg = await colour(64, 48).jpeg().toBuffer();
    const png = await colour(64, 48).png().toBuffer();
    const files: Array<[string, Uint8Array, RegExp]> = [
      ['cut.jpg', jpeg.subarray(0, jpeg.length >> 1), /cut\.jpg: cannot decode JPEG image/],
      ['header-only.jpg', jpeg.subarray(0, 200), /header-only\.jpg: cannot decode JPEG image/],
      ['cut.png', png.subarray(0, png.length - 30), /cut\.png: cannot decode PNG image/],
      ['signature.png', png.subarray(0, 8), /signature\.png: cannot decode PNG image/],
      ['empty.jpg', new Uint8Array(0), /empty\.jpg: empty file/],
      ['notes.jpg', Buffer.from('not a picture, just text\n'), /notes\.jpg: unsupported or unrecognized image format/],
    ];
    for (const [file, bytes, pattern] of files) {
      await writeFile(join(tempDir(), file), bytes);
      const err = await decodeError(loadImage(join(tempDir(), file)));
      assert.equal(err.code, 'E_IMAGE_DECODE', err.message);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes('\n'), 'one line');
    }
  });

  it('animated WebP: the first frame', async () => {
    const frame = (v: number) => sharp(Buffer.alloc(4 * 3 * 3, v), { raw: { width: 4, height: 3, channels: 3 } }).png().toBuffer();
    const webp = await sharp([await frame(40), await frame(220)], { join: { animated: true } }).webp({ lossless: true }).toBuffer();
    assert.equal((await sharp(webp).metadata()).pages, 2);
    const decoded = await decodeImage(webp, 'anim.webp');
    assert.deepEqual([decoded.width, decoded.height], [4, 3]);
    assert.ok(decoded.data.every((v) => v === 40), 'first frame only');
  });

  it("CMYK JPEG: Pillow's conversion of libjpeg's samples", async () => {
    const cmyk = await colour(8, 8).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
    const decoded = await decodeImage(cmyk, 'cmyk.jpg');
    assert.deepEqual([decoded.width, decoded.height, decoded.channels], [8, 8, 3]);
    assert.ok(new Set(decoded.data).size > 8, 'varied colours');
  });

  it('huge EXIF and metadata segments (4 MB before the frame): decoded, or one clean line', async () => {
    const jpeg = await colour(16, 8).jpeg().toBuffer();
    const junk = Buffer.alloc(65533 - 6, 0xee);
    const exif = segment(0xe1, Buffer.concat([Buffer.from('Exif\0\0MM\0*\xff\xff\xff\xff', 'latin1'), junk.subarray(14)]));
    const big = withSegments(jpeg, [exif, ...Array.from({ length: 60 }, () => segment(0xe2, junk))]);
    assert.ok(big.length > 3_900_000);
    const decoded = await decodeImage(big, 'exif.jpg');
    assert.deepEqual([decoded.width, decoded.height], [16, 8]);
  });
});

describe('header sizes (the browser decoder checks the limit with them)', () => {
  it('PNG, JPEG (after big segments), GIF, WebP lossy/lossless/extended, BMP', async () => {
    const image = colour(37, 23);
    const jpeg = await image.clone().jpeg().toBuffer();
    const files: Array<[string, Uint8Array]> = [
      ['png', await image.clone().png().toBuffer()],
      ['jpeg', jpeg],
      ['jpeg with segments', withSegments(jpeg, Array.from({ length: 3 }, () => segment(0xe1, Buffer.alloc(60000))))],
      ['progressive jpeg', await image.clone().jpeg({ progressive: true }).toBuffer()],
      ['gif', await image.clone().gif().toBuffer()],
      ['webp lossy', await image.clone().webp().toBuffer()],
      ['webp lossless', await image.clone().webp({ lossless: true }).toBuffer()],
      ['webp extended', await image.clone().ensureAlpha().webp({ alphaQuality: 50 }).withExif({ IFD0: { Copyright: 'x' } }).toBuffer()],
      ['bmp', bmpFile({ width: 37, height: -23, bits: 24, pixels: new Uint8Array(112 * 23) })],
    ];
    for (const [what, bytes] of files) {
      const size = imageSize(bytes);
      assert.deepEqual(size && [size.width, size.height], [37, 23], what);
    }
    assert.deepEqual(imageSize(pngFile({ width: 20000, height: 20000 })), { width: 20000, height: 20000, depth: 8, colourType: 3 });
  });

  it('unknown formats and headers cut short give no size', async () => {
    const png = await colour(5, 5).png().toBuffer();
    for (const bytes of [new Uint8Array(0), Buffer.from('hello'), png.subarray(0, 20), Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16])]) {
      assert.equal(imageSize(bytes), undefined);
    }
  });
});
