/**
 * The Node and browser hub clients against hostile mirrors on 127.0.0.1: every server-sent value
 * that could reach a path is refused, slow servers hit the (here tiny) limits, lying lengths and
 * endless bodies are cut off, and nothing is ever created outside the cache.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { MobileNetV2Error, type MobileNetV2ErrorCode } from '../src/errors.js';
import { BrowserHubFiles } from '../src/hub/browser_files.js';
import { HfCacheRepo } from '../src/hub/hf_cache_node.js';
import type { HubLimits } from '../src/hub/hub_limits.js';
import { resolveModelFiles } from '../src/hub/resolve_node.js';
import { CLI, REAL_FIXTURES } from './helpers.js';
import {
  answer,
  assertNothingOutsideCache,
  drip,
  hostileWorkspace,
  startHostile,
  type Hostile,
  type HostileHandler,
  type HostileWorkspace,
} from './hub_hostile.js';
import { gitBlobSha1 } from './hub_mirror.js';

const REPO = 'evil/repo';
const CONFIG = '{"model_type": "mobilenet_v2"}';
const TRAVERSAL = '../../../../x/PWN';
/** Where a traversal from `snapshots/` would land: `<root>/l1/x/PWN`. */
const VICTIM = join('l1', 'x', 'PWN', 'config.json');
/** Limits small enough that each slow case takes about a second. */
const TINY: Partial<HubLimits> = {
  metadataTimeoutMs: 500,
  readTimeoutMs: 500,
  minBytesPerSecond: 100,
  speedWindowMs: 600,
  maxUnsizedBytes: 1000,
};

let ws: HostileWorkspace;
let server: Hostile | undefined;
beforeEach(async () => {
  ws = await hostileWorkspace();
  // A file the traversal would `rm` and replace.
  await mkdir(join(ws.root, 'l1/x/PWN'), { recursive: true });
  await writeFile(join(ws.root, VICTIM), 'victim');
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  assert.equal(await readFile(join(ws.root, VICTIM), 'utf8'), 'victim');
  await assertNothingOutsideCache(ws, [VICTIM]);
  await ws.cleanup();
});

/**
 * Serves `handler` for `file` of `REPO` and loads it; config.json, which is resolved first, is
 * served honestly when another file is the target.
 */
async function load(handler: HostileHandler, file = 'config.json', limits: Partial<HubLimits> = TINY) {
  const honest = config({});
  server = await startHostile((req, res, name) => (name === file ? handler : honest)(req, res, name));
  const files = await resolveModelFiles(REPO, { cacheDir: ws.cacheDir, endpoint: server.url, env: {}, progress: false, limits });
  return files.read(file);
}

