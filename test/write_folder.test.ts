/** Atomic writes: folders created, no partial files, clear errors, no hang on odd paths. */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import { writeFileAtomic, writeFolder } from '../src/node/write_folder.js';
import { useTempDir } from './helpers.js';

describe('atomic writes', () => {
  const tempDir = useTempDir('write');

  it('creates missing folders and leaves no temporary files', async () => {
    await writeFileAtomic(join(tempDir(), 'a/b/c.txt'), 'hello');
    assert.equal(await readFile(join(tempDir(), 'a/b/c.txt'), 'utf8'), 'hello');
    await writeFolder(join(tempDir(), 'model'), { 'config.json': new TextEncoder().encode('{}'), 'sub/w.bin': new Uint8Array([1]) });
    assert.deepEqual((await readdir(join(tempDir(), 'model'))).sort(), ['config.json', 'sub']);
    assert.deepEqual((await readdir(tempDir())).filter((f) => f.includes('.tmp')), []);
  });

  it('fails with the target named when a parent is a file', async () => {
    await writeFile(join(tempDir(), 'file'), 'x');
    await assert.rejects(writeFileAtomic(join(tempDir(), 'file/out.png'), 'x'),
      (e: Error) => e instanceof MobileNetV2Error && /cannot write .*file\/out\.png: .*file exists and is not a folder/.test(e.message));
    await assert.rejects(writeFolder(join(tempDir(), 'file/model'), {}), /cannot write .*file\/model/);
  });

  it('fails (instead of hanging) where folders cannot be created', { skip: process.platform !== 'linux' && 'needs /proc' }, async () => {
    await assert.rejects(writeFileAtomic('/proc/mobilenet-v2-test/out.png', 'x'), /cannot write \/proc\/mobilenet-v2-test\/out\.png/);
  });
});
