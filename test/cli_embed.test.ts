/** `mobilenet-v2 embed`: safetensors and JSON outputs, a chosen block. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { cli, sample, tempFolder } from './cli_image_commands.js';

describe('mobilenet-v2 embed', () => {
  it('writes embeddings [N, 1280] to safetensors with the files in the metadata', () => {
    const { dir, cleanup } = tempFolder();
    try {
      const output = join(dir, 'emb.safetensors');
      const r = cli('embed', '--output', output, sample('cat.jpg'), sample('bird.jpg'));
      assert.equal(r.status, 0, r.stderr);
      const { tensors, metadata } = parseSafetensors(readFileSync(output), output);
      const embeddings = tensors.get('embeddings')!;
      assert.deepEqual([embeddings.dtype, embeddings.shape], ['float32', [2, 1280]]);
      assert.deepEqual(JSON.parse(metadata['files']!), [sample('cat.jpg'), sample('bird.jpg')]);
      assert.ok((embeddings.data as Float32Array).some((v) => v > 0));
    } finally {
      cleanup();
    }
  });

  it('writes JSON for a .json file, here with pooled block-4 features (32 values)', () => {
    const { dir, cleanup } = tempFolder();
    try {
      const output = join(dir, 'emb.json');
      const r = cli('embed', '-o', output, '--out-index', '4', sample('cat.jpg'));
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(readFileSync(output, 'utf8')) as { dim: number; layer: string; embeddings: Array<{ file: string; embedding: number[] }> };
      assert.deepEqual([out.dim, out.layer, out.embeddings.length, out.embeddings[0]!.embedding.length], [32, 'pooled layer.4', 1, 32]);
      assert.equal(out.embeddings[0]!.file, sample('cat.jpg'));
    } finally {
      cleanup();
    }
  });
});
