/**
 * Model files in the browser: a hub repo fetched from `{endpoint}/{repo}/resolve/{revision}/{file}`
 * (the hub or a static mirror), or a folder at a plain URL such as the page's own `./models/x`,
 * kept in the Cache Storage API, so a page loads a model from the network once. No Node APIs here.
 *
 * Cached entries are served without asking the network again, also for a branch such as `main`:
 * pin a commit as the revision for reproducible loads, or delete the cache (`caches.delete(name)`)
 * to pick up a moved branch.
 */
import { MobileNetV2Error } from '../errors.js';
import {
  checkNotHtml,
  checkRepoPath,
  corruptDownloadError,
  DEFAULT_ENDPOINT,
  DEFAULT_REVISION,
  describeRepo,
  expectedDigest,
  fileMetadata,
  gitBlobHeader,
  hubResponseError,
  isHubModelId,
  isMissingEntry,
  modelNotFoundError,
  resolveUrl,
} from './hub_common.js';
import { DEFAULT_HUB_LIMITS, isMetadataFile } from './hub_limits.js';
import type { DownloadProgressCallback, ModelFiles } from './model_files.js';

/** How the browser file sources fetch and cache (shared by {@link BrowserHubFiles} and {@link BrowserUrlFiles}). */
export interface BrowserFetchOptions {
  /** Bearer token for private or gated models (it is visible to the page's scripts). */
  readonly token?: string;
  /** Answer from the Cache Storage only. */
  readonly offline?: boolean;
  /** Cache Storage bucket; default `mobilenet-v2-hub`. */
  readonly cacheName?: string;
  /** Download progress receiver. */
  readonly onProgress?: DownloadProgressCallback;
  /** fetch to use (a proxy or a test double); default the global one. */
  readonly fetch?: typeof fetch;
  /** Most bytes accepted for a `.json`/`.txt` file sent without any length; default 8 MiB. */
  readonly maxUnsizedBytes?: number;
}

/** Options of {@link BrowserHubFiles}. */
export interface BrowserHubFilesOptions extends BrowserFetchOptions {
  /** Branch, tag or commit; default `main`. */
  readonly revision?: string;
  /** Hub or mirror base URL; default https://huggingface.co. */
  readonly endpoint?: string;
}

/** Turns an HTTP failure (status and the hub's `X-Error-Code`) into the error to throw. */
type FailureMessage = (status: number, errorCode: string | null) => MobileNetV2Error;

/** Status stored in the cache for a file the repo does not have, so offline loads know it. */
const ABSENT_STATUS = 404;

/** A hub repo as {@link ModelFiles} in a browser, cached in the Cache Storage API. */
export class BrowserHubFiles implements ModelFiles {
  readonly description: string;
  readonly #repoId: string;
  readonly #revision: string;
  readonly #endpoint: string;
  readonly #options: BrowserHubFilesOptions;

