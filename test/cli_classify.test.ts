/** `mobilenet-v2 classify`: the shipped default model, text and `--json` output shapes, folders, batching. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cli, sample, tempFolder } from './cli_image_commands.js';

describe('mobilenet-v2 classify', () => {
  it('classifies one photo with the built-in model: --json prints one object of exactly file and predictions', () => {
    const r = cli('classify', '--json', sample('cat.jpg'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const out = JSON.parse(r.stdout) as { file: string; predictions: Array<Record<string, unknown>> };
    assert.deepEqual(Object.keys(out), ['file', 'predictions']);
    assert.equal(out.file, sample('cat.jpg'));
    assert.equal(out.predictions.length, 5);
    for (const p of out.predictions) assert.deepEqual(Object.keys(p), ['index', 'label', 'score']);
    assert.deepEqual([out.predictions[0]!.index, out.predictions[0]!.label], [286, 'Egyptian cat']);
    assert.ok((out.predictions[0]!.score as number) > 0.7);
  });

  it('walks a folder (skipping non-images) into a JSON array in file order, the same with any batch size', () => {
    const { dir, cleanup } = tempFolder();
    try {
      mkdirSync(join(dir, 'sub'));
      copyFileSync(sample('grace_hopper.jpg'), join(dir, 'sub', 'b.jpg'));
      copyFileSync(sample('cat.jpg'), join(dir, 'a.JPG'));
      copyFileSync(sample('cat.jpg'), join(dir, 'notes.txt'));
      const run = (...extra: string[]) => {
        const r = cli('classify', '--json', '--top-k', '2', ...extra, dir);
        assert.equal(r.status, 0, r.stderr);
        return JSON.parse(r.stdout) as Array<{ file: string; predictions: Array<{ index: number; score: number }> }>;
      };
      const batched = run();
      assert.deepEqual(batched.map((o) => o.file), [join(dir, 'a.JPG'), join(dir, 'sub', 'b.jpg')]);
      assert.ok(batched.every((o) => o.predictions.length === 2));
      assert.equal(batched[0]!.predictions[0]!.index, 286);
      assert.ok(batched[1]!.predictions.some((p) => p.index === 653)); // military uniform
      const single = run('--batch-size', '1');
      for (const [i, o] of single.entries()) {
        assert.deepEqual(o.predictions.map((p) => p.index), batched[i]!.predictions.map((p) => p.index));
        assert.ok(Math.abs(o.predictions[0]!.score - batched[i]!.predictions[0]!.score) < 1e-5);
      }
    } finally {
      cleanup();
    }
  });

  it('prints readable text by default: the file, then percentage, class index and label', () => {
    const r = cli('classify', '-k', '1', sample('cat.jpg'), sample('bird.jpg'));
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[0], sample('cat.jpg'));
    assert.match(lines[1]!, /^\s+\d+\.\d%\s+286\s+Egyptian cat$/);
  });

  it('documents its options in --help', () => {
    const r = cli('classify', '--help');
    assert.equal(r.status, 0);
    for (const flag of ['--model', '--revision', '--top-k', '--json', '--batch-size']) assert.ok(r.stdout.includes(flag), flag);
  });
});
