/** The fixtures vendored in test/fixtures are byte-identical copies of the shared ones, so they cannot drift. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { requireFixtures, SHARED_FIXTURES, VENDORED_HF_FIXTURES } from './helpers.js';

const SHARED_HF = join(SHARED_FIXTURES, 'hf');

/** Every file under `dir`, as paths relative to it. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('vendored fixtures', () => {
  it('hold the tables, two model cases and the processor cases', () => {
    const vendored = files(VENDORED_HF_FIXTURES);
    for (const expected of ['tables/channel_tables.json', 'h1_cls_025_losses/model.safetensors', 'h3_cls_025_nolabels0/outputs.safetensors', 'processor/p1_default/outputs.safetensors']) {
      assert.ok(vendored.includes(expected), `test/fixtures/hf/${expected} is missing`);
    }
  });

  it('equal the shared fixtures byte for byte', requireFixtures(SHARED_HF), () => {
    for (const file of files(VENDORED_HF_FIXTURES)) {
      assert.ok(readFileSync(join(VENDORED_HF_FIXTURES, file)).equals(readFileSync(join(SHARED_HF, file))), `test/fixtures/hf/${file} differs from the shared copy`);
    }
  });
});
