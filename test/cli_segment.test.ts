/** `mobilenet-v2 segment`: the shipped DeepLabV3, `--json` shape, `--mask` palette PNGs, `--overlay`. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decode } from 'fast-png';
import { cli, sample, tempFolder } from './cli_image_commands.js';

interface SegmentJson { file: string; width: number; height: number; segments: Array<{ index: number; label: string; pixels: number; fraction: number }> }

describe('mobilenet-v2 segment', () => {
  it('finds the bird: --json object of exactly file, width, height, segments; mask and overlay PNGs at the image size', () => {
    const { dir, cleanup } = tempFolder();
    try {
      const mask = join(dir, 'mask.png');
      const overlay = join(dir, 'out', 'overlay.png');
      const r = cli('segment', '--json', '--mask', mask, '--overlay', overlay, sample('bird.jpg'));
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as SegmentJson;
      assert.deepEqual(Object.keys(out), ['file', 'width', 'height', 'segments']);
      assert.deepEqual([out.file, out.width, out.height], [sample('bird.jpg'), 513, 513]);
      for (const s of out.segments) assert.deepEqual(Object.keys(s), ['index', 'label', 'pixels', 'fraction']);
      const bird = out.segments.find((s) => s.label === 'bird')!;
      assert.equal(bird.index, 3);
      assert.ok(bird.fraction > 0.1 && bird.fraction < 0.4, `bird fraction ${bird.fraction}`);
      assert.equal(out.segments.reduce((n, s) => n + s.pixels, 0), 513 * 513);

      const png = decode(readFileSync(mask));
      assert.deepEqual([png.width, png.height, png.channels, png.depth], [513, 513, 1, 8]);
      assert.deepEqual(png.palette![3], [128, 128, 0]); // PASCAL VOC's bird colour
      assert.equal(png.data.filter((v) => v === 3).length, bird.pixels);
      const over = decode(readFileSync(overlay));
      assert.deepEqual([over.width, over.height, over.channels], [513, 513, 3]);
      assert.deepEqual(readdirSync(dir).sort(), ['mask.png', 'out']); // no temporary files left
    } finally {
      cleanup();
    }
  });

  it('writes one mask per image through {name} and prints a JSON array for several images', () => {
    const { dir, cleanup } = tempFolder();
    try {
      const r = cli('segment', '--json', '--mask', join(dir, '{name}_mask.png'), sample('bird.jpg'), sample('cat.jpg'));
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as SegmentJson[];
      assert.deepEqual(out.map((o) => [o.file, o.width, o.height]), [[sample('bird.jpg'), 513, 513], [sample('cat.jpg'), 512, 341]]);
      assert.ok(out[1]!.segments.some((s) => s.label === 'cat'));
      assert.deepEqual(readdirSync(dir).sort(), ['bird_mask.png', 'cat_mask.png']);
    } finally {
      cleanup();
    }
  });

  it('refuses one --mask file for several images before running anything', () => {
    const { dir, cleanup } = tempFolder();
    try {
      const r = cli('segment', '--mask', join(dir, 'mask.png'), sample('bird.jpg'), sample('cat.jpg'));
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^mobilenet-v2: --mask .*mask\.png: several images need a folder \(e\.g\. masks\/\) or a path with \{name\}/);
      assert.equal(r.stdout, '');
      assert.ok(!existsSync(join(dir, 'mask.png')));
    } finally {
      cleanup();
    }
  });
});
