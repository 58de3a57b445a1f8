/** Loading models by hub id: download into the HF cache layout from a mirror on 127.0.0.1. */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import { hubSettings } from '../src/hub/hub_env_node.js';
import { isHubModelId } from '../src/hub/hub_common.js';
import { DEFAULT_HUB_LIMITS } from '../src/hub/hub_limits.js';
import type { DownloadProgress } from '../src/hub/model_files.js';
import { resolveModelFiles, type ResolveModelFilesOptions } from '../src/hub/resolve_node.js';
import { HF_FIXTURES, requireFixtures } from './helpers.js';
import {
  CLS_REPO,
  commitOf,
  expectedBytes,
  gitBlobSha1,
  PREPROCESSOR_JSON,
  SEG_REPO,
  sha256Hex,
  startMirror,
  type Mirror,
  MIRROR_FIXTURES,
  useMirror,
} from './hub_mirror.js';

const served = useMirror();
let caseNo = 0;


/** Options for a fresh, empty cache against the static mirror; no environment is read. */
function fresh(extra: ResolveModelFilesOptions = {}): ResolveModelFilesOptions & { cacheDir: string } {
  return { cacheDir: join(served.ws.root, `cache-${++caseNo}`), endpoint: served.mirror.url, progress: false, env: {}, ...extra };
}

/** Requests made while `run` runs. */
async function requestsDuring(m: Mirror, run: () => Promise<unknown>) {
  const start = m.requests.length;
  await run();
  return m.requests.slice(start);
}

const repoFolder = (cacheDir: string, repo: string) => join(cacheDir, `models--${repo.replace('/', '--')}`);

describe('local folders and ids', () => {
  test('an existing folder wins and reads files or null', requireFixtures(join(HF_FIXTURES, 'c_cls_050_64_nopad')), async () => {
    const folder = join(HF_FIXTURES, 'c_cls_050_64_nopad');
    const files = await resolveModelFiles(folder, { env: {} });
    assert.deepEqual(await files.read('config.json'), new Uint8Array(await readFile(join(folder, 'config.json'))));
    assert.equal(await files.read('preprocessor_config.json'), null);
    assert.match(files.description, /c_cls_050_64_nopad/);
  });

  test('something that is neither a folder nor an id is a clear error', async () => {
    await assert.rejects(resolveModelFiles('./no/such/folder', { env: {} }), /not a folder and not a hub model id/);
    await assert.rejects(resolveModelFiles('a--b/c', { env: {} }), MobileNetV2Error);
    await assert.rejects(resolveModelFiles(join(HF_FIXTURES, 'README.md'), { env: {} }), /is a file/);
  });

  test('model id format follows huggingface_hub', () => {
    for (const id of ['google/mobilenet_v2_1.0_224', 'google/deeplabv3_mobilenet_v2_1.0_513', 'bert-base-uncased']) {
      assert.ok(isHubModelId(id), id);
    }
    for (const id of ['', 'a/b/c', '/abs', 'a/../b', 'org/-x', 'org--x/y', 'org/x.git', 'org/name!']) {
      assert.ok(!isHubModelId(id), id);
    }
  });
});

