/**
 * The pixel limit and decompression bombs: the limit's default, option, setter and environment
 * variable on every decoder; bombs built by the test (a few KB claiming gigabytes) refused from the
 * header in a child process, timed and with its peak RSS measured; the CLI's one-line error.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { MobileNetV2Error } from '../src/errors.js';
import { decodeImage, loadImage, loadSegmentationMap } from '../src/processing/image_io_node.js';
import { DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_ENV, maxImagePixels, setMaxImagePixels } from '../src/processing/pixel_limit.js';
import { bmpFile, decodeInChild, pngChunk, pngFile, zlibZeros, type ChildDecode } from './hostile_images.js';
import { cli, useTempDir } from './helpers.js';

/** Asserts that `promise` rejects with a MobileNetV2Error of `code` whose message matches `pattern`. */
async function rejectsWith(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof MobileNetV2Error, `a MobileNetV2Error, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

/** Runs `fn` with the environment variable set to `value`, restoring it afterwards. */
async function withEnv(value: string, fn: () => Promise<void>): Promise<void> {
  const before = process.env[MAX_IMAGE_PIXELS_ENV];
  process.env[MAX_IMAGE_PIXELS_ENV] = value;
  try {
    await fn();
  } finally {
    if (before === undefined) delete process.env[MAX_IMAGE_PIXELS_ENV];
    else process.env[MAX_IMAGE_PIXELS_ENV] = before;
  }
}

const grey = (width: number, height: number) => sharp(Buffer.alloc(width * height, 7), { raw: { width, height, channels: 1 } });

/** A 4×4 image in each format, with the loader that reads it. */
async function fourByFour(): Promise<Array<[string, (options: object) => Promise<unknown>]>> {
  const png = await grey(4, 4).png().toBuffer();
  const jpeg = await grey(4, 4).toColourspace('b-w').jpeg().toBuffer();
  const bmp = bmpFile({ width: 4, height: 4, bits: 8, palette: [[0, 0, 0]], pixels: new Uint8Array(16) });
  const palettePng = pngFile({ width: 4, height: 4 });
  return [
    ['PNG image (sharp)', (o) => decodeImage(png, o)],
    ['JPEG image (sharp)', (o) => decodeImage(jpeg, o)],
    ['BMP image', (o) => decodeImage(bmp, o)],
    ['palette PNG map (fast-png)', (o) => loadSegmentationMap(palettePng, o)],
    ['BMP map', (o) => loadSegmentationMap(bmp, o)],
    ['JPEG map (sharp)', (o) => loadSegmentationMap(jpeg, o)],
  ];
}

describe('the pixel limit', () => {
  after(() => setMaxImagePixels(undefined));

  it("defaults to Pillow's MAX_IMAGE_PIXELS", () => {
    assert.equal(DEFAULT_MAX_IMAGE_PIXELS, 89_478_485);
    assert.equal(process.env[MAX_IMAGE_PIXELS_ENV], undefined, 'the test runs without the variable');
    assert.equal(maxImagePixels(), DEFAULT_MAX_IMAGE_PIXELS);
  });

  it('every decoder refuses above the maxPixels option, accepts at it, and 0 means no limit', async () => {
    for (const [what, load] of await fourByFour()) {
      await rejectsWith(load({ name: 'four.img', maxPixels: 15 }), 'E_IMAGE_TOO_LARGE', /^four\.img: image is 4×4 = 16 pixels, above the limit 15 \(raise it with the maxPixels option, setMaxImagePixels\(\) or MOBILENET_V2_MAX_IMAGE_PIXELS; 0 or none = no limit\)$/);
      assert.ok(await load({ maxPixels: 16 }), what);
      assert.ok(await load({ maxPixels: 0 }), what);
    }
  });

  it('the setter and the environment variable set it for the process; the setter wins', async () => {
    const loaders = await fourByFour();
    await withEnv('15', async () => {
      for (const [, load] of loaders) await rejectsWith(load({}), 'E_IMAGE_TOO_LARGE', /above the limit 15 /);
      setMaxImagePixels(16);
      for (const [, load] of loaders) assert.ok(await load({}));
      setMaxImagePixels(undefined);
      assert.equal(maxImagePixels(), 15);
    });
    await withEnv('none', async () => assert.equal(maxImagePixels(), Infinity));
    await withEnv('0', async () => assert.equal(maxImagePixels(), Infinity));
    setMaxImagePixels(15);
    await rejectsWith(loaders[0]![1]({}), 'E_IMAGE_TOO_LARGE', /above the limit 15 /);
    setMaxImagePixels(undefined);
  });

  it('bad limits are one clear line naming where they came from', async () => {
    await withEnv('lots', async () => {
      assert.throws(() => maxImagePixels(), (e: MobileNetV2Error) => e.code === 'E_INVALID_ARGUMENT' && /^MOBILENET_V2_MAX_IMAGE_PIXELS: expected a pixel count/.test(e.message));
    });
    assert.throws(() => setMaxImagePixels(-1), /setMaxImagePixels: expected a pixel count/);
    await rejectsWith(loadImage(new Uint8Array([1]), { name: 'x.png', maxPixels: 1.5 }), 'E_INVALID_ARGUMENT', /^x\.png: maxPixels: expected a pixel count/);
  });
});

describe('decompression bombs', () => {
  const tempDir = useTempDir('bombs');
  const measured: string[] = [];
  after(() => console.log(`# bombs (time, child peak RSS):\n${measured.map((m) => `#   ${m}`).join('\n')}`));

  /** Writes `bytes`, decodes them in a child and checks a quick, small, clean refusal. */
  async function refused(file: string, bytes: Uint8Array, loader: 'loadImage' | 'loadSegmentationMap', code: string, pattern: RegExp): Promise<ChildDecode> {
    const path = join(tempDir(), file);
    await writeFile(path, bytes);
    const r = decodeInChild(loader, path);
    measured.push(`${file} (${bytes.length} bytes) via ${loader}: ${r.code} in ${r.ms.toFixed(0)} ms, ${r.peakMiB.toFixed(0)} MiB`);
    assert.equal(r.code, code, r.message ?? `decoded as ${r.width}x${r.height}`);
    assert.match(r.message!, pattern);
    assert.ok(r.ms < 2000, `${file}: ${r.ms} ms`);
    assert.ok(r.peakMiB < 400, `${file}: peak RSS ${r.peakMiB} MiB`);
    return r;
  }

  it('an RLE8 BMP of 1.4 KB claiming 16384² pixels', async () => {
    // Delta escapes skip 255 rows at a time: 65 of them cover the whole image.
    const rle = [...Array.from({ length: 65 }, () => [0, 2, 255, 255]).flat(), 0, 1];
    const palette = Array.from({ length: 256 }, (_, i) => [i, i, i]);
    const bomb = bmpFile({ width: 16384, height: 16384, bits: 8, compression: 1, palette, pixels: Uint8Array.from(rle) });
    assert.ok(bomb.length < 1500);
    const message = /bomb\.bmp: image is 16384×16384 = 268435456 pixels, above the limit 89478485 /;
    await refused('bomb.bmp', bomb, 'loadSegmentationMap', 'E_IMAGE_TOO_LARGE', message);
    await refused('bomb.bmp', bomb, 'loadImage', 'E_IMAGE_TOO_LARGE', message);
  });

  it('a 16383² 16-bit RGB PNG (sharp)', async () => {
    const bomb = pngFile({ width: 16383, height: 16383, depth: 16, colourType: 2 });
    await refused('bomb16.png', bomb, 'loadImage', 'E_IMAGE_TOO_LARGE', /bomb16\.png: image is 16383×16383 = 268402689 pixels, above the limit 89478485 /);
  });

  it('a 20000² palette PNG, as a segmentation map (fast-png) and as an image (sharp)', async () => {
    const bomb = pngFile({ width: 20000, height: 20000 });
    const message = /palette\.png: image is 20000×20000 = 400000000 pixels, above the limit 89478485 /;
    await refused('palette.png', bomb, 'loadSegmentationMap', 'E_IMAGE_TOO_LARGE', message);
    await refused('palette.png', bomb, 'loadImage', 'E_IMAGE_TOO_LARGE', message);
  });

  it('a 1×1 palette PNG whose image data inflates to 256 MiB, as a segmentation map', async () => {
    const bomb = pngFile({ width: 1, height: 1, idat: zlibZeros(256 * 1024 * 1024) });
    await refused('overflow.png', bomb, 'loadSegmentationMap', 'E_IMAGE_DECODE', /overflow\.png: PNG image data inflates to more than 69 bytes/);
  });

  it('a palette PNG with an ICC profile that inflates to 256 MiB, as a segmentation map', async () => {
    const iccp = pngChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0', 'latin1'), zlibZeros(256 * 1024 * 1024)]));
    const bomb = pngFile({ width: 2, height: 2, extra: [iccp] });
    await refused('iccp.png', bomb, 'loadSegmentationMap', 'E_IMAGE_DECODE', /iccp\.png: PNG ICC profile inflates to more than 16777216 bytes/);
  });

  it('a legal 4096² 16-bit PNG decodes without a 16-bit copy of the image', async () => {
    const path = join(tempDir(), 'legal16.png');
    await writeFile(path, pngFile({ width: 4096, height: 4096, depth: 16, colourType: 2 }));
    const r = decodeInChild('loadImage', path);
    measured.push(`legal16.png (4096² RGB, 16-bit) via loadImage: decoded in ${r.ms.toFixed(0)} ms, ${r.peakMiB.toFixed(0)} MiB`);
    assert.deepEqual([r.code, r.width, r.height], [undefined, 4096, 4096]);
    // The 8-bit result is 48 MiB; a 16-bit copy alone would add 96 MiB.
    assert.ok(r.peakMiB < 250, `peak RSS ${r.peakMiB} MiB`);
  });

  it('the CLI: one line naming the file and the limit, exit non-zero', async () => {
    const path = join(tempDir(), 'bomb.png');
    await writeFile(path, pngFile({ width: 20000, height: 20000 }));
    const r = cli('classify', path);
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^mobilenet-v2: .*bomb\.png: image is 20000×20000 = 400000000 pixels, above the limit 89478485 \(raise it with .*\)\n$/);
  });
});
