/**
 * Image files in and out: the real photos (checked against an independent BMP decoder and against
 * Pillow's own resized copies), files the tests build with known pixels (16-bit, palette, grey,
 * alpha, EXIF-rotated, every BMP variant), and bad inputs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decode as decodeBmpTs } from 'bmp-ts';
import { encode as encodeFastPng } from 'fast-png';
import sharp from 'sharp';
import { decodeBmp } from '../src/processing/bmp.js';
import { cmykToRgb, type RawImage } from '../src/processing/image.js';
import { decodeImage, encodePng, loadImage, loadSegmentationMap, sniffFormat, writePng } from '../src/processing/image_io_node.js';
import { pilResize, Resample } from '../src/processing/pil_resample.js';
import { REAL_FIXTURES, requireFixtures, useTempDir } from './helpers.js';

const PHOTOS = join(REAL_FIXTURES, 'images');
const REFERENCE = join(REAL_FIXTURES, 'reference');

function rgb(width: number, height: number, fn: (x: number, y: number) => [number, number, number]): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(fn(x, y), (y * width + x) * 3);
  return { data, width, height, channels: 3 };
}

function assertSameImage(got: RawImage, want: RawImage, what: string): void {
  assert.deepEqual([got.width, got.height, got.channels], [want.width, want.height, want.channels], `${what}: size`);
  const diff = got.data.findIndex((v, i) => v !== want.data[i]);
  assert.equal(diff, -1, `${what}: first difference at byte ${diff} (${got.data[diff]} vs ${want.data[diff]})`);
}

/** Builds a BMP with a 40-byte header; rows are given top first, unpadded. */
function makeBmp(o: { width: number; height: number; bits: number; rows?: number[][]; rle?: number[]; palette?: number[][]; compression?: number; masks?: number[]; topDown?: boolean }): Uint8Array {
  const stride = ((o.bits * o.width + 31) >> 5) << 2;
  const pixels = o.rle ? Uint8Array.from(o.rle) : new Uint8Array(stride * o.height);
  if (o.rows) {
    o.rows.forEach((row, y) => pixels.set(row, (o.topDown ? y : o.height - 1 - y) * stride));
  }
  const masks = o.masks ?? [];
  const palette = o.palette ?? [];
  const offset = 14 + 40 + masks.length * 4 + palette.length * 4;
  const out = new Uint8Array(offset + pixels.length);
  const v = new DataView(out.buffer);
  out.set([0x42, 0x4d]);
  v.setUint32(2, out.length, true);
  v.setUint32(10, offset, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, o.width, true);
  v.setInt32(22, o.topDown ? -o.height : o.height, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, o.bits, true);
  v.setUint32(30, o.compression ?? 0, true);
  v.setUint32(46, palette.length, true);
  masks.forEach((m, i) => v.setUint32(54 + 4 * i, m, true));
  palette.forEach(([r, g, b], i) => out.set([b!, g!, r!, 0], 54 + masks.length * 4 + 4 * i));
  out.set(pixels, offset);
  return out;
}

