import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import sharp from 'sharp';
import { runBatches } from '../src/cli/support/batch_runner.js';
import { MobileNetV2Error } from '../src/errors.js';
import { loadImage } from '../src/processing/image_io_node.js';
import { setMaxImagePixels } from '../src/processing/pixel_limit.js';
import {
  createPreparer, InlinePreparer, planThreads, poolPays, POOL_MIN_IMAGES, PreparePool, type Preparer, type PreparePoolOptions,
} from '../src/processing/prepare_pool_node.js';
import { MobileNetV2ImageProcessor } from '../src/processing/processor.js';
import { REPO_ROOT } from './helpers.js';

/** A JPEG of `width`×`height` with pixels from a small deterministic generator (so each file differs). */
async function jpeg(width: number, height: number, seed: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (i % 97) + (s >>> 28); // smooth ramps plus noise, like a photo
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

describe('PreparePool and InlinePreparer', () => {
  let dir: string;
  const files: string[] = [];
  const sizes: Array<[number, number]> = [[320, 240], [97, 300], [500, 333], [256, 256], [41, 63], [640, 480]];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'prepare-pool-'));
    for (const [i, [w, h]] of sizes.entries()) {
      const file = join(dir, `img${i}.jpg`);
      await writeFile(file, await jpeg(w, h, i + 1));
      files.push(file);
    }
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const preparers: Array<[string, (options: PreparePoolOptions) => Preparer]> = [
    ['PreparePool', (options) => new PreparePool({ ...options, workers: 2 })],
    ['InlinePreparer', (options) => new InlinePreparer(options)],
  ];
  for (const [kind, make] of preparers) {
    test(`${kind}: pixel values equal a plain preprocess bit for bit, and the processor hands them out`, async () => {
      const processor = new MobileNetV2ImageProcessor();
      const pool = make({ processor });
      try {
        for (const file of [...files, join(REPO_ROOT, 'samples/cat.jpg')]) {
          const image = await pool.load(file);
          const fromPool = processor.preprocess(image).pixelValues;
          const expected = processor.preprocess(await loadImage(file)).pixelValues;
          assert.deepEqual(fromPool.shape, expected.shape);
          assert.ok(Buffer.from(fromPool.data.buffer, fromPool.data.byteOffset, fromPool.data.byteLength)
            .equals(Buffer.from(expected.data.buffer, expected.data.byteOffset, expected.data.byteLength)), file);
          // Other settings miss the precomputed values and preprocess afresh.
          const other = processor.preprocess(image, undefined, { cropSize: { height: 100, width: 100 } }).pixelValues;
          assert.deepEqual(other.shape, [1, 3, 100, 100]);
        }
      } finally {
        await pool.close();
      }
    });

    test(`${kind}: concurrent loads resolve to their own images, whatever order they finish in`, async () => {
      const pool = make({});
      try {
        const images = await Promise.all(files.map((f) => pool.load(f)));
        assert.deepEqual(images.map((im) => [im.width, im.height]), sizes);
      } finally {
        await pool.close();
      }
    });

    test(`${kind}: a bad image fails alone, with its name and code`, async () => {
      const pool = make({});
      setMaxImagePixels(200 * 200);
      try {
        const results = await Promise.allSettled([
          pool.load(files[0]!),
          pool.load(join(dir, 'missing.jpg')),
          pool.load(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]), 'truncated.jpg'),
          pool.load(files[4]!),
        ]);
        const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as MobileNetV2Error).code : 'ok'));
        // The main thread's pixel limit holds (in workers too): 320×240 is above 200×200.
        assert.deepEqual(codes, ['E_IMAGE_TOO_LARGE', 'E_FILE_NOT_FOUND', 'E_IMAGE_DECODE', 'ok']);
        for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof MobileNetV2Error && !r.reason.message.includes('\n'));
        assert.match((results[2] as PromiseRejectedResult).reason.message, /^truncated\.jpg: /);
      } finally {
        setMaxImagePixels(undefined);
        await pool.close();
      }
    });
  }

  test('runBatches keeps file order with the pool and reports failures in place', async () => {
    const list = [files[0]!, join(dir, 'missing.jpg'), ...files.slice(1)];
    const seen: string[] = [];
    const failed: string[] = [];
    const processor = new MobileNetV2ImageProcessor();
    const quiet = mock.method(process.stderr, 'write', () => true); // the failure line
    try {
      const summary = await runBatches({
        files: list, batchSize: 3, prepare: { workers: 2, processor },
        run: async (images) => images.map((im) => processor.preprocess(im).pixelValues.shape.join('x')),
        done: (file, _image, shape) => void seen.push(`${file}:${shape}`),
        failed: (file) => void failed.push(file),
      });
      assert.deepEqual(summary, { succeeded: list.length - 1, failed: 1 });
    } finally {
      quiet.mock.restore();
    }
    assert.equal(quiet.mock.callCount(), 1);
    assert.deepEqual(failed, [list[1]]);
    assert.deepEqual(seen, list.filter((_, i) => i !== 1).map((f) => `${f}:1x3x224x224`));
  });

  test('a process that used a pool and never closed it exits (idle workers do not hold it)', () => {
    const script = `
      import { PreparePool } from ${JSON.stringify(join(REPO_ROOT, 'dist/src/processing/prepare_pool_node.js'))};
      const pool = new PreparePool({ workers: 2 });
      const images = await Promise.all(${JSON.stringify(files)}.map((f) => pool.load(f)));
      console.log(images.length);`;
    const started = performance.now();
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), String(sizes.length));
    assert.ok(performance.now() - started < 20_000);
  });

  test('a closed preparer refuses work with a MobileNetV2Error', async () => {
    for (const pool of [new PreparePool({ workers: 1 }), new InlinePreparer()]) {
      await pool.load(files[0]!);
      await pool.close();
      await assert.rejects(pool.load(files[0]!), (err: unknown) => err instanceof MobileNetV2Error && err.code === 'E_DISPOSED');
    }
  });

  test('createPreparer: decode workers where a pool pays, else this thread', async () => {
    const [pool, inline] = [createPreparer(100, { workers: 2 }), createPreparer(100, { workers: 1 })];
    assert.ok(pool instanceof PreparePool);
    assert.ok(inline instanceof InlinePreparer);
    await Promise.all([pool.close(), inline.close()]);
  });
});

describe('planThreads and poolPays', () => {
  test('splits the cores between the model and the decode workers', () => {
    assert.deepEqual(planThreads(undefined, 2), { modelThreads: 1, workers: 1 });
    assert.deepEqual(planThreads(undefined, 4), { modelThreads: 3, workers: 1 });
    assert.deepEqual(planThreads(undefined, 16), { modelThreads: 4, workers: 4 });
    assert.deepEqual(planThreads(undefined, 1), { modelThreads: 1, workers: 1 });
    // Threads given: the pool takes what is left, never less than one worker.
    assert.deepEqual(planThreads(2, 2), { modelThreads: 2, workers: 1 });
    assert.deepEqual(planThreads(1, 8), { modelThreads: 1, workers: 4 });
  });

  test('a pool is used only for several images and at least two workers', () => {
    assert.equal(poolPays(POOL_MIN_IMAGES - 1, 4), false); // one photo: no worker start (cold start)
    assert.equal(poolPays(100, 1), false); // 2 cores: the main thread is the one spare core
    assert.equal(poolPays(100, planThreads(undefined, 8).workers), true);
  });
});