describe('hub settings from the environment', () => {
  test('HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE', async () => {
    const home = await hubSettings(
      {},
      { HF_HOME: '/h', HF_ENDPOINT: 'http://m.example/', HF_TOKEN: 't', HF_HUB_OFFLINE: 'yes' },
    );
    const limits = DEFAULT_HUB_LIMITS;
    assert.deepEqual(home, { cacheDir: '/h/hub', endpoint: 'http://m.example', token: 't', offline: true, limits });
    const cache = await hubSettings(
      {},
      { HF_HOME: '/h', HF_HUB_CACHE: '/c', HF_HUB_OFFLINE: '0', HF_TOKEN_PATH: '/none' },
    );
    assert.deepEqual(cache, { cacheDir: '/c', endpoint: 'https://huggingface.co', token: undefined, offline: false, limits });
    const given = { cacheDir: '/o', endpoint: 'http://e', token: 'x', offline: false, limits };
    assert.deepEqual(await hubSettings(given, { HF_HUB_CACHE: '/c', HF_HUB_OFFLINE: '1' }), given);
  });

  test('timeouts and caps from HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT, MOBILENET_V2_HUB_*; options win', async () => {
    const env = { HF_HUB_ETAG_TIMEOUT: '2.5', HF_HUB_DOWNLOAD_TIMEOUT: '3', MOBILENET_V2_HUB_MIN_SPEED: '0' };
    const { limits } = await hubSettings({ limits: { readTimeoutMs: 7 } }, env);
    assert.deepEqual(limits, { ...DEFAULT_HUB_LIMITS, metadataTimeoutMs: 2500, readTimeoutMs: 7, minBytesPerSecond: 0 });
    await assert.rejects(
      hubSettings({}, { HF_HUB_DOWNLOAD_TIMEOUT: 'soon' }),
      (err: MobileNetV2Error) => err.code === 'E_INVALID_ARGUMENT' && /HF_HUB_DOWNLOAD_TIMEOUT=soon/.test(err.message),
    );
    await assert.rejects(hubSettings({ limits: { maxRedirects: -1 } }, {}), /limits\.maxRedirects=-1/);
    await assert.rejects(hubSettings({}, { HF_HUB_ETAG_TIMEOUT: '1e9' }), /from 0 to 2147483\.647/); // timer limit
  });

  test('the token file written by huggingface-cli login is used', MIRROR_FIXTURES, async () => {
    const home = join(served.ws.root, 'hf-home');
    await mkdir(home, { recursive: true });
    await writeFile(join(home, 'token'), 'hf_file_token\n');
    assert.equal((await hubSettings({}, { HF_HOME: home })).token, 'hf_file_token');
  });
});

