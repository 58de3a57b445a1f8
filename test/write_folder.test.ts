/**
 * Atomic writes: folders created, no partial files, clear errors, no hang on odd paths; symbolic
 * links written through, devices and FIFOs written in place, folders and sockets never replaced.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { lstatSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import { checkOutputFile, writeFileAtomic, writeFolder, writeStreamAtomic } from '../src/node/write_folder.js';
import { useTempDir } from './helpers.js';

/** True when `err` is a one-line E_FILE_WRITE MobileNetV2Error matching `pattern`. */
const writeError = (pattern: RegExp) => (err: unknown): boolean =>
  err instanceof MobileNetV2Error && err.code === 'E_FILE_WRITE' && !err.message.includes('\n') && pattern.test(err.message);

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

  it('writes through a symbolic link to its target, the link kept (also when the target is new)', async () => {
    const dir = tempDir();
    await writeFile(join(dir, 'target.png'), 'old');
    await symlink('target.png', join(dir, 'link.png'));
    await writeFileAtomic(join(dir, 'link.png'), 'new');
    assert.ok(lstatSync(join(dir, 'link.png')).isSymbolicLink());
    assert.equal(await readFile(join(dir, 'target.png'), 'utf8'), 'new');
    await symlink('later/new.png', join(dir, 'dangling.png'));
    await writeFileAtomic(join(dir, 'dangling.png'), 'fresh');
    assert.equal(await readlink(join(dir, 'dangling.png')), 'later/new.png');
    assert.equal(await readFile(join(dir, 'later/new.png'), 'utf8'), 'fresh');
    await symlink('loop', join(dir, 'loop'));
    await assert.rejects(writeFileAtomic(join(dir, 'loop'), 'x'), writeError(/cannot write .*loop/));
  });

  it('writes into a character device in place: /dev/null stays a device, /dev/full fails with ENOSPC', { skip: process.platform !== 'linux' && 'needs /dev/full' }, async () => {
    await writeFileAtomic('/dev/null', new Uint8Array(1000));
    assert.ok(statSync('/dev/null').isCharacterDevice());
    await assert.rejects(writeFileAtomic('/dev/full', new Uint8Array(1000)), writeError(/^cannot write \/dev\/full: ENOSPC/));
    assert.ok(statSync('/dev/full').isCharacterDevice());
  });

  it('writes into a FIFO in place, for a reader on the other end', { skip: process.platform === 'win32' && 'no mkfifo' }, async () => {
    const fifo = join(tempDir(), 'pipe.png');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo]);
    const chunks: Buffer[] = [];
    reader.stdout.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise((done) => reader.on('close', done));
    await writeFileAtomic(fifo, 'through the pipe');
    await closed;
    assert.equal(Buffer.concat(chunks).toString(), 'through the pipe');
    assert.ok(statSync(fifo).isFIFO());
  });

  it('never replaces a folder or a socket, and leaves nothing behind', async () => {
    const dir = join(tempDir(), 'never');
    await mkdir(join(dir, 'folder'), { recursive: true });
    await assert.rejects(writeFileAtomic(join(dir, 'folder'), 'x'), writeError(/folder/));
    await assert.rejects(checkOutputFile(join(dir, 'folder')), writeError(/it is a folder/));
    const server = createServer();
    await new Promise<void>((done) => server.listen(join(dir, 'socket'), done));
    try {
      await assert.rejects(writeFileAtomic(join(dir, 'socket'), 'x'), writeError(/it is a socket/));
      assert.ok(statSync(join(dir, 'socket')).isSocket());
    } finally {
      server.close();
    }
    assert.ok(statSync(join(dir, 'folder')).isDirectory());
    assert.deepEqual(await readdir(join(dir, 'folder')), []);
  });

  it('checkOutputFile refuses an existing file only when overwrite is false', async () => {
    const file = join(tempDir(), 'exists.onnx');
    await writeFile(file, 'x');
    await assert.rejects(checkOutputFile(file, false), writeError(/exists\.onnx already exists; pass --overwrite/));
    await checkOutputFile(file, true);
    await checkOutputFile(file);
    await checkOutputFile('/dev/null', false);
  });

  it('writeStreamAtomic writes the pieces as one file, and on a failure midway leaves the old file and no temporary one', async () => {
    const file = join(tempDir(), 'stream', 'lines.jsonl');
    async function* pieces(fail: boolean): AsyncGenerator<string> {
      yield '{"a":1}\n';
      if (fail) throw new MobileNetV2Error('the source went away', { code: 'E_QUEUE_UNREACHABLE' });
      yield '{"b":2}\n';
    }
    await writeStreamAtomic(file, pieces(false));
    assert.equal(await readFile(file, 'utf8'), '{"a":1}\n{"b":2}\n');
    await assert.rejects(writeStreamAtomic(file, pieces(true)), (e: Error) => e instanceof MobileNetV2Error && e.code === 'E_QUEUE_UNREACHABLE');
    assert.equal(await readFile(file, 'utf8'), '{"a":1}\n{"b":2}\n');
    assert.deepEqual(await readdir(join(tempDir(), 'stream')), ['lines.jsonl']);
    await writeStreamAtomic('/dev/null', pieces(false));
    assert.ok(statSync('/dev/null').isCharacterDevice());
  });
});
