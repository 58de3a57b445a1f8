/**
 * The WebAssembly kernels (src/processing/pil_resample.wat) against the JavaScript code they
 * replace: pilResize's passes byte for byte on seeded random images of many shapes, every
 * convolution filter and crop windows; the processor's table lookup into channel planes; and the
 * generated module against its WAT source where wabt is installed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pilResize, Resample, type Pixels8, type ResampleCode, type Window } from '../src/processing/pil_resample.js';
import { hasWasmResample } from '../src/processing/pil_resample_wasm.js';
import { lookupPlanes } from '../src/processing/processor.js';
import { PIL_RESAMPLE_WASM } from '../src/processing/pil_resample_wasm_module.js';
import { seededRandom, type Random } from '../src/random.js';
import { REPO_ROOT } from './helpers.js';

const FILTERS: ResampleCode[] = [Resample.BILINEAR, Resample.BICUBIC, Resample.LANCZOS, Resample.BOX, Resample.HAMMING];

/** Random bytes, a third of them 0 or 255 so that sums clip at both ends. */
function image(random: Random, width: number, height: number, channels: number): Pixels8 {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) {
    const r = random();
    data[i] = r < 0.15 ? 0 : r < 0.3 ? 255 : Math.floor(random() * 256);
  }
  return { data, width, height, channels };
}

function assertSame(src: Pixels8, outWidth: number, outHeight: number, filter: ResampleCode, window?: Window): void {
  const wasm = pilResize(src, outWidth, outHeight, filter, window);
  const js = pilResize(src, outWidth, outHeight, filter, window, { wasm: false });
  const what = `${src.width}x${src.height}x${src.channels} -> ${outWidth}x${outHeight}, filter ${filter}, window ${JSON.stringify(window)}`;
  assert.equal(wasm.data.length, js.data.length, what);
  const at = wasm.data.findIndex((v, i) => v !== js.data[i]);
  assert.equal(at, -1, `${what}: byte ${at} differs (wasm ${wasm.data[at]}, js ${js.data[at]})`);
}

describe('pilResize in WebAssembly SIMD', () => {
  it('runs here (Node 20 has WebAssembly SIMD), so the comparisons below compare two things', () => {
    assert.equal(hasWasmResample(), true);
  });

  it('equals the JavaScript passes on edge shapes: 1xN, Nx1, odd widths, up and down, one axis unchanged', () => {
    const random = seededRandom(16);
    const shapes: Array<[number, number, number, number]> = [
      [1, 1, 7, 5], [1, 37, 5, 80], [37, 1, 80, 3], [1, 200, 1, 33], [200, 1, 33, 1], [33, 17, 33, 40], [33, 17, 9, 17],
      [97, 61, 224, 150], [513, 341, 256, 170], [15, 15, 301, 299], [300, 2, 7, 9], [64, 64, 64, 63],
    ];
    for (const [w, h, ow, oh] of shapes) {
      for (const channels of [1, 2, 3, 4]) {
        const src = image(random, w, h, channels);
        for (const filter of FILTERS) assertSame(src, ow, oh, filter);
      }
    }
  });

  it('equals the JavaScript passes on random sizes, channel counts, filters and crop windows', () => {
    const random = seededRandom(2024);
    const int = (n: number): number => Math.floor(random() * n);
    for (let t = 0; t < 400; t++) {
      const big = t % 4 === 0;
      const src = image(random, 1 + int(big ? 400 : 40), 1 + int(big ? 400 : 40), 1 + int(4));
      const [ow, oh] = [1 + int(big ? 260 : 90), 1 + int(big ? 260 : 90)];
      const [left, top] = [int(ow), int(oh)];
      const window = t % 3 === 0 ? undefined : { left, top, width: int(ow - left + 1), height: int(oh - top + 1) };
      assertSame(src, ow, oh, FILTERS[t % FILTERS.length]!, window);
    }
  });

  it('equals the JavaScript passes on a photo-sized image, centre crop as the processor asks', () => {
    const src = image(seededRandom(3), 1280, 720, 3);
    for (const filter of FILTERS) assertSame(src, 455, 256, filter, { left: 115, top: 16, width: 224, height: 224 });
  });

  it('turns bytes into channel planes through the tables as the JavaScript loop does', () => {
    const random = seededRandom(5);
    for (const [pixels, channels] of [[1, 1], [7, 2], [224 * 224, 3], [33, 4], [0, 3]] as const) {
      const data = image(random, pixels, 1, channels).data;
      const lut = Float32Array.from({ length: 256 * channels }, () => random() * 4 - 2);
      const wasm = lookupPlanes(data, channels, lut);
      const js = lookupPlanes(data, channels, lut, { wasm: false });
      assert.deepEqual(wasm, js, `${pixels} pixels of ${channels} channels`);
      if (pixels > 0) assert.equal(wasm[pixels * (channels - 1)], lut[(channels - 1) * 256 + data[channels - 1]!], 'last plane starts with pixel 0');
    }
  });

  it('the generated module is the assembled pil_resample.wat (skipped without wabt)', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'wat2wasm-'));
    try {
      const wasm = join(dir, 'pil_resample.wasm');
      try {
        execFileSync('wat2wasm', [join(REPO_ROOT, 'src/processing/pil_resample.wat'), '-o', wasm], { stdio: 'ignore' });
      } catch {
        t.skip('wat2wasm not installed (apt-get install wabt)');
        return;
      }
      assert.equal(readFileSync(wasm).toString('base64'), PIL_RESAMPLE_WASM, 'stale module: run npm run build:wasm');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
