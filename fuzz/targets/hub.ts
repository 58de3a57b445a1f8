/**
 * The Node hub client (HubFiles) against a hostile server: scripted statuses, headers
 * (x-repo-commit, etag, content-length, x-linked-size, location, …) and bodies. Besides the
 * error type, checks that nothing is written outside the temp cache folder, no cache link points
 * out of it, and the token never goes to another origin.
 */
import { lstat, mkdir, mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import fc from 'fast-check';
import { HubFiles } from '../../src/hub/hub_files_node.js';
import { DEFAULT_HUB_LIMITS, type HubLimits } from '../../src/hub/hub_limits.js';
import { startHostileServer, type HostileServer, type Reply } from '../hostile_server.js';
import { fixture, HarnessFinding, type Target } from '../target.js';

/** Tiny limits, so a stalling scenario fails in well under the watchdog's 5 s. */
const FUZZ_LIMITS: HubLimits = { ...DEFAULT_HUB_LIMITS, metadataTimeoutMs: 500, readTimeoutMs: 500, speedWindowMs: 1000, minBytesPerSecond: 64 };

const TOKEN = 'hf_fuzzsecret';

/** Header lines a hub sends, with good, odd and hostile values. */
const HEADERS: Record<string, string[]> = {
  'X-Repo-Commit': ['0123456789abcdef0123456789abcdef01234567', '../../../escape', '../../../../../escape', '{ROOT}/escape', 'main', '', '..', 'a'.repeat(300)],
  ETag: ['"{SHA256}"', 'W/"{SHA256}"', '"{SHA1}"', '"abc-1"', '"../../x"', '""', `"${'f'.repeat(64)}"`, '"{ROOT}/escape"'],
  'X-Linked-Etag': ['"{SHA256}"', `"${'0'.repeat(64)}"`, '"../x"'],
  'Content-Length': ['{LEN}', '0', '-1', '1', '{LEN+1}', '99999999999999999999', 'abc'],
  'X-Linked-Size': ['{LEN}', '0', '-1', '{LEN+1}', '9007199254740993', '1e3', 'abc'],
  'Content-Range': ['bytes 0-0/{LEN}', 'bytes 5-1/3', 'bytes */-1', 'bytes 0-1/9007199254740993'],
  Location: ['{SELF}/fuzz/repo/resolve/main/config.json', '{OTHER}/cdn/blob', '/loop', 'http://[::1', 'file:///etc/passwd', '//localhost/x', ''],
  'X-Error-Code': ['EntryNotFound', 'RepoNotFound', 'RevisionNotFound', 'GatedRepo', 'x'],
  'Content-Encoding': ['gzip', 'br'],
  'Transfer-Encoding': ['chunked'],
};

const header = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...Object.entries(HEADERS).flatMap(([k, vs]) => vs.map((v) => [k, v] as const))) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...Object.keys(HEADERS)), fc.string({ maxLength: 40 })) },
);

const reply: fc.Arbitrary<Reply> = fc.record({
  status: fc.oneof(fc.constantFrom(200, 200, 206, 301, 302, 307, 308, 304, 400, 401, 403, 404, 416, 429, 500, 503), fc.integer({ min: 100, max: 599 })),
  headers: fc.array(header, { maxLength: 7 }),
  body: fc.constantFrom('full' as const, 'truncated' as const, 'overlong' as const, 'drip' as const, 'empty' as const),
  content: fc.nat(2),
});

/** One hub session: replies to script, a random file, and rounds of reads (online or offline). */
interface Scenario {
  readonly replies: Reply[];
  readonly random: number[];
  readonly offline: boolean[];
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  replies: fc.array(reply, { minLength: 1, maxLength: 6 }),
  random: fc.array(fc.nat(255), { maxLength: 2048 }),
  offline: fc.array(fc.boolean(), { minLength: 1, maxLength: 2 }),
});

/** Every path under `dir` (links not followed). */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    out.push(path);
    if (entry.isDirectory()) out.push(...(await walk(path)));
  }
  return out;
}

const inside = (path: string, dir: string) => !relative(dir, path).startsWith('..') && !relative(dir, path).startsWith('/');

/** Throws a finding for anything outside `cache` under `root`, or a link from the cache leading out. */
async function checkContainment(root: string, cache: string): Promise<void> {
  for (const path of await walk(root)) {
    if (!inside(path, cache) && !inside(cache, path)) throw new HarnessFinding(`wrote outside the cache: ${relative(root, path)}`);
    if ((await lstat(path)).isSymbolicLink()) {
      const target = resolve(dirname(path), await readlink(path));
      if (!inside(target, cache)) throw new HarnessFinding(`cache link ${relative(root, path)} points outside the cache: ${target}`);
    }
  }
}

let server: HostileServer | undefined;
let contents: Uint8Array[] = [];

export const hub: Target = {
  name: 'hub',
  description: 'HubFiles reading config.json and model.safetensors from a hostile server on 127.0.0.1, online then offline',
  async inputs() {
    server = await startHostileServer(TOKEN);
    contents = [fixture('hf/c_cls_050_64_nopad/config_saved.json'), fixture('hf/h3_cls_025_nolabels0/outputs.safetensors')];
    return scenario.map((s) => new TextEncoder().encode(JSON.stringify(s)));
  },
  async run(input) {
    const s = JSON.parse(new TextDecoder().decode(input)) as Scenario;
    if (!server) throw new Error('hub target: inputs() starts the server before the first run');
    const root = await mkdtemp(join(tmpdir(), 'fuzz-hub-'));
    const cacheDir = join(root, 'a', 'b', 'cache');
    await mkdir(cacheDir, { recursive: true });
    server.script(s.replies, [...contents, Uint8Array.from(s.random)], root);
    try {
      for (const offline of s.offline) {
        const files = new HubFiles({ repoId: 'fuzz/repo', revision: 'main', cacheDir, endpoint: server.url, token: TOKEN, offline, onProgress: undefined, limits: FUZZ_LIMITS });
        // Containment and token leaks are checked whether or not the reads failed.
        const reads = files.read('config.json').then(() => files.read('model.safetensors'));
        const outcome = await reads.then(() => null, (err: unknown) => ({ err }));
        await checkContainment(root, cacheDir);
        if (server.violations.length) throw new HarnessFinding(server.violations[0]!.what);
        if (outcome) throw outcome.err;
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
};
