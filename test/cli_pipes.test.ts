/**
 * The CLI in pipelines and scripts: a closed stdout ends it quietly, `--json` keeps failed images in
 * their place, `--version`, `--threads` and `--revision` checks, and what `info`, `embed`,
 * `forward` and `preprocess` print or accept.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import { pipeline } from '../src/pipelines/pipeline_node.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { commandLineBytes, LONG_ARGV_BYTES } from '../src/cli/long_argv.js';
import { CLI, REPO_ROOT } from './helpers.js';
import { cli, hasStackTrace, sample, tempFolder } from './cli_image_commands.js';

const CLASSIFIER = join(REPO_ROOT, 'models', 'mobilenet_v2_1.0_224_quant');

describe('the CLI in pipelines', () => {
  it('classifies a command line past 15 KB (ONNX Runtime crashed on it in a worker thread), failures and exit code kept', () => {
    const files = Array.from({ length: Math.ceil(16_000 / sample('cat.jpg').length) }, () => sample('cat.jpg'));
    assert.ok(commandLineBytes(files) > 15_000 && commandLineBytes(files) > LONG_ARGV_BYTES);
    const r = cli('classify', '--json', '-k', '1', ...files, 'no-such-photo.jpg');
    assert.equal(r.status, 1, r.stderr);
    const out = JSON.parse(r.stdout) as Array<{ file: string; predictions?: Array<{ label: string }>; error?: string }>;
    assert.equal(out.length, files.length + 1);
    assert.ok(out.slice(0, files.length).every((o) => o.predictions?.[0]?.label === 'Egyptian cat'));
    assert.match(out[files.length]!.error!, /not found/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  it('ends quietly (exit 0, nothing on stderr) when stdout is closed after the first line', async () => {
    const run = spawn(process.execPath, [CLI, 'classify', sample('bird.jpg'), sample('cat.jpg'), sample('grace_hopper.jpg'), sample('bird.jpg')]);
    let stderr = '';
    run.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    run.stdout.once('data', () => run.stdout.destroy());
    const status = await new Promise((done) => run.on('close', done));
    assert.equal(stderr, '');
    assert.equal(status, 0);
  });

  it('--json prints {"file","error"} for a failed image in its place, and exits 1', () => {
    const { dir, cleanup } = tempFolder();
    try {
      const bad = join(dir, 'bad.jpg');
      writeFileSync(bad, 'not an image');
      for (const command of ['classify', 'segment']) {
        const r = cli(command, '--json', '-b', '2', sample('bird.jpg'), bad, join(dir, 'missing.png'), sample('cat.jpg'));
        assert.equal(r.status, 1, command);
        const out = JSON.parse(r.stdout) as Array<{ file: string; error?: string }>;
        assert.deepEqual(out.map((o) => o.file), [sample('bird.jpg'), bad, join(dir, 'missing.png'), sample('cat.jpg')], command);
        assert.deepEqual(out.map((o) => o.error === undefined), [true, false, false, true], command);
        assert.deepEqual(Object.keys(out[1]!), ['file', 'error']);
        assert.ok(!out[1]!.error!.startsWith(bad), 'the error does not repeat the file');
        assert.equal(r.stderr.trimEnd().split('\n').length, 2, r.stderr);
      }
      const one = cli('classify', '--json', bad);
      assert.equal(one.status, 1);
      assert.equal((JSON.parse(one.stdout) as { file: string }).file, bad);
    } finally {
      cleanup();
    }
  });

  it('--version prints the version of package.json', () => {
    const r = cli('--version');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('--threads above the core count warns on stderr and still runs', () => {
    const threads = String(availableParallelism() + 1);
    const r = cli('classify', '--threads', threads, '-k', '1', sample('cat.jpg'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^mobilenet-v2: warning: --threads ${threads} is more than the ${availableParallelism()} cores`));
    assert.match(r.stdout, /cat/);
    const quiet = cli('classify', '--threads', '1', '-k', '1', sample('cat.jpg'));
    assert.equal(quiet.stderr, '');
  });

  it('--revision without --model is an error', () => {
    for (const command of [['classify', sample('cat.jpg')], ['info'], ['export-onnx', '-o', '/dev/null']]) {
      const r = cli(...command, '--revision', 'main');
      assert.equal(r.status, 1, command[0]);
      assert.match(r.stderr, /^mobilenet-v2: --revision needs --model/);
      assert.equal(r.stdout, '');
    }
  });

  it('the API validates threads like the CLI (E_INVALID_ARGUMENT, not a runtime RangeError)', async () => {
    for (const threads of [-1, 0, 1.5]) {
      await assert.rejects(pipeline('image-classification', CLASSIFIER, { threads }),
        (e: unknown) => e instanceof MobileNetV2Error && e.code === 'E_INVALID_ARGUMENT' && /threads must be a positive integer/.test(e.message));
    }
  });

  it('info --json has the backbone parameter count of the text form', () => {
    const json = JSON.parse(cli('info', '--json').stdout) as { parameters: { total: number; backbone: number; head: number } };
    const text = cli('info').stdout;
    const m = /parameters:\s+([\d,]+) \(backbone ([\d,]+), head ([\d,]+)\)/.exec(text)!;
    const [total, backbone, head] = m.slice(1).map((s) => Number(s.replace(/,/g, '')));
    assert.deepEqual(json.parameters, { total, backbone, head });
  });

  it('preprocess output goes into forward as it is; embed and forward say what they wrote', () => {
    const { dir, cleanup } = tempFolder();
    try {
      const inputs = join(dir, 'inputs.safetensors');
      const pre = cli('preprocess', '--model', CLASSIFIER, '-o', inputs, sample('cat.jpg'), sample('bird.jpg'));
      assert.equal(pre.status, 0, pre.stderr);
      const out = join(dir, 'out.safetensors');
      const fwd = cli('forward', '--model', CLASSIFIER, '--inputs', inputs, '--output', out);
      assert.equal(fwd.status, 0, fwd.stderr);
      assert.match(fwd.stdout, /^wrote \d+ tensors from 2 input\(s\) to .*out\.safetensors\n$/);
      const tensors = parseSafetensors(readFileSync(out), out).tensors;
      const classified = JSON.parse(cli('classify', '--json', '-k', '1', sample('cat.jpg'), sample('bird.jpg')).stdout) as Array<{ predictions: Array<{ index: number }> }>;
      for (const i of [0, 1]) {
        const logits = tensors.get(`logits.${i}`)!;
        assert.deepEqual(logits.shape, [1, 1001]);
        const data = logits.data as Float32Array;
        assert.equal(data.indexOf(Math.max(...data)), classified[i]!.predictions[0]!.index);
      }
      const emb = cli('embed', '-o', join(dir, 'emb.json'), sample('cat.jpg'));
      assert.equal(emb.status, 0, emb.stderr);
      assert.match(emb.stdout, /^wrote 1 embeddings of 1280 floats \(pooled last layer, json\) to .*emb\.json\n$/);
      assert.ok(!hasStackTrace(emb.stderr));
    } finally {
      cleanup();
    }
  });
});