/** Asserts that `run` fails with a MobileNetV2Error of `code` whose message matches `message`, within `ms`. */
async function refused(run: () => Promise<unknown>, code: MobileNetV2ErrorCode, message: RegExp, ms = 3000) {
  const start = performance.now();
  await assert.rejects(run, (err: Error) => {
    assert.ok(err instanceof MobileNetV2Error, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
  const took = performance.now() - start;
  assert.ok(took < ms, `took ${took.toFixed(0)} ms`);
}

/** A plain small-file answer: the config with a git-sha1 ETag and its length, plus `extra`. */
function config(extra: Record<string, string>): HostileHandler {
  const bytes = new TextEncoder().encode(CONFIG);
  const headers = { ETag: `"${gitBlobSha1(bytes)}"`, 'Content-Length': String(bytes.byteLength), ...extra };
  return (req, res) => answer(req, res, headers, bytes);
}

const repoRoot = () => join(ws.cacheDir, 'models--evil--repo');

describe('values that end up in cache paths', () => {
  test('an X-Repo-Commit with "../" is refused before anything is written', async () => {
    await refused(() => load(config({ 'X-Repo-Commit': TRAVERSAL })), 'E_HUB_RESPONSE', /invalid X-Repo-Commit .*40 lower-case hex/);
    await assert.rejects(stat(repoRoot()), { code: 'ENOENT' });
  });

  test('a commit that is not 40 hex digits is refused, also on a 404', async () => {
    await refused(() => load(config({ 'X-Repo-Commit': 'main' })), 'E_HUB_RESPONSE', /invalid X-Repo-Commit "main"/);
    await server!.close();
    const missing: HostileHandler = (_req, res) => void res.writeHead(404, { 'X-Repo-Commit': TRAVERSAL }).end();
    await refused(() => load(missing), 'E_HUB_RESPONSE', /invalid X-Repo-Commit/);
  });

  test('an ETag that could leave the blobs folder is refused', async () => {
    for (const etag of [`"${TRAVERSAL}"`, '"a/b"', '".."', '"..\\\\x"']) {
      await refused(() => load(config({ ETag: etag })), 'E_HUB_RESPONSE', /invalid ETag/);
      await server!.close();
    }
    await assert.rejects(readdir(join(repoRoot(), 'blobs')), { code: 'ENOENT' });
  });

  test('sizes that are not byte counts are refused', async () => {
    for (const size of ['-1', '1e9', '0x10', '99999999999999999']) {
      await refused(() => load(config({ 'X-Linked-Size': size })), 'E_HUB_RESPONSE', /invalid X-Linked-Size/);
      await server!.close();
    }
  });

  test('a refs/ file pointing outside the cache is refused, offline and online', async () => {
    await mkdir(join(repoRoot(), 'refs'), { recursive: true });
    await writeFile(join(repoRoot(), 'refs/main'), TRAVERSAL);
    const offline = () => resolveModelFiles(REPO, { cacheDir: ws.cacheDir, env: {}, offline: true });
    await refused(offline, 'E_CHECKPOINT_CORRUPT', /refs\/main holds "\.\.\/.*not a commit id; delete it/);
    await refused(() => load(config({})), 'E_CHECKPOINT_CORRUPT', /not a commit id/);
  });

  test('repo ids, revisions and file names given by the caller are checked', async () => {
    server = await startHostile(config({}));
    const options = { cacheDir: ws.cacheDir, endpoint: server.url, env: {}, progress: false };
    await refused(() => resolveModelFiles('evil/..', options), 'E_INVALID_ARGUMENT', /not a folder and not a hub model id/);
    for (const revision of ['../x', 'a/../../b', 'refs//x', 'a\\b', 'main\0']) {
      await refused(() => resolveModelFiles(REPO, { ...options, revision }), 'E_INVALID_ARGUMENT', /invalid revision/);
    }
    const files = await resolveModelFiles(REPO, { ...options, revision: 'refs/pr/1' }); // a '/' is fine
    for (const name of ['../../../x/PWN', '/etc/passwd', 'a/./b', '']) {
      await refused(() => files.read(name), 'E_INVALID_ARGUMENT', /invalid file name/);
    }
  });

  test('the cache refuses any path outside the repo folder (defence in depth)', () => {
    const cache = new HfCacheRepo(ws.cacheDir, REPO);
    assert.throws(() => cache.pointerPath('a'.repeat(40), '../../../x'), { code: 'E_INTERNAL' });
    assert.throws(() => cache.blobPath('../../x'), { code: 'E_INTERNAL' });
    assert.throws(() => new HfCacheRepo(ws.cacheDir, '../x'), { code: 'E_INVALID_ARGUMENT' });
  });
});

describe('slow servers', () => {
  test('a HEAD that never answers hits HF_HUB_ETAG_TIMEOUT', async () => {
    await refused(() => load(() => undefined), 'E_HUB_UNREACHABLE', /no answer within 0\.5 s; raise HF_HUB_ETAG_TIMEOUT/);
  });

  test('a GET whose body never comes hits HF_HUB_DOWNLOAD_TIMEOUT', async () => {
    const stall: HostileHandler = (req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      if (req.method === 'HEAD') res.end();
      else res.flushHeaders();
    };
    await refused(() => load(stall), 'E_HUB_UNREACHABLE', /no data within 0\.5 s; raise HF_HUB_DOWNLOAD_TIMEOUT/);
  });

  test('a drip-feed fast enough to dodge the read timeout breaks the least speed', async () => {
    const dripping: HostileHandler = (req, res) => {
      res.writeHead(200, { 'Content-Length': '100000' });
      if (req.method === 'HEAD') return void res.end();
      drip(res, new Uint8Array(1), 200); // 5 bytes/s, each well within the 0.5 s read timeout
    };
    await refused(() => load(dripping), 'E_HUB_UNREACHABLE', /bytes\/s over 0\.6 s, below the least 100 .*MOBILENET_V2_HUB_MIN_SPEED/);
  });
});

describe('lengths', () => {
  test('without an ETag, a GET length other than the announced one is refused', async () => {
    const lying: HostileHandler = (req, res) =>
      answer(req, res, { 'Content-Length': req.method === 'HEAD' ? '50' : '20' }, 'x'.repeat(20));
    await refused(() => load(lying), 'E_HUB_RESPONSE', /announced 50 bytes but the download 20/);
  });

  test('without an ETag, a body shorter than announced is discarded', async () => {
    const short: HostileHandler = (req, res) =>
      req.method === 'HEAD' ? answer(req, res, { 'Content-Length': '50' }) : answer(req, res, {}, 'x'.repeat(20));
    await refused(() => load(short), 'E_HUB_RESPONSE', /corrupt: 20 bytes arrived but the server announced 50/);
    assert.deepEqual(await readdir(join(repoRoot(), 'blobs')), []);
  });

  test('a body longer than announced stops at the announced size and keeps nothing', async () => {
    const endless: HostileHandler = (req, res) => {
      if (req.method === 'HEAD') return answer(req, res, { 'Content-Length': '100' });
      res.writeHead(200, {}); // chunked, no length
      drip(res, new Uint8Array(64 * 1024), 1);
    };
    await refused(() => load(endless, 'model.safetensors'), 'E_HUB_RESPONSE', /more than the announced 100 bytes; nothing was kept/);
    const configBlob = gitBlobSha1(new TextEncoder().encode(CONFIG));
    assert.deepEqual(await readdir(join(repoRoot(), 'blobs')), [configBlob]);
  });

  test('a config with no length at all is capped; a weight file with no length is refused', async () => {
    const unsized: HostileHandler = (req, res) => {
      res.writeHead(200, {});
      if (req.method === 'HEAD') return void res.end();
      drip(res, new Uint8Array(300), 1);
    };
    await refused(() => load(unsized), 'E_HUB_RESPONSE', /more than the 1000 bytes allowed .*MOBILENET_V2_HUB_MAX_UNSIZED/);
    await server!.close();
    await refused(() => load(unsized, 'model.safetensors'), 'E_HUB_RESPONSE', /announced no size for this weight file/);
  });

  test('an HTML error page served as config.json is a clear error', async () => {
    const html = config({ 'Content-Type': 'text/html; charset=utf-8' });
    await refused(() => load(html), 'E_HUB_RESPONSE', /answered .*config\.json with an HTML page \(text\/html/);
  });
});

describe('redirects', () => {
  test('a redirect loop is bounded, and only http(s) targets are followed', async () => {
    const loop: HostileHandler = (req, res) => void res.writeHead(302, { Location: req.url ?? '/' }).end();
    await refused(() => load(loop), 'E_HUB_RESPONSE', /redirects more than 5 times/);
    await server!.close();
    const file: HostileHandler = (_req, res) => void res.writeHead(302, { Location: 'file:///etc/passwd' }).end();
    await refused(() => load(file), 'E_HUB_RESPONSE', /redirects to "file:\/\/\/etc\/passwd", not an http\(s\) URL/);
  });
});

describe('browser client', () => {
  const read = async (handler: HostileHandler, file = 'config.json') => {
    server = await startHostile(handler);
    return new BrowserHubFiles(REPO, { endpoint: server.url, maxUnsizedBytes: 1000 }).read(file);
  };

  test('the same commit and ETag validation', async () => {
    await refused(() => read(config({ 'X-Repo-Commit': TRAVERSAL })), 'E_HUB_RESPONSE', /invalid X-Repo-Commit/);
    await server!.close();
    await refused(() => read(config({ ETag: `"${TRAVERSAL}"` })), 'E_HUB_RESPONSE', /invalid ETag/);
  });

  test('size checks: X-Linked-Size is exact, unsized configs are capped, unsized weights refused', async () => {
    const longer: HostileHandler = (_req, res) => {
      res.writeHead(200, { 'X-Linked-Size': '100' });
      drip(res, new Uint8Array(64 * 1024), 1);
    };
    await refused(() => read(longer, 'model.safetensors'), 'E_HUB_RESPONSE', /more than 100 bytes/);
    await server!.close();
    const unsized: HostileHandler = (_req, res) => {
      res.writeHead(200, {});
      drip(res, new Uint8Array(300), 1);
    };
    await refused(() => read(unsized), 'E_HUB_RESPONSE', /more than 1000 bytes/);
    await server!.close();
    await refused(() => read(unsized, 'model.safetensors'), 'E_HUB_RESPONSE', /announced no size/);
  });
});

describe('CLI', () => {
  test('classify against a hostile HF_ENDPOINT prints one line and exits non-zero', async () => {
    server = await startHostile(config({ 'X-Repo-Commit': TRAVERSAL }));
    const image = join(REAL_FIXTURES, 'images/pets.jpg');
    const env = { ...process.env, HF_ENDPOINT: server.url, HF_HUB_CACHE: ws.cacheDir, HF_HUB_DISABLE_PROGRESS_BARS: '1' };
    // A child process: spawnSync would block the server this process runs.
    await assert.rejects(
      promisify(execFile)(process.execPath, [CLI, 'classify', '--model', REPO, image], { env }),
      (err: { code: number; stderr: string }) => {
        assert.notEqual(err.code, 0);
        assert.equal(err.stderr.trim().split('\n').length, 1, err.stderr);
        assert.match(err.stderr, /invalid X-Repo-Commit/);
        return true;
      },
    );
  });
});
