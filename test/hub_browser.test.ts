/**
 * The browser hub client run under Node against the test mirror, with an in-memory stand-in for
 * the Cache Storage API (real browsers are covered by the browser test suite).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import { BrowserHubFiles, browserModelFiles } from '../src/hub/browser_files.js';
import type { DownloadProgress } from '../src/hub/model_files.js';
import {
  CLS_REPO,
  expectedBytes,
  MIRROR_FIXTURES,
  SEG_REPO,
  useMirror,
} from './hub_mirror.js';

const served = useMirror();
const stored = new Map<string, Response>();

before(() => {
  // Just the two Cache methods the client uses, keyed by URL.
  const cache = {
    match: async (url: string) => stored.get(url)?.clone(),
    put: async (url: string, response: Response) => void stored.set(url, response),
  };
  Object.assign(globalThis, { caches: { open: async () => cache } });
});
after(() => {
  delete (globalThis as { caches?: unknown }).caches;
});

test('downloads with progress, then serves the Cache Storage copy without a request', MIRROR_FIXTURES, async () => {
  const events: DownloadProgress[] = [];
  const files = await browserModelFiles(CLS_REPO, { endpoint: served.mirror.url, onProgress: (e) => events.push(e) });
  const weights = await expectedBytes(CLS_REPO, 'main', 'model.safetensors');
  assert.deepEqual(await files.read('model.safetensors'), weights);
  const size = weights.byteLength;
  assert.deepEqual(events.at(-1), { file: 'model.safetensors', loaded: size, total: size, done: true });
  const before = served.mirror.requests.length;
  const offline = new BrowserHubFiles(CLS_REPO, { endpoint: served.mirror.url, offline: true });
  assert.deepEqual(await offline.read('config.json'), await expectedBytes(CLS_REPO, 'main', 'config.json'));
  assert.deepEqual(await offline.read('model.safetensors'), weights);
  assert.equal(served.mirror.requests.length, before);
});

test('a .bin-only repo: the missing safetensors file is remembered as absent', MIRROR_FIXTURES, async () => {
  const files = new BrowserHubFiles(SEG_REPO, { endpoint: served.mirror.url });
  assert.equal(await files.read('model.safetensors'), null);
  assert.deepEqual(await files.read('pytorch_model.bin'), await expectedBytes(SEG_REPO, 'main', 'pytorch_model.bin'));
  const offline = new BrowserHubFiles(SEG_REPO, { endpoint: served.mirror.url, offline: true });
  assert.equal(await offline.read('model.safetensors'), null);
  await assert.rejects(offline.read('preprocessor_config.json'), /not in the browser cache and offline mode is on/);
});

test('a corrupt download is rejected and not cached; a missing model is a clear error', MIRROR_FIXTURES, async () => {
  const path = `/${CLS_REPO}/resolve/v1/model.safetensors`;
  served.mirror.corrupt.add(path);
  const files = new BrowserHubFiles(CLS_REPO, { endpoint: served.mirror.url, revision: 'v1' });
  await assert.rejects(files.read('model.safetensors'), /corrupt: sha256/);
  assert.ok(![...stored.keys()].some((url) => url.endsWith(path)));
  await assert.rejects(
    browserModelFiles('google/xyz', { endpoint: served.mirror.url }),
    (err: Error) =>
      err instanceof MobileNetV2Error && /model google\/xyz not found at .* \(revision main\)/.test(err.message),
  );
});
