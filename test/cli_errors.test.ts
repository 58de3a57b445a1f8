/**
 * Errors of the image commands: a non-zero exit and one line naming the file, model or flag, no
 * stack trace unless `--verbose`; in a batch, bad images are reported and the others processed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, hasStackTrace, sample, tempFolder } from './cli_image_commands.js';
import { REPO_ROOT } from './helpers.js';

/** Asserts `stderr` is exactly the given lines (each `mobilenet-v2: …` or commander's `error: …`). */
function assertLines(stderr: string, ...patterns: RegExp[]): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, patterns.length, `stderr:\n${stderr}`);
  patterns.forEach((p, i) => assert.match(lines[i]!, p));
  assert.ok(!hasStackTrace(stderr), stderr);
}

describe('image command errors', () => {
  let dir: string;
  let cleanup: () => void;
  let missing: string;
  let corrupt: string;
  let truncated: string;
  before(() => {
    ({ dir, cleanup } = tempFolder());
    missing = join(dir, 'missing.jpg');
    corrupt = join(dir, 'corrupt.png');
    writeFileSync(corrupt, 'this is not a PNG');
    truncated = join(dir, 'truncated.jpg');
    writeFileSync(truncated, readFileSync(sample('cat.jpg')).subarray(0, 2000));
  });
  after(() => cleanup());

  it('a missing image: one line naming it, exit 1', () => {
    const r = cli('classify', missing);
    assert.equal(r.status, 1);
    assertLines(r.stderr, /^mobilenet-v2: .*missing\.jpg: image file not found$/);
    assert.equal(r.stdout, '');
  });

  it('a batch with bad images: each reported on one line, the good ones still classified, exit 1', () => {
    const r = cli('classify', '--json', '-k', '1', '--batch-size', '2', sample('cat.jpg'), corrupt, missing, truncated, sample('bird.jpg'));
    assert.equal(r.status, 1);
    assertLines(r.stderr,
      /^mobilenet-v2: .*corrupt\.png: unsupported or unrecognized image format/,
      /^mobilenet-v2: .*missing\.jpg: image file not found$/,
      /^mobilenet-v2: .*truncated\.jpg: cannot decode JPEG image \(corrupt or truncated\?\)/);
    // Failed images keep their place in the JSON, as {"file","error"}.
    const out = JSON.parse(r.stdout) as Array<{ file: string; predictions?: Array<{ index: number }>; error?: string }>;
    assert.deepEqual(out.map((o) => o.file), [sample('cat.jpg'), corrupt, missing, truncated, sample('bird.jpg')]);
    assert.deepEqual(out.map((o) => o.predictions !== undefined), [true, false, false, false, true]);
    assert.equal(out[2]!.error, 'image file not found');
    assert.equal(out[0]!.predictions![0]!.index, 286);
  });

  it('a bad image in segment: the others get their masks, no partial file for the bad one', () => {
    const out = join(dir, 'masks');
    const r = cli('segment', '--mask', join(out, '{name}.png'), sample('bird.jpg'), corrupt);
    assert.equal(r.status, 1);
    assertLines(r.stderr, /^mobilenet-v2: .*corrupt\.png: unsupported or unrecognized image format/);
    assert.match(r.stdout, /bird\.jpg \(513x513\)/);
    assert.deepEqual(readdirSync(out), ['bird.png']);
  });

  it('embed with only bad images writes nothing and says so', () => {
    const output = join(dir, 'emb.safetensors');
    const r = cli('embed', '-o', output, corrupt);
    assert.equal(r.status, 1);
    assertLines(r.stderr, /corrupt\.png: unsupported/, /^mobilenet-v2: no image could be embedded; .*emb\.safetensors not written$/);
    assert.ok(!existsSync(output));
  });

  it('an unknown flag and a bad flag value: one line naming the flag, non-zero exit', () => {
    const unknown = cli('classify', '--colour', sample('cat.jpg'));
    assert.notEqual(unknown.status, 0);
    assertLines(unknown.stderr, /unknown option '--colour'/);
    const bad = cli('classify', '--top-k', 'many', sample('cat.jpg'));
    assert.notEqual(bad.status, 0);
    assertLines(bad.stderr, /--top-k.*'many' is invalid/);
    const size = cli('info', '--size', '0x5');
    assert.notEqual(size.status, 0);
    assertLines(size.stderr, /--size.*'0x5' is invalid/);
  });

  it('a missing model folder or a model of the wrong kind: one line naming it, exit 1', () => {
    const folder = join(dir, 'no-such-model');
    const r = cli('classify', '--model', folder, sample('cat.jpg'));
    assert.equal(r.status, 1);
    assertLines(r.stderr, new RegExp(`^mobilenet-v2: .*${folder.replaceAll('/', '\\/')}.* is not a folder`));
    const broken = join(dir, 'broken-model');
    mkdirSync(broken);
    writeFileSync(join(broken, 'config.json'), '{');
    const bad = cli('segment', '--model', broken, sample('cat.jpg'));
    assert.equal(bad.status, 1);
    assertLines(bad.stderr, /^mobilenet-v2: .*broken-model\/config\.json is not valid JSON/);
    const wrong = cli('segment', '--model', join(REPO_ROOT, 'models/mobilenet_v2_1.0_224_quant'), sample('cat.jpg'));
    assert.equal(wrong.status, 1);
    assertLines(wrong.stderr, /^mobilenet-v2: .*mobilenet_v2_1\.0_224_quant: image-segmentation needs a MobileNetV2ForSemanticSegmentation checkpoint/);
  });

  it('--verbose adds the stack trace', () => {
    const r = cli('classify', '--verbose', '--model', join(dir, 'no-such-model'), sample('cat.jpg'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^mobilenet-v2: .*no-such-model/);
    assert.ok(hasStackTrace(r.stderr), r.stderr);
    const batch = cli('classify', '--verbose', corrupt, sample('cat.jpg'));
    assert.equal(batch.status, 1);
    assert.ok(hasStackTrace(batch.stderr), batch.stderr);
  });
});