describe('static mirror', MIRROR_FIXTURES, () => {
  test('downloads a safetensors repo into the HF cache layout, with progress', async () => {
    const events: DownloadProgress[] = [];
    const options = fresh({ progress: (e) => events.push(e) });
    const files = await resolveModelFiles(CLS_REPO, options);
    const weights = await expectedBytes(CLS_REPO, 'main', 'model.safetensors');
    assert.deepEqual(await files.read('config.json'), await expectedBytes(CLS_REPO, 'main', 'config.json'));
    assert.deepEqual(await files.read('model.safetensors'), weights);
    assert.equal(new TextDecoder().decode((await files.read('preprocessor_config.json'))!), PREPROCESSOR_JSON);
    assert.equal(await files.read('tokenizer.json'), null);

    const repo = repoFolder(options.cacheDir, CLS_REPO);
    assert.equal(await readFile(join(repo, 'refs/main'), 'utf8'), 'main'); // no commit on a static mirror
    assert.equal(await readlink(join(repo, 'snapshots/main/model.safetensors')), `../../blobs/${sha256Hex(weights)}`);
    assert.ok((await readdir(join(repo, 'blobs'))).every((name) => !name.endsWith('.incomplete')));
    assert.deepEqual(await readdir(join(repo, '.no_exist/main')), ['tokenizer.json']);

    const last = events.filter((e) => e.file === 'model.safetensors').at(-1)!;
    const size = weights.byteLength;
    assert.deepEqual(last, { file: 'model.safetensors', loaded: size, total: size, done: true });
  });

  test('a cached repo is reused offline without any request, and online without a download', async () => {
    const options = fresh();
    const first = await resolveModelFiles(CLS_REPO, options);
    await first.read('model.safetensors');
    const weights = await expectedBytes(CLS_REPO, 'main', 'model.safetensors');
    for (const offline of [{ offline: true }, { env: { HF_HUB_OFFLINE: '1' } }]) {
      const requests = await requestsDuring(served.mirror, async () => {
        const files = await resolveModelFiles(CLS_REPO, { ...options, ...offline });
        assert.deepEqual(await files.read('model.safetensors'), weights);
      });
      assert.equal(requests.length, 0);
    }
    const online = await requestsDuring(served.mirror, async () => {
      await (await resolveModelFiles(CLS_REPO, options)).read('model.safetensors');
    });
    assert.deepEqual(online.map((r) => r.method), ['HEAD', 'HEAD']);
  });

  test('a repo with only pytorch_model.bin works online and offline', async () => {
    const options = fresh();
    const files = await resolveModelFiles(SEG_REPO, options);
    assert.equal(await files.read('model.safetensors'), null);
    const bin = await expectedBytes(SEG_REPO, 'main', 'pytorch_model.bin');
    assert.deepEqual(await files.read('pytorch_model.bin'), bin);
    const requests = await requestsDuring(served.mirror, async () => {
      const offline = await resolveModelFiles(SEG_REPO, { ...options, offline: true });
      assert.equal(await offline.read('model.safetensors'), null); // known absent: .no_exist marker
      assert.deepEqual(await offline.read('pytorch_model.bin'), bin);
    });
    assert.equal(requests.length, 0);
  });

  test('a revision other than main', async () => {
    const options = fresh({ revision: 'v1' });
    const requests = await requestsDuring(served.mirror, async () => {
      const files = await resolveModelFiles(CLS_REPO, options);
      assert.deepEqual(await files.read('config.json'), await expectedBytes(CLS_REPO, 'v1', 'config.json'));
      assert.match(files.description, /revision v1/);
    });
    assert.ok(requests.every((r) => r.path.startsWith(`/${CLS_REPO}/resolve/v1/`)));
    const repo = repoFolder(options.cacheDir, CLS_REPO);
    assert.deepEqual(await readdir(join(repo, 'snapshots')), ['v1']);
    await assert.rejects(resolveModelFiles(CLS_REPO, { ...options, revision: 'v2' }), /revision v2/);
  });

  test('a repo that does not exist is a clear error and leaves no cache behind', async () => {
    const options = fresh();
    await assert.rejects(
      resolveModelFiles('google/xyz', options),
      (err: Error) =>
        err instanceof MobileNetV2Error && err.message === `model google/xyz not found at ${served.mirror.url} (revision main)`,
    );
    await assert.rejects(readdir(repoFolder(options.cacheDir, 'google/xyz')), { code: 'ENOENT' });
  });

  test('a corrupt download is an error and nothing of it stays in the cache', async () => {
    const options = fresh();
    const files = await resolveModelFiles(CLS_REPO, options);
    const path = `/${CLS_REPO}/resolve/main/model.safetensors`;
    served.mirror.corrupt.add(path);
    try {
      await assert.rejects(files.read('model.safetensors'), /corrupt: sha256 is [0-9a-f]{64} but the server announced/);
    } finally {
      served.mirror.corrupt.delete(path);
    }
    const repo = repoFolder(options.cacheDir, CLS_REPO);
    const weights = await expectedBytes(CLS_REPO, 'main', 'model.safetensors');
    assert.equal((await readdir(join(repo, 'blobs'))).length, 1); // config.json's blob only
    assert.deepEqual(await readdir(join(repo, 'snapshots/main')), ['config.json']);
    // A later try downloads it again.
    const again = await resolveModelFiles(CLS_REPO, options);
    assert.deepEqual(await again.read('model.safetensors'), weights);
  });

  test('HF_HUB_OFFLINE with an empty cache names the repo, the file and offline mode', async () => {
    const options = fresh({ env: { HF_HUB_OFFLINE: '1' } });
    const requests = await requestsDuring(served.mirror, () =>
      assert.rejects(resolveModelFiles(CLS_REPO, options), (err: Error) => {
        assert.ok(err instanceof MobileNetV2Error);
        const expected = `config.json of model ${CLS_REPO} \\(revision main\\) is not in the cache .* offline mode is on`;
        assert.match(err.message, new RegExp(expected));
        return true;
      }),
    );
    assert.equal(requests.length, 0);
  });

  test('a partial download is resumed with a Range request', async () => {
    const options = fresh();
    const weights = await expectedBytes(CLS_REPO, 'main', 'model.safetensors');
    const blobs = join(repoFolder(options.cacheDir, CLS_REPO), 'blobs');
    await mkdir(blobs, { recursive: true });
    const done = 1_000_000;
    await writeFile(join(blobs, `${sha256Hex(weights)}.incomplete`), weights.subarray(0, done));
    const requests = await requestsDuring(served.mirror, async () => {
      const files = await resolveModelFiles(CLS_REPO, options);
      assert.deepEqual(await files.read('model.safetensors'), weights);
    });
    const get = requests.find((r) => r.method === 'GET' && r.path.endsWith('/model.safetensors'))!;
    assert.equal(get.headers.range, `bytes=${done}-`);
    assert.equal(get.bytes, weights.byteLength - done);
    assert.ok(!(await readdir(blobs)).some((name) => name.endsWith('.incomplete')));
  });

  test('a download cut off midway is kept and resumed by the next try', async () => {
    const options = fresh();
    const weights = await expectedBytes(CLS_REPO, 'main', 'model.safetensors');
    const path = `/${CLS_REPO}/resolve/main/model.safetensors`;
    const files = await resolveModelFiles(CLS_REPO, options);
    served.mirror.truncate.add(path);
    try {
      await assert.rejects(files.read('model.safetensors'), /interrupted after \d+ bytes .*run again to resume/);
    } finally {
      served.mirror.truncate.delete(path);
    }
    const partial = join(repoFolder(options.cacheDir, CLS_REPO), 'blobs', `${sha256Hex(weights)}.incomplete`);
    const kept = (await stat(partial)).size;
    assert.ok(kept > 0 && kept < weights.byteLength, `kept ${kept} bytes`);
    const requests = await requestsDuring(served.mirror, async () => {
      assert.deepEqual(await files.read('model.safetensors'), weights); // the same instance tries again
    });
    assert.equal(requests.find((r) => r.method === 'GET')!.headers.range, `bytes=${kept}-`);
  });

  test('an unreachable endpoint falls back to the cache, and says so when the file is not cached', async () => {
    const options = fresh();
    await (await resolveModelFiles(SEG_REPO, options)).read('pytorch_model.bin');
    const down = { ...options, endpoint: 'http://127.0.0.1:9' }; // discard port: nothing listens
    const files = await resolveModelFiles(SEG_REPO, down);
    assert.deepEqual(await files.read('pytorch_model.bin'), await expectedBytes(SEG_REPO, 'main', 'pytorch_model.bin'));
    await assert.rejects(resolveModelFiles(CLS_REPO, down), /not in the cache .* cannot be reached/);
  });
});

