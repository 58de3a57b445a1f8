/**
 * The models shipped in `models/` are exactly what converting Google's TFLite files gives today
 * (so they cannot go stale: regenerate with `npm run build:models`), and carry their licence.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_CLASSIFIER, DEFAULT_SEGMENTER, MODELS_DIR } from '../src/pipelines/default_models_node.js';
import { checkpointFiles, importTflite } from '../src/convert/tflite/importer.js';
import { REAL_FIXTURES, REPO_ROOT, requireFixtures } from './helpers.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('shipped default models', () => {
  it('live in models/ at the package root', () => {
    assert.equal(MODELS_DIR, join(REPO_ROOT, 'models'));
  });

  for (const folder of [DEFAULT_CLASSIFIER, DEFAULT_SEGMENTER]) {
    const name = folder.split('/').at(-1)!;
    const tflite = join(REAL_FIXTURES, 'models', `${name}.tflite`);
    it(`${name} holds exactly the files convert writes for ${name}.tflite`, requireFixtures(tflite), () => {
      // npm run build:models stores them in float16 (see models/README.md).
      const expected = checkpointFiles(importTflite(readFileSync(tflite), `${name}.tflite`), { dtype: 'float16' });
      assert.deepEqual(readdirSync(folder).sort(), Object.keys(expected).sort());
      for (const [file, bytes] of Object.entries(expected)) {
        assert.equal(sha256(readFileSync(join(folder, file))), sha256(bytes), `${name}/${file} differs from a fresh conversion: run npm run build:models`);
      }
    });
  }

  it('come with the Apache-2.0 licence and a README naming both models', () => {
    assert.match(readFileSync(join(MODELS_DIR, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    const readme = readFileSync(join(MODELS_DIR, 'README.md'), 'utf8');
    for (const folder of [DEFAULT_CLASSIFIER, DEFAULT_SEGMENTER]) assert.ok(readme.includes(folder.split('/').at(-1)!));
    assert.ok(existsSync(join(REPO_ROOT, 'samples', 'COPYRIGHT')));
  });
});
