/**
 * Output paths of the writing commands: devices and FIFOs written in place, symbolic links written
 * through, folders taking one file per image, extensions honoured, nothing written by a failed run.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { CLI } from './helpers.js';
import { cli, hasStackTrace, sample, tempFolder } from './cli_image_commands.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47];

/** Asserts a failed run: exit 1, one `mobilenet-v2: …` line matching `pattern`, no stack. */
function assertOneLineError(r: ReturnType<typeof cli>, pattern: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.ok(!hasStackTrace(r.stderr), r.stderr);
}

describe('output paths', { skip: process.platform === 'win32' && 'needs /dev and mkfifo' }, () => {
  it('segment --mask /dev/null keeps the device; /dev/full fails with one ENOSPC line and stays a device', () => {
    const r = cli('segment', '--mask', '/dev/null', '--overlay', '/dev/null', sample('bird.jpg'));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(statSync('/dev/null').isCharacterDevice());
    assertOneLineError(cli('segment', '--mask', '/dev/full', sample('bird.jpg')), /^mobilenet-v2: .*cannot write \/dev\/full: ENOSPC/);
    assert.ok(statSync('/dev/full').isCharacterDevice());
  });

  it('segment --mask into a FIFO writes the PNG to its reader and leaves the FIFO', async () => {
    const { dir, cleanup } = tempFolder();
    try {
      const fifo = join(dir, 'mask.png');
      execFileSync('mkfifo', [fifo]);
      const reader = spawn('cat', [fifo]);
      const chunks: Buffer[] = [];
      reader.stdout.on('data', (c: Buffer) => chunks.push(c));
      const read = new Promise((done) => reader.on('close', done));
      const run = spawn(process.execPath, [CLI, 'segment', '--mask', fifo, sample('bird.jpg')], { stdio: 'ignore' });
      const [status] = await Promise.all([new Promise((done) => run.on('close', done)), read]);
      assert.equal(status, 0);
      assert.deepEqual([...Buffer.concat(chunks).subarray(0, 4)], PNG_SIGNATURE);
      assert.ok(statSync(fifo).isFIFO());
      assert.deepEqual(readdirSync(dir), ['mask.png']);
    } finally {
      cleanup();
    }
  });

  it('segment --mask through a symbolic link writes its target and keeps the link', () => {
    const { dir, cleanup } = tempFolder();
    try {
      writeFileSync(join(dir, 'target.png'), 'old');
      symlinkSync('target.png', join(dir, 'link.png'));
      const r = cli('segment', '--mask', join(dir, 'link.png'), sample('bird.jpg'));
      assert.equal(r.status, 0, r.stderr);
      assert.ok(lstatSync(join(dir, 'link.png')).isSymbolicLink());
      assert.deepEqual([...readFileSync(join(dir, 'target.png')).subarray(0, 4)], PNG_SIGNATURE);
      assert.deepEqual(readdirSync(dir).sort(), ['link.png', 'target.png']);
    } finally {
      cleanup();
    }
  });

  it('a folder (existing, or a path ending in /) gets one <image name>.png per image', () => {
    const { dir, cleanup } = tempFolder();
    try {
      mkdirSync(join(dir, 'masks'));
      const r = cli('segment', '--mask', join(dir, 'masks'), '--overlay', `${join(dir, 'overlays')}/`, sample('bird.jpg'), sample('cat.jpg'));
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readdirSync(join(dir, 'masks')).sort(), ['bird.png', 'cat.png']);
      assert.deepEqual(readdirSync(join(dir, 'overlays')).sort(), ['bird.png', 'cat.png']);
      const one = cli('segment', '--mask', `${join(dir, 'single')}/`, sample('bird.jpg'));
      assert.equal(one.status, 0, one.stderr);
      assert.deepEqual(readdirSync(join(dir, 'single')), ['bird.png']);
      assertOneLineError(cli('segment', '--mask', join(dir, 'masks'), '--overlay', join(dir, 'masks'), sample('bird.jpg')),
        /would both be written to .*masks\/bird\.png/);
    } finally {
      cleanup();
    }
  });

  it('--mask refuses a non-PNG extension; --overlay is encoded as its extension says', async () => {
    const { dir, cleanup } = tempFolder();
    try {
      assertOneLineError(cli('segment', '--mask', join(dir, 'mask.jpg'), sample('bird.jpg')), /--mask .*mask\.jpg: can only write \.png files/);
      assertOneLineError(cli('segment', '--overlay', join(dir, 'o.gif'), sample('bird.jpg')), /--overlay .*o\.gif: can only write \.png, \.jpg, \.jpeg, \.webp files/);
      const r = cli('segment', '--overlay', join(dir, 'o.jpg'), '--mask', join(dir, 'm.png'), sample('bird.jpg'));
      assert.equal(r.status, 0, r.stderr);
      assert.equal((await sharp(join(dir, 'o.jpg')).metadata()).format, 'jpeg');
      assert.deepEqual(readdirSync(dir).sort(), ['m.png', 'o.jpg']);
    } finally {
      cleanup();
    }
  });

  it('refuses folders as --output of embed, forward, preprocess, export-onnx before any work, writing nothing', () => {
    const { dir, cleanup } = tempFolder();
    try {
      const folder = join(dir, 'out');
      mkdirSync(folder);
      const model = join(dir, '..', 'no-model');
      for (const args of [
        ['embed', '-o', folder, sample('bird.jpg')],
        ['forward', '--model', model, '--inputs', join(dir, 'none.safetensors'), '--output', folder],
        ['preprocess', '--model', model, '-o', folder, sample('bird.jpg')],
        ['export-onnx', '-o', folder],
      ]) {
        assertOneLineError(cli(...args), /cannot write .*out: it is a folder/);
      }
      assert.deepEqual(readdirSync(dir), ['out']);
      assert.deepEqual(readdirSync(folder), []);
    } finally {
      cleanup();
    }
  });

  it('export-onnx refuses an existing output without --overwrite and replaces it with it', () => {
    const { dir, cleanup } = tempFolder();
    try {
      const out = join(dir, 'model.onnx');
      writeFileSync(out, 'keep me');
      assertOneLineError(cli('export-onnx', '-o', out), /model\.onnx already exists; pass --overwrite/);
      assert.equal(readFileSync(out, 'utf8'), 'keep me');
      const r = cli('export-onnx', '-o', out, '--overwrite');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^wrote .*model\.onnx/);
      assert.ok(statSync(out).size > 1e6);
      assert.deepEqual(readdirSync(dir), ['model.onnx']);
    } finally {
      cleanup();
    }
  });

  it('a run that fails writes nothing: no image embedded, no output file', () => {
    const { dir, cleanup } = tempFolder();
    try {
      writeFileSync(join(dir, 'bad.jpg'), 'not an image');
      const out = join(dir, 'sub', 'emb.safetensors');
      const r = cli('embed', '-o', out, join(dir, 'bad.jpg'));
      assert.equal(r.status, 1);
      assert.ok(!existsSync(out));
      assert.deepEqual(readdirSync(dir), ['bad.jpg']);
    } finally {
      cleanup();
    }
  });
});