describe('hub-like server (commit ids, CDN redirect, token)', MIRROR_FIXTURES, () => {
  let hub: Mirror;
  before(async () => {
    hub = await startMirror(served.ws.tree, { hub: true });
  });
  after(() => hub.close());

  test('files land under the commit, verified, and the token stays on the hub', async () => {
    const options = { ...fresh(), endpoint: hub.url, token: 'hf_secret' };
    const requests = await requestsDuring(hub, async () => {
      const files = await resolveModelFiles(SEG_REPO, options);
      assert.equal(await files.read('model.safetensors'), null);
      const bin = await expectedBytes(SEG_REPO, 'main', 'pytorch_model.bin');
      assert.deepEqual(await files.read('pytorch_model.bin'), bin);
    });
    const commit = commitOf('main');
    const repo = repoFolder(options.cacheDir, SEG_REPO);
    assert.equal(await readFile(join(repo, 'refs/main'), 'utf8'), commit);
    assert.deepEqual((await readdir(join(repo, 'snapshots', commit))).sort(), ['config.json', 'pytorch_model.bin']);
    const config = await expectedBytes(SEG_REPO, 'main', 'config.json');
    assert.equal(await readlink(join(repo, 'snapshots', commit, 'config.json')), `../../blobs/${gitBlobSha1(config)}`);
    assert.deepEqual(await readdir(join(repo, '.no_exist', commit)), ['model.safetensors']);

    const cdn = requests.filter((r) => r.server === 'cdn');
    assert.equal(cdn.length, 1);
    assert.equal(cdn[0]!.headers.authorization, undefined);
    assert.ok(requests.filter((r) => r.server === 'hub').every((r) => r.headers.authorization === 'Bearer hf_secret'));
  });

  test('the hub error codes give precise messages', async () => {
    await assert.rejects(
      resolveModelFiles('google/xyz', { ...fresh(), endpoint: hub.url }),
      /model google\/xyz not found .*HF_TOKEN/,
    );
    await assert.rejects(
      resolveModelFiles(CLS_REPO, { ...fresh(), endpoint: hub.url, revision: 'v9' }),
      /revision v9 not found for model google\/cls-tiny/,
    );
  });
});
