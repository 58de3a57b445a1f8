/**
 * The browser's model resolution run under Node (global fetch, no Cache Storage): URLs against a
 * local static server, hub ids told apart from page paths, and clear errors.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import type { DownloadProgress } from '../src/hub/model_files.js';
import { resolveModelFilesInBrowser } from '../src/hub/resolve_browser.js';
import { serveStatic, type StaticServer } from './browser/server.js';

let dir: string;
let server: StaticServer;
const config = new TextEncoder().encode('{"model_type": "mobilenet_v2"}');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resolve-browser-'));
  await mkdir(join(dir, 'models/m'), { recursive: true });
  await mkdir(join(dir, 'models/empty'));
  await writeFile(join(dir, 'models/m/config.json'), config);
  server = await serveStatic(dir);
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

test('a URL folder: files by name with progress, absent files as null', async () => {
  const events: DownloadProgress[] = [];
  const files = await resolveModelFilesInBrowser(`${server.url}models/m/`, { progress: (e) => events.push(e) });
  assert.equal(files.description, `${server.url}models/m`);
  assert.deepEqual(await files.read('config.json'), config);
  assert.deepEqual(events.at(-1), { file: 'config.json', loaded: config.byteLength, total: config.byteLength, done: true });
  assert.equal(await files.read('model.safetensors'), null);
  assert.deepEqual(server.requests.slice(-2), ['/models/m/config.json', '/models/m/model.safetensors']);
});

test('clear errors: no config.json at a URL, a page path without a page, neither URL nor hub id', async () => {
  await assert.rejects(resolveModelFilesInBrowser(`${server.url}models/empty`),
    (err: Error) => err instanceof MobileNetV2Error && err.message.includes(`no model at ${server.url}models/empty: it has no config.json`));
  await assert.rejects(resolveModelFilesInBrowser('./models/m'), /"\.\/models\/m" is not a valid URL \(and there is no page address/);
  await assert.rejects(resolveModelFilesInBrowser('not a model'), /"not a model" is not a URL .* and not a hub model id/);
  await assert.rejects(resolveModelFilesInBrowser('ftp://host/m'), /not a URL/);
});

test('a hub id goes to the hub endpoint with its resolve layout', async () => {
  await assert.rejects(resolveModelFilesInBrowser('google/no-such-model', { endpoint: server.url, revision: 'v1' }),
    /model google\/no-such-model not found at .* \(revision v1\)/);
  assert.equal(server.requests.at(-1), '/google/no-such-model/resolve/v1/config.json');
});