describe('real photos', requireFixtures(PHOTOS, REFERENCE), () => {
  for (const name of ['bird', 'cat', 'grace_hopper', 'bird_segmentation', 'dragonfly', 'sunflower']) {
    it(`${name}.bmp decodes like an independent BMP decoder`, async () => {
      const bytes = await readFile(join(PHOTOS, `${name}.bmp`));
      const image = await loadImage(join(PHOTOS, `${name}.bmp`));
      const ref = decodeBmpTs(bytes, { toRGBA: true });
      assert.deepEqual([image.width, image.height, image.channels], [ref.width, ref.height, 3]);
      const expected = rgb(ref.width, ref.height, (x, y) => [...ref.data.subarray((y * ref.width + x) * 4, (y * ref.width + x) * 4 + 3)] as [number, number, number]);
      assertSameImage(image, expected, name);
    });
  }

  // The reference inputs were made by Pillow: Image.open(photo).resize(size, BILINEAR).
  for (const [photo, size, png] of [
    ['bird', 224, 'cls224_input_bird.png'],
    ['cat', 224, 'cls224_input_cat.png'],
    ['grace_hopper', 224, 'cls224_input_grace_hopper.png'],
    ['bird_segmentation', 257, 'deeplabv3_257_input_bird_segmentation.png'],
    ['cat', 257, 'deeplabv3_257_input_cat.png'],
  ] as const) {
    it(`${photo}.bmp resized to ${size} equals Pillow's ${png}`, async () => {
      const image = await loadImage(join(PHOTOS, `${photo}.bmp`));
      const resized = pilResize(image, size, size, Resample.BILINEAR);
      assertSameImage({ ...resized, channels: 3 }, await loadImage(join(REFERENCE, png)), png);
    });
  }

  it('reads the VOC mask as palette indices, and as its palette colours when loaded as an image', async () => {
    const path = join(PHOTOS, 'bird_segmentation_mask.bmp');
    const map = await loadSegmentationMap(path);
    assert.deepEqual([map.width, map.height, map.channels], [513, 513, 1]);
    const counts = new Map<number, number>();
    for (const v of map.data) counts.set(v, (counts.get(v) ?? 0) + 1);
    assert.ok(counts.get(3)! > 40000, 'many "bird" (class 3) pixels');
    assert.ok([...counts.keys()].every((k) => k <= 20 || k === 255), `VOC classes only: ${[...counts.keys()].join()}`);
    // bmp-ts writes 8-bit images as A, B, G, R whatever its toRGBA option says.
    const ref = decodeBmpTs(await readFile(path));
    const image = await loadImage(path);
    for (let i = 0; i < image.width * image.height; i += 97) {
      assert.deepEqual([...image.data.subarray(3 * i, 3 * i + 3)], [ref.data[4 * i + 3], ref.data[4 * i + 2], ref.data[4 * i + 1]], `pixel ${i}`);
    }
  });

  it('decodes the JPEG photos to RGB at their size', async () => {
    for (const [name, w, h] of [['pets.jpg', 512, 430], ['cat_720p.jpg', 1280, 720]] as const) {
      const image = await loadImage(join(PHOTOS, name));
      assert.deepEqual([image.width, image.height, image.channels], [w, h, 3], name);
      assert.ok(new Set(image.data.subarray(0, 3000)).size > 20, `${name} has varied pixels`);
    }
  });
});

