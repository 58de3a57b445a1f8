/**
 * A hub mirror for tests: fixture repos laid out as `{repo}/resolve/{revision}/{file}` in a temp
 * folder, served by node:http on 127.0.0.1. By default it behaves like a plain static file server
 * (Range requests, ETag = sha256 for weight files, an mtime-size tag otherwise); with `hub: true`
 * it adds what huggingface.co sends: X-Repo-Commit, X-Error-Code, git-sha1 ETags for small files,
 * and a redirect of weight files to a second server (another origin, like the hub's CDN) with
 * X-Linked-Etag / X-Linked-Size on the redirect.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import { HF_FIXTURES, requireFixtures } from './helpers.js';

/** The classification repo: model.safetensors, at revisions `main` and `v1`. */
export const CLS_REPO = 'google/cls-tiny';
/** The segmentation repo: only pytorch_model.bin, like google/deeplabv3_mobilenet_v2_1.0_513. */
export const SEG_REPO = 'google/seg-tiny';
/** A small preprocessor_config.json served by the classification repo at `main`. */
export const PREPROCESSOR_JSON = '{"crop_size": {"height": 64, "width": 64}, "do_resize": true}\n';

/** Source of each served file: `{repo}/{revision}/{file}` → fixture path or literal text. */
const TREE: Record<string, string | { text: string }> = {
  [`${CLS_REPO}/main/config.json`]: join(HF_FIXTURES, 'c_cls_050_64_nopad/config_saved.json'),
  [`${CLS_REPO}/main/model.safetensors`]: join(HF_FIXTURES, 'c_cls_050_64_nopad/model.safetensors'),
  [`${CLS_REPO}/main/preprocessor_config.json`]: { text: PREPROCESSOR_JSON },
  [`${CLS_REPO}/v1/config.json`]: join(HF_FIXTURES, 'c_cls_050_64_nopad/config.json'),
  [`${CLS_REPO}/v1/model.safetensors`]: join(HF_FIXTURES, 'c_cls_050_64_nopad/model.safetensors'),
  [`${SEG_REPO}/main/config.json`]: join(HF_FIXTURES, 'f_seg_035_os8_65/config_saved.json'),
  [`${SEG_REPO}/main/pytorch_model.bin`]: join(HF_FIXTURES, 'f_seg_035_os8_65/pytorch_model.bin'),
};

/** Test options skipping the tests that need the mirror when its shared fixture files are missing. */
export const MIRROR_FIXTURES = requireFixtures(...Object.values(TREE).filter((s) => typeof s === 'string'));

/** Builds the mirror tree under `root`: `{root}/{repo}/resolve/{revision}/{file}`. */
export async function buildMirrorTree(root: string): Promise<void> {
  for (const [key, source] of Object.entries(TREE)) {
    const [org, name, revision, file] = key.split('/') as [string, string, string, string];
    const target = join(root, org, name, 'resolve', revision, file);
    await mkdir(dirname(target), { recursive: true });
    if (typeof source === 'string') await copyFile(source, target);
    else await writeFile(target, source.text);
  }
}

/** The bytes a fixture repo serves for `file` at `revision` (what a client must end up with). */
export async function expectedBytes(repo: string, revision: string, file: string): Promise<Uint8Array> {
  const source = TREE[`${repo}/${revision}/${file}`];
  if (source === undefined) throw new Error(`no fixture ${repo}/${revision}/${file}`);
  return typeof source === 'string' ? new Uint8Array(await readFile(source)) : new TextEncoder().encode(source.text);
}

/** One request the mirror received. */
export interface MirrorRequest {
  readonly server: 'hub' | 'cdn';
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  /** Body bytes sent back. */
  bytes: number;
}

/** A running mirror. */
export interface Mirror {
  /** Base URL (the endpoint), `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: MirrorRequest[];
  /** URL paths (`/{repo}/resolve/{revision}/{file}`) served with one byte flipped, ETag unchanged. */
  readonly corrupt: Set<string>;
  /** URL paths whose GET sends half the body and then drops the connection. */
  readonly truncate: Set<string>;
  /** Stops both servers. */
  close(): Promise<void>;
}

/** Options of {@link startMirror}. */
export interface MirrorOptions {
  /** Behave like huggingface.co rather than a plain static server. */
  readonly hub?: boolean;
}

/** The commit a hub-mode mirror reports for `revision`. */
export function commitOf(revision: string): string {
  return createHash('sha1').update(`commit ${revision}`).digest('hex');
}

/** Git's blob id of `bytes`, the hub's ETag for small files. */
export function gitBlobSha1(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
}