  /** Files of hub model `repoId`; nothing is fetched before the first read. */
  constructor(repoId: string, options: BrowserHubFilesOptions = {}) {
    if (!isHubModelId(repoId)) {
      throw new MobileNetV2Error(`"${repoId}" is not a hub model id (like google/mobilenet_v2_1.0_224)`);
    }
    this.#repoId = repoId;
    this.#revision = options.revision ?? DEFAULT_REVISION;
    checkRepoPath(this.#revision, 'revision');
    this.#endpoint = (options.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
    this.#options = options;
    this.description = `model ${describeRepo(repoId, this.#revision, this.#endpoint)}`;
  }

  /** The error for this model lacking a `config.json`, i.e. not existing. */
  notFound(): MobileNetV2Error {
    return modelNotFoundError(this.#repoId, this.#revision, this.#endpoint);
  }

  async read(name: string): Promise<Uint8Array | null> {
    checkRepoPath(name, 'file name');
    const url = resolveUrl(this.#endpoint, this.#repoId, this.#revision, name);
    return readThroughCache(url, name, this.description, this.#options, (status, errorCode) =>
      hubResponseError(status, errorCode, this.#repoId, this.#revision, this.#endpoint, name),
    );
  }
}

/**
 * Model files under a plain URL, `{base}/{file}`: a folder served with a page (relative bases such
 * as `./models/x` are taken against the page's address) or any static server. Cached in the Cache
 * Storage API like {@link BrowserHubFiles}, with the same rule: cached files are served without
 * asking the network again.
 */
export class BrowserUrlFiles implements ModelFiles {
  readonly description: string;
  /** Absolute base URL ending in `/`. */
  readonly #base: string;
  readonly #options: BrowserFetchOptions;

  /** Files under `base` (absolute, or relative to the page); nothing is fetched before the first read. */
  constructor(base: string, options: BrowserFetchOptions = {}) {
    let url: URL;
    try {
      url = new URL(base.replace(/\/*$/, '/'), globalThis.location?.href);
    } catch {
      throw new MobileNetV2Error(`"${base}" is not a valid URL (and there is no page address to resolve it against)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new MobileNetV2Error(`model URL ${url.href} must be http(s), not ${url.protocol}`);
    }
    this.#base = url.href;
    this.#options = options;
    this.description = url.href.slice(0, -1);
  }

  async read(name: string): Promise<Uint8Array | null> {
    checkRepoPath(name, 'file name');
    const url = this.#base + name.split('/').map(encodeURIComponent).join('/');
    return readThroughCache(url, name, this.description, this.#options, (status) =>
      new MobileNetV2Error(`downloading ${url} failed: HTTP ${status}`),
    );
  }
}

/**
 * Reads `url` through the Cache Storage: a cached copy (or remembered absence) is served without a
 * request; otherwise the file is downloaded, verified and stored.
 */
async function readThroughCache(
  url: string,
  name: string,
  description: string,
  options: BrowserFetchOptions,
  failure: FailureMessage,
): Promise<Uint8Array | null> {
  // Cache Storage exists only in secure contexts; elsewhere every read goes to the network.
  const cacheName = options.cacheName ?? 'mobilenet-v2-hub';
  const cache = typeof caches === 'undefined' ? undefined : await caches.open(cacheName);
  const cached = await cache?.match(url);
  if (cached !== undefined) {
    return cached.status === ABSENT_STATUS ? null : new Uint8Array(await cached.arrayBuffer());
  }
  if (options.offline) {
    throw new MobileNetV2Error(`${name} of ${description} is not in the browser cache and offline mode is on`);
  }
  const bytes = await download(url, name, options, failure);
  await cache?.put(url, bytes === null ? new Response(null, { status: ABSENT_STATUS }) : new Response(bytes));
  return bytes;
}

/** Fetches and verifies one file; `null` when the server says it does not have it. */
async function download(
  url: string,
  name: string,
  options: BrowserFetchOptions,
  failure: FailureMessage,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const { token, onProgress } = options;
  let response: Response;
  try {
    const headers: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` };
    response = await (options.fetch ?? fetch)(url, { headers });
  } catch (err) {
    throw new MobileNetV2Error(`cannot download ${url}: ${(err as Error).message}`, {
      code: 'E_HUB_UNREACHABLE',
      cause: err,
    });
  }
  const errorCode = response.headers.get('x-error-code');
  if (isMissingEntry(response.status, errorCode)) return null;
  if (!response.ok) throw failure(response.status, errorCode);
  let meta: AnswerMetadata;
  try {
    meta = answerMetadata(response.headers, name, url, options);
  } catch (err) {
    await response.body?.cancel();
    throw err;
  }
  const bytes = await readBody(response, meta.cap, url, (loaded, done) =>
    onProgress?.({ file: name, loaded, total: meta.total, done }),
  );
  await verify(bytes, meta.etag, meta.exact, url);
  return bytes;
}

/** What a file's answer promises: see {@link answerMetadata}. */
interface AnswerMetadata {
  readonly etag: string | undefined;
  /** The exact size, when the hub's X-Linked-Size is visible. */
  readonly exact: number | undefined;
  /** The size to report as progress total. */
  readonly total: number | undefined;
  /** Most bytes to accept. */
  readonly cap: number;
}

/**
 * The answer's ETag and size, validated (see `fileMetadata`). Browsers decode gzip without saying so (Content-Encoding
 * is hidden cross-origin), so Content-Length is only a progress estimate; the hub's X-Linked-Size
 * is exact when visible, and the body is cut off past it. A weight file must announce one of the
 * two; a metadata file without either is capped at `maxUnsizedBytes`.
 */
function answerMetadata(headers: Headers, name: string, url: string, options: BrowserFetchOptions): AnswerMetadata {
  checkNotHtml(headers, name, url);
  const meta = fileMetadata(headers, url);
  const exact = headers.get('x-linked-size') === null ? undefined : meta.size;
  const total = meta.size;
  if (total === undefined && !isMetadataFile(name)) {
    throw new MobileNetV2Error(`download of ${url} refused: the server announced no size for this weight file`, {
      code: 'E_HUB_RESPONSE',
    });
  }
  const cap = exact ?? (total === undefined ? options.maxUnsizedBytes ?? DEFAULT_HUB_LIMITS.maxUnsizedBytes : Infinity);
  return { etag: meta.etag, exact, total, cap };
}

/**
 * The files of hub model `repoId` in the browser, checking that it exists (its `config.json` is
 * fetched and cached) so a wrong id fails here with a clear MobileNetV2Error.
 */
export async function browserModelFiles(repoId: string, options: BrowserHubFilesOptions = {}): Promise<ModelFiles> {
  const files = new BrowserHubFiles(repoId, options);
  if ((await files.read('config.json')) === null) throw files.notFound();
  return files;
}

/** Reads a whole body of at most `cap` bytes, reporting the bytes received so far. */
async function readBody(
  response: Response,
  cap: number,
  url: string,
  report: (loaded: number, done: boolean) => void,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  report(0, false);
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > cap) {
      await reader.cancel();
      throw new MobileNetV2Error(`download of ${url} stopped: the server sent more than ${cap} bytes; nothing was kept`, {
        code: 'E_HUB_RESPONSE',
      });
    }
    chunks.push(value);
    loaded += value.byteLength;
    report(loaded, false);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  report(loaded, true);
  return bytes;
}

/**
 * Checks the size and, when the ETag is a content hash, the digest. After a redirect to a CDN the
 * browser only shows the CDN's headers, so this checks what can be seen.
 */
async function verify(
  bytes: Uint8Array<ArrayBuffer>,
  etag: string | undefined,
  size: number | undefined,
  url: string,
): Promise<void> {
  if (size !== undefined && size !== bytes.byteLength) {
    throw corruptDownloadError(url, `${bytes.byteLength} bytes arrived but the server announced ${size}`);
  }
  const expected = expectedDigest(etag);
  if (expected === undefined) return;
  const input = expected.algorithm === 'sha256' ? bytes : concat(gitBlobHeader(bytes.byteLength), bytes);
  const algorithm = expected.algorithm === 'sha256' ? 'SHA-256' : 'SHA-1';
  const digest = new Uint8Array(await crypto.subtle.digest(algorithm, input));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  if (hex !== expected.hex) {
    throw corruptDownloadError(url, `${expected.algorithm} is ${hex} but the server announced ${expected.hex}`);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