describe('decoding files with known pixels', () => {
  const image = rgb(5, 4, (x, y) => [x * 50, y * 60, 255 - x * 20]);

  it('reads lossless PNG, WebP, TIFF and GIF exactly', async () => {
    const raw = () => sharp(image.data, { raw: { width: 5, height: 4, channels: 3 } });
    for (const [format, bytes] of [
      ['png', await raw().png().toBuffer()],
      ['webp', await raw().webp({ lossless: true }).toBuffer()],
      ['tiff', await raw().tiff({ compression: 'lzw' }).toBuffer()],
    ] as const) {
      assert.equal(sniffFormat(bytes), format);
      assertSameImage(await decodeImage(bytes, format), image, format);
    }
  });

  it('takes the first frame of an animated GIF', async () => {
    const frame = async (v: number) => sharp(Buffer.alloc(4 * 4 * 3, v), { raw: { width: 4, height: 4, channels: 3 } }).png().toBuffer();
    const gif = await sharp([await frame(50), await frame(200)], { join: { animated: true } }).gif().toBuffer();
    assert.equal((await sharp(gif).metadata()).pages, 2);
    const decoded = await decodeImage(gif, 'anim.gif');
    assert.deepEqual([decoded.width, decoded.height], [4, 4]);
    assert.ok(decoded.data.every((v) => v === 50));
  });

  it('applies the EXIF orientation of a JPEG', async () => {
    // Stored 32x16, left half red, right half blue; orientation 6 = rotate 90° clockwise to show.
    const stored = rgb(32, 16, (x) => (x < 16 ? [255, 0, 0] : [0, 0, 255]));
    const jpeg = await sharp(stored.data, { raw: { width: 32, height: 16, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const shown = await decodeImage(jpeg, 'rotated.jpg');
    assert.deepEqual([shown.width, shown.height], [16, 32]);
    const at = (x: number, y: number) => [...shown.data.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3)];
    const near = (got: number[], want: number[]) => got.every((v, i) => Math.abs(v - want[i]!) <= 12);
    assert.ok(near(at(8, 4), [255, 0, 0]), `top is red: ${at(8, 4).join()}`);
    assert.ok(near(at(8, 28), [0, 0, 255]), `bottom is blue: ${at(8, 28).join()}`);
  });

  it('keeps the high byte of 16-bit RGB and grey+alpha PNGs, and clips 16-bit grey as Pillow does', async () => {
    const rgb16 = Uint16Array.from({ length: 2 * 2 * 3 }, (_, i) => i * 5000 + 255);
    const fromRgb16 = await decodeImage(encodeFastPng({ width: 2, height: 2, data: rgb16, channels: 3, depth: 16 }), 'rgb16.png');
    assert.deepEqual([...fromRgb16.data], [...rgb16].map((v) => v >> 8));
    const ga16 = new Uint16Array([10, 65535, 300, 0, 3000, 1, 60000, 2]);
    const fromGa16 = await decodeImage(encodeFastPng({ width: 2, height: 2, data: ga16, channels: 2, depth: 16 }), 'ga16.png');
    assert.deepEqual([...fromGa16.data], [0, 0, 0, 1, 1, 1, 11, 11, 11, 234, 234, 234]);
    // Pillow opens 16-bit grey as mode "I"; convert("RGB") clips at 255 instead of scaling.
    const grey16 = new Uint16Array([10, 200, 300, 60000]);
    const fromGrey16 = await decodeImage(encodeFastPng({ width: 2, height: 2, data: grey16, channels: 1, depth: 16 }), 'grey16.png');
    assert.deepEqual([...fromGrey16.data], [10, 10, 10, 200, 200, 200, 255, 255, 255, 255, 255, 255]);
  });

  it('expands palette PNGs (ignoring transparency) and keeps their indices as segmentation maps', async () => {
    const palette = [[255, 0, 0, 0], [0, 255, 0, 128], [0, 0, 255, 255]];
    const png = encodeFastPng({ width: 2, height: 2, data: new Uint8Array([0, 1, 2, 1]), channels: 1, depth: 8, palette });
    const decoded = await decodeImage(png, 'palette.png');
    assert.deepEqual([...decoded.data], [255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 0]);
    const map = await loadSegmentationMap(png, 'palette.png');
    assert.deepEqual([map.channels, ...map.data], [1, 0, 1, 2, 1]);
  });

  it('replicates grey, drops alpha without compositing, and scales low-bit grey', async () => {
    const grey = encodeFastPng({ width: 2, height: 1, data: new Uint8Array([7, 250]), channels: 1, depth: 8 });
    assert.deepEqual([...(await decodeImage(grey)).data], [7, 7, 7, 250, 250, 250]);
    const ga = encodeFastPng({ width: 2, height: 1, data: new Uint8Array([7, 0, 250, 255]), channels: 2, depth: 8 });
    assert.deepEqual([...(await decodeImage(ga)).data], [7, 7, 7, 250, 250, 250]);
    const rgba = encodeFastPng({ width: 2, height: 1, data: new Uint8Array([10, 20, 30, 0, 40, 50, 60, 128]), channels: 4, depth: 8 });
    assert.deepEqual([...(await decodeImage(rgba)).data], [10, 20, 30, 40, 50, 60]);
    const grey4 = encodeFastPng({ width: 2, height: 1, data: new Uint8Array([0x3f]), channels: 1, depth: 4 });
    assert.deepEqual([...(await decodeImage(grey4)).data], [51, 51, 51, 255, 255, 255]);
    assert.deepEqual([...(await loadSegmentationMap(grey4)).data], [51, 255]);
    const fromRaw = await loadImage({ data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), width: 2, height: 1, channels: 4 });
    assert.deepEqual([...fromRaw.data], [1, 2, 3, 5, 6, 7]);
  });

  it('converts CMYK with Pillow\'s formula, not a colour profile', () => {
    const cmyk = new Uint8Array([0, 255, 0, 0, 0, 0, 0, 255, 5, 255, 133, 29, 128, 64, 32, 16]);
    const out = cmykToRgb(cmyk, 4, 1);
    // nk = 255 - k; channel = nk - round(c * nk / 255) (Pillow's MULDIV255).
    const expect = (c: number, k: number) => (255 - k) - Math.round((c * (255 - k)) / 255);
    assert.deepEqual([...out.data], [255, 0, 255, 0, 0, 0, expect(5, 29), expect(255, 29), expect(133, 29), expect(128, 16), expect(64, 16), expect(32, 16)]);
  });
});

describe('BMP variants', () => {
  const pal = [[0, 0, 0], [255, 0, 0], [0, 128, 255], [9, 9, 9]];

  it('24-bit bottom-up, BGR order, padded rows', async () => {
    const bmp = makeBmp({ width: 3, height: 2, bits: 24, rows: [[1, 2, 3, 4, 5, 6, 7, 8, 9], [10, 11, 12, 13, 14, 15, 16, 17, 18]] });
    assert.deepEqual([...(await decodeImage(bmp)).data], [3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10, 15, 14, 13, 18, 17, 16]);
  });

  it('8-bit palette top-down: colours as an image, indices as a map', async () => {
    const bmp = makeBmp({ width: 3, height: 2, bits: 8, rows: [[0, 1, 2], [3, 2, 1]], palette: pal, topDown: true });
    assert.deepEqual([...(await decodeImage(bmp)).data], [0, 0, 0, 255, 0, 0, 0, 128, 255, 9, 9, 9, 0, 128, 255, 255, 0, 0]);
    assert.deepEqual([...(await loadSegmentationMap(bmp)).data], [0, 1, 2, 3, 2, 1]);
  });

  it('1- and 4-bit palettes', () => {
    const one = decodeBmp(makeBmp({ width: 10, height: 1, bits: 1, rows: [[0b10110000, 0b01000000]], palette: pal.slice(0, 2) }), '1bit');
    assert.deepEqual(one.kind === 'indexed' && [...one.indices], [1, 0, 1, 1, 0, 0, 0, 0, 0, 1]);
    const four = decodeBmp(makeBmp({ width: 3, height: 1, bits: 4, rows: [[0x12, 0x30]], palette: pal }), '4bit');
    assert.deepEqual(four.kind === 'indexed' && [...four.indices], [1, 2, 3]);
  });

  it('32-bit ignores the fourth byte; 16-bit 5-6-5 scales like Pillow', async () => {
    const b32 = makeBmp({ width: 2, height: 1, bits: 32, rows: [[1, 2, 3, 0, 4, 5, 6, 99]] });
    assert.deepEqual([...(await decodeImage(b32)).data], [3, 2, 1, 6, 5, 4]);
    const px = [0xf800, 0x07e0, 0x001f, 0x8410].flatMap((v) => [v & 0xff, v >> 8]);
    const b16 = makeBmp({ width: 4, height: 1, bits: 16, rows: [px], compression: 3, masks: [0xf800, 0x07e0, 0x001f] });
    assert.deepEqual([...(await decodeImage(b16)).data], [255, 0, 0, 0, 255, 0, 0, 0, 255, 131, 129, 131]);
  });

  it('RLE8: runs, absolute runs, end of line, end of bitmap', async () => {
    // Bottom row first: run of 2×1, absolute [2, 3, 2] (+ pad byte), end of line; top row: 5×2, end.
    const rle = [2, 1, 0, 3, 2, 3, 2, 0, 0, 0, 5, 2, 0, 1];
    const bmp = makeBmp({ width: 5, height: 2, bits: 8, rle, palette: pal, compression: 1 });
    assert.deepEqual([...(await loadSegmentationMap(bmp)).data], [2, 2, 2, 2, 2, 1, 1, 2, 3, 2]);
    const short = makeBmp({ width: 5, height: 2, bits: 8, rle: [2, 1, 0, 1], palette: pal, compression: 1 });
    await assert.rejects(loadSegmentationMap(short, 'short.bmp'), /short\.bmp: truncated BMP \(RLE data ends after 2 of 10 pixels\)/);
  });

  it('rejects truncated, empty and unsupported BMPs, naming the file', async () => {
    const good = makeBmp({ width: 3, height: 2, bits: 24, rows: [[], []] });
    await assert.rejects(decodeImage(good.subarray(0, good.length - 4), 'cut.bmp'), /cut\.bmp: truncated BMP/);
    await assert.rejects(decodeImage(makeBmp({ width: 0, height: 2, bits: 24 }), 'zero.bmp'), /zero\.bmp: BMP image size 0x2 is empty/);
    await assert.rejects(decodeImage(makeBmp({ width: 2, height: 2, bits: 24, compression: 4 }), 'jpeg-in.bmp'), /unsupported BMP compression 4/);
    await assert.rejects(decodeImage(good.subarray(0, 20), 'head.bmp'), /head\.bmp: truncated BMP/);
    const rgbMap = makeBmp({ width: 1, height: 1, bits: 24, rows: [[1, 2, 3]] });
    await assert.rejects(loadSegmentationMap(rgbMap, 'rgb.bmp'), /rgb\.bmp: a segmentation map must have one channel/);
  });
});

describe('bad inputs', () => {
  const tempDir = useTempDir('image-io');

  it('missing files, directories and empty files', async () => {
    await assert.rejects(loadImage(join(tempDir(), 'nope.png')), /nope\.png: image file not found/);
    await mkdir(join(tempDir(), 'folder.png'));
    await assert.rejects(loadImage(join(tempDir(), 'folder.png')), /folder\.png: is a directory/);
    await writeFile(join(tempDir(), 'empty.jpg'), new Uint8Array(0));
    await assert.rejects(loadImage(join(tempDir(), 'empty.jpg')), /empty\.jpg: empty file/);
    await assert.rejects(loadSegmentationMap(join(tempDir(), 'nope.png')), /nope\.png: image file not found/);
  });

  it('unsupported formats', async () => {
    await writeFile(join(tempDir(), 'notes.png'), 'just some text');
    await assert.rejects(loadImage(join(tempDir(), 'notes.png')), /notes\.png: unsupported or unrecognized image format/);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>');
    await assert.rejects(decodeImage(svg, 'x.svg'), /x\.svg: unsupported or unrecognized image format/);
  });

  it('corrupt, truncated and zero-size images', requireFixtures(PHOTOS), async () => {
    const png = await sharp(Buffer.alloc(8 * 8 * 3, 90), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
    const corrupt = Buffer.from(png);
    corrupt.fill(7, 40);
    await assert.rejects(decodeImage(corrupt, 'corrupt.png'), /corrupt\.png: cannot decode PNG image/);
    await assert.rejects(decodeImage(png.subarray(0, png.length - 20), 'cut.png'), /cut\.png: cannot decode PNG image/);
    const jpeg = await readFile(join(PHOTOS, 'pets.jpg'));
    await writeFile(join(tempDir(), 'half.jpg'), jpeg.subarray(0, jpeg.length >> 1));
    await assert.rejects(loadImage(join(tempDir(), 'half.jpg')), /half\.jpg: cannot decode JPEG image \(corrupt or truncated\?\)/);
    // A PNG whose header says 0 x 8 pixels (libpng refuses it).
    const zero = encodeFastPng({ width: 1, height: 1, data: new Uint8Array(3), channels: 3, depth: 8 });
    new DataView(zero.buffer, zero.byteOffset).setUint32(16, 0);
    await assert.rejects(decodeImage(zero, 'zero.png'), /zero\.png: /);
    await assert.rejects(loadSegmentationMap(zero, 'zero-map.png'), /zero-map\.png: /);
  });

  it('raw pixels of the wrong size and maps with colour channels', async () => {
    await assert.rejects(loadImage({ data: new Uint8Array(5), width: 2, height: 1, channels: 3 }, 'raw'), /raw: pixel data has 5 bytes but 2x1x3 needs 6/);
    const colour = await sharp(Buffer.alloc(12, 3), { raw: { width: 2, height: 2, channels: 3 } }).png().toBuffer();
    await assert.rejects(loadSegmentationMap(colour, 'colour.png'), /colour\.png: a segmentation map must have one channel/);
    const jpeg = await sharp(Buffer.alloc(12, 3), { raw: { width: 2, height: 2, channels: 3 } }).jpeg().toBuffer();
    await assert.rejects(loadSegmentationMap(jpeg, 'colour.jpg'), /colour\.jpg: a segmentation map must be an 8-bit single-channel image/);
  });
});

describe('writing PNG', () => {
  it('round-trips RGB, grey and palette masks', async () => {
    const image = rgb(3, 2, (x, y) => [x * 80, y * 100, 7]);
    assertSameImage(await decodeImage(await encodePng(image)), image, 'rgb');
    const mask: RawImage = { data: new Uint8Array([0, 1, 2, 2, 1, 0]), width: 3, height: 2, channels: 1 };
    const grey = await encodePng(mask);
    assert.equal(grey[25], 0, 'colour type 0 (grey)');
    assert.deepEqual([...(await loadSegmentationMap(grey)).data], [...mask.data]);
    const palette = [[0, 0, 0], [128, 0, 0], [0, 128, 0]] as const;
    const indexed = await encodePng(mask, { palette });
    assert.equal(indexed[25], 3, 'colour type 3 (palette)');
    assert.deepEqual([...(await loadSegmentationMap(indexed)).data], [...mask.data]);
    assert.deepEqual([...(await decodeImage(indexed)).data.subarray(0, 9)], [0, 0, 0, 128, 0, 0, 0, 128, 0]);
    await assert.rejects(encodePng(mask, { palette: palette.slice(0, 2) }), /index 2 is beyond the 2-colour palette/);
  });

  it('writes files atomically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mnv2-png-'));
    try {
      const path = join(dir, 'sub', 'mask.png');
      await writePng(path, { data: new Uint8Array([5, 6]), width: 2, height: 1, channels: 1 });
      assert.deepEqual([...(await loadSegmentationMap(path)).data], [5, 6]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