/** sha256 hex of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Serves the mirror tree at `root` (see the module comment). */
export async function startMirror(root: string, options: MirrorOptions = {}): Promise<Mirror> {
  const requests: MirrorRequest[] = [];
  const corrupt = new Set<string>();
  const truncate = new Set<string>();
  const cdn = await listen(async (req, res) => {
    const record = log(requests, 'cdn', req);
    const path = /^\/cdn\/[0-9a-f]{64}(\/.+)$/.exec(decodeURIComponent(req.url ?? ''))?.[1];
    const bytes = path === undefined || path.includes('..') ? null : await readOrNull(join(root, path));
    if (bytes === null) return void res.writeHead(404).end();
    send(bytes, `"cdn-${sha256Hex(bytes).slice(0, 8)}"`, req, res, record, {});
  });
  const cdnUrl = origin(cdn);
  const hub = await listen(async (req, res) => {
    const record = log(requests, 'hub', req);
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const match = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const bytes = match === null || path.includes('..') ? null : await readOrNull(join(root, path));
    const headers: Record<string, string> = {};
    if (options.hub && match) headers['X-Repo-Commit'] = commitOf(match[2]!);
    if (bytes === null) {
      if (options.hub && match) headers['X-Error-Code'] = await hubErrorCode(join(root, match[1]!), match[2]!);
      return void res.writeHead(404, headers).end();
    }
    const lfs = /\.(safetensors|bin)$/.test(path);
    if (options.hub && lfs) {
      headers['Location'] = `${cdnUrl}/cdn/${sha256Hex(bytes)}${encodeURI(path)}`;
      headers['X-Linked-Etag'] = `"${sha256Hex(bytes)}"`;
      headers['X-Linked-Size'] = String(bytes.byteLength);
      return void res.writeHead(302, headers).end();
    }
    const mtime = Math.floor((await stat(join(root, path))).mtimeMs);
    const staticTag = `${mtime.toString(16)}-${bytes.byteLength.toString(16)}`; // nginx's form
    const etag = lfs ? sha256Hex(bytes) : options.hub ? gitBlobSha1(bytes) : staticTag;
    send(corrupt.has(path) ? flipped(bytes) : bytes, `"${etag}"`, req, res, record, headers, truncate.has(path));
  });
  return {
    url: origin(hub),
    requests,
    corrupt,
    truncate,
    close: async () => {
      await Promise.all([hub, cdn].map((s) => new Promise((done) => s.close(done))));
    },
  };
}

/** The hub's X-Error-Code for a missing file of `repoFolder` at `revision`. */
async function hubErrorCode(repoFolder: string, revision: string): Promise<string> {
  if (!(await isFolder(repoFolder))) return 'RepoNotFound';
  return (await isFolder(join(repoFolder, 'resolve', revision))) ? 'EntryNotFound' : 'RevisionNotFound';
}

/** `bytes` with one byte changed. */
function flipped(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  copy[copy.length >> 1]! ^= 0xff;
  return copy;
}

/**
 * Sends `bytes` with an ETag, honouring `Range: bytes=N-` and `If-Range`, like a static server;
 * `cut` sends half the body and drops the connection.
 */
function send(
  bytes: Uint8Array,
  etag: string,
  req: IncomingMessage,
  res: ServerResponse,
  record: MirrorRequest,
  headers: Record<string, string>,
  cut = false,
): void {
  const size = bytes.byteLength;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  let start = 0;
  if (range && (ifRange === undefined || ifRange === etag)) {
    start = Number(range[1]);
    if (start >= size) return void res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` }).end();
    headers['Content-Range'] = `bytes ${start}-${size - 1}/${size}`;
  }
  const body = bytes.subarray(start);
  res.writeHead(start > 0 ? 206 : 200, {
    ...headers,
    ETag: etag,
    'Content-Length': String(body.byteLength),
    'Accept-Ranges': 'bytes',
  });
  if (req.method === 'HEAD') return void res.end();
  if (cut) {
    record.bytes = body.byteLength >> 1;
    res.write(body.subarray(0, record.bytes), () => res.destroy());
    return;
  }
  record.bytes = body.byteLength;
  res.end(body);
}

/** A temp folder holding a mirror tree and an empty hub cache, removed by `cleanup`. */
export interface MirrorWorkspace {
  readonly root: string;
  readonly tree: string;
  readonly cacheDir: string;
  cleanup(): Promise<void>;
}

/**
 * A mirror workspace and a plain static mirror serving it, for the enclosing tests: started before
 * them, stopped and removed after. Read `ws` and `mirror` inside tests, once the hook has run.
 */
export function useMirror(): { readonly ws: MirrorWorkspace; readonly mirror: Mirror } {
  const state = {} as { ws: MirrorWorkspace; mirror: Mirror };
  if (MIRROR_FIXTURES.skip) return state; // every test using it is skipped
  before(async () => {
    state.ws = await mirrorWorkspace();
    state.mirror = await startMirror(state.ws.tree);
  });
  after(async () => {
    await state.mirror.close();
    await state.ws.cleanup();
  });
  return state;
}

/** Creates a temp folder with a built mirror tree and an empty cache folder. */
export async function mirrorWorkspace(): Promise<MirrorWorkspace> {
  const root = await mkdtemp(join(tmpdir(), 'mnv2-hub-'));
  const tree = join(root, 'mirror');
  await buildMirrorTree(tree);
  return { root, tree, cacheDir: join(root, 'cache'), cleanup: () => rm(root, { recursive: true, force: true }) };
}

function log(requests: MirrorRequest[], server: 'hub' | 'cdn', req: IncomingMessage): MirrorRequest {
  const record = { server, method: req.method ?? '', path: req.url ?? '', headers: req.headers, bytes: 0 };
  requests.push(record);
  return record;
}

/** An HTTP server on 127.0.0.1 (a free port) answering with `handler`; a handler that throws answers 500. */
export function listen(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void): Promise<Server> {
  const server = createServer((req, res) => {
    void Promise.resolve(handler(req, res)).catch(() => res.writeHead(500).end());
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

/** `http://127.0.0.1:<port>` of a listening server. */
export function origin(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The file's bytes, `null` when absent. */
async function readOrNull(path: string): Promise<Uint8Array | null> {
  try {
    return new Uint8Array(await readFile(path));
  } catch {
    return null;
  }
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
