/**
 * The CLI on hub ids: `forward` on a .bin-only repo served by a local mirror (HF_ENDPOINT), then
 * again offline from the cache, reproducing transformers' reference outputs both times.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { assertOutputsMatch, modelFixtures } from './fixture_runner.js';
import { CLI } from './helpers.js';
import { MIRROR_FIXTURES, SEG_REPO, useMirror } from './hub_mirror.js';

const run = promisify(execFile);
const served = useMirror();

describe('mobilenet-v2 forward --model <hub id>', MIRROR_FIXTURES, () => {
  const fixture = modelFixtures().find((f) => f.name === 'f_seg_035_os8_65')!;
  // The CLI runs in a child process: spawnSync would block the mirror this process serves.
  const forward = (out: string, env: Record<string, string>) =>
    run(process.execPath, [
      CLI, 'forward', '--model', SEG_REPO, '--inputs', join(fixture.dir, 'inputs.safetensors'), '--output', out,
      '--hidden-states', '--debug', '--target-sizes', '65x65,50x81',
    ], { env: { ...process.env, HF_HUB_CACHE: served.ws.cacheDir, HF_HUB_DISABLE_PROGRESS_BARS: '1', ...env } });

  it('downloads a pytorch_model.bin-only repo and matches the reference', async () => {
    const out = join(served.ws.root, 'online.safetensors');
    await forward(out, { HF_ENDPOINT: served.mirror.url });
    assert.ok(served.mirror.requests.some((r) => r.path.endsWith('/pytorch_model.bin') && r.method === 'GET'));
    assertOutputsMatch(fixture, parseSafetensors(new Uint8Array(readFileSync(out)), out).tensors);
  });

  it('runs offline from the cache without asking the mirror', async () => {
    const before = served.mirror.requests.length;
    const out = join(served.ws.root, 'offline.safetensors');
    await forward(out, { HF_ENDPOINT: served.mirror.url, HF_HUB_OFFLINE: '1' });
    assert.equal(served.mirror.requests.length, before);
    assertOutputsMatch(fixture, parseSafetensors(new Uint8Array(readFileSync(out)), out).tensors);
  });

  it('names the missing repo in one line', async () => {
    await assert.rejects(
      run(process.execPath, [CLI, 'info', '--model', 'google/does-not-exist'], { env: { ...process.env, HF_ENDPOINT: served.mirror.url, HF_HUB_CACHE: served.ws.cacheDir } }),
      (err: { code: number; stderr: string }) => err.code !== 0 && /google\/does-not-exist not found/.test(err.stderr) && err.stderr.trim().split('\n').length === 1,
    );
  });
});
