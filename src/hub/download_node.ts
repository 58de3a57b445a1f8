/**
 * HTTP side of the Node hub client: a HEAD request for a file's metadata, and a resumable,
 * verified download into a `.incomplete` file.
 *
 * Why not @huggingface/hub's downloadFileToCacheDir (v2.17): it asks the hub API
 * (`/api/models/<repo>/paths-info/<revision>`) for each file's etag and commit, which a static
 * mirror (`{repo}/resolve/{revision}/{file}` only) does not have; it does not resume an
 * interrupted `.incomplete` download, does not check size or hash, and has no offline mode. The
 * parts needed here are small, so they are written on global fetch, keeping huggingface_hub's
 * cache layout (see hf_cache_node.ts) and header conventions.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { quote } from '../describe.js';
import { MobileNetV2Error } from '../errors.js';
import { fsStep } from './fs_errors_node.js';
import { byteCount, checkNotHtml, corruptDownloadError, expectedDigest, gitBlobHeader, type FileMetadata } from './hub_common.js';
import { isMetadataFile, LIMIT_VARIABLES, type HubLimits } from './hub_limits.js';
import { limitHit, Pace, readWithin } from './pace.js';
import type { DownloadProgressCallback } from './model_files.js';

/** Headers for every request: compressed answers would not match Content-Length or the hash. */
const BASE_HEADERS = { 'Accept-Encoding': 'identity' };

/** The answer to a HEAD request, after same-origin redirects. */
export interface Probe {
  /** The last answer: the file itself, a cross-origin redirect (CDN), or an error status. */
  readonly response: Response;
  /** Where the bytes are: the redirect target when the file lives on a CDN, else the probed URL. */
  readonly downloadUrl: string;
}

/**
 * HEADs `url`, following same-origin redirects (like huggingface_hub) but stopping at a
 * cross-origin one: the hub puts the LFS metadata (`X-Linked-Etag`, `X-Linked-Size`,
 * `X-Repo-Commit`) on that redirect, and the CDN's own headers describe something else. All of it
 * must finish within `limits.metadataTimeoutMs`; a network failure or timeout is an
 * E_HUB_UNREACHABLE error.
 */
export async function probe(url: string, headers: Record<string, string>, limits: HubLimits): Promise<Probe> {
  const signal = AbortSignal.timeout(limits.metadataTimeoutMs);
  let current = url;
  for (let hop = 0; hop <= limits.maxRedirects; hop++) {
    let response: Response;
    try {
      response = await fetch(current, { method: 'HEAD', headers: { ...BASE_HEADERS, ...headers }, redirect: 'manual', signal });
    } catch (err) {
      const why = signal.aborted ? limitHit(limits, 'metadataTimeoutMs', 'no answer') : causeOf(err);
      throw new MobileNetV2Error(`${current} cannot be reached: ${why}`, { code: 'E_HUB_UNREACHABLE', cause: err });
    }
    const next = redirectTarget(response, current);
    if (next === undefined) return { response, downloadUrl: current };
    if (next.origin !== new URL(current).origin) return { response, downloadUrl: next.href };
    current = next.href;
  }
  throw tooManyRedirects(url, limits);
}

/** Where a redirect answer points, `undefined` for any other answer; only http(s) targets are followed. */
function redirectTarget(response: Response, from: string): URL | undefined {
  const location = response.headers.get('location');
  if (response.status < 300 || response.status >= 400 || location === null) return undefined;
  const target = URL.canParse(location, from) ? new URL(location, from) : undefined;
  if (target === undefined || (target.protocol !== 'http:' && target.protocol !== 'https:')) {
    throw new MobileNetV2Error(`${from} redirects to ${quote(location)}, not an http(s) URL`, {
      code: 'E_HUB_RESPONSE',
    });
  }
  return target;
}

function tooManyRedirects(url: string, limits: HubLimits): MobileNetV2Error {
  return new MobileNetV2Error(`${url} redirects more than ${limits.maxRedirects} times`, { code: 'E_HUB_RESPONSE' });
}

/** A download to run by {@link download}. */
export interface DownloadRequest {
  /** Where the bytes are. */
  readonly url: string;
  /** Extra request headers (authorization, only when `url` is on the endpoint's origin). */
  readonly headers: Record<string, string>;
  /** The `.incomplete` file: continued when it exists, left in place if the transfer breaks. */
  readonly partial: string;
  /** What the HEAD request said about the file (size and ETag to verify against). */
  readonly meta: FileMetadata;
  /** Validator for `If-Range`, so a file that changed since the partial download restarts. */
  readonly ifRange: string | undefined;
  /** The name reported to `onProgress`. */
  readonly file: string;
  /** Progress receiver. */
  readonly onProgress: DownloadProgressCallback | undefined;
  /** Timeouts, least speed and size caps. */
  readonly limits: HubLimits;
}

/**
 * Downloads `req.url` into `req.partial`, continuing an earlier partial download with a Range
 * request, then verifies the size and, when the ETag is a content hash, the digest. Returns the
 * sha256 of the verified file. A transfer that breaks or is too slow keeps the partial file for
 * the next try (E_HUB_UNREACHABLE); a file that fails verification, or grows past its announced
 * size, is deleted (E_HUB_RESPONSE).
 */
export async function download(req: DownloadRequest): Promise<string> {
  const offset = await sizeOf(req.partial);
  const response = await fetchBody(req, offset);
  const start = response.status === 206 ? offset : 0;
  let size: number | undefined;
  try {
    checkNotHtml(response.headers, req.file, req.url);
    checkNotEncoded(response.headers, req.url);
    size = announcedSize(req, response, start);
  } catch (err) {
    await response.body?.cancel();
    throw err;
  }
  await receive(req, response, start, size);
  return verify(req, size);
}

/**
 * Refuses a body the server compressed although the request asked for none (`Accept-Encoding:
 * identity`): its length and digest could not be checked against the metadata, and Node's fetch
 * never ends a broken compressed body cut off by a closed connection, so the download would wait
 * out the whole read timeout instead of failing at once.
 */
function checkNotEncoded(headers: Headers, url: string): void {
  const encoding = headers.get('content-encoding');
  if (encoding === null || /^\s*(identity)?\s*$/i.test(encoding)) return;
  throw new MobileNetV2Error(`the server answered ${url} with Content-Encoding ${quote(encoding)} though it was asked for none; refused`, {
    code: 'E_HUB_RESPONSE',
  });
}

/** Size of `path`, 0 when it does not exist. */
async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/**
 * GETs the file, from `offset` when a partial download exists. A server that ignores the Range
 * (200), or answers for another range, or finds the range unsatisfiable (416: the partial file is
 * not a prefix of the current one), is asked again for the whole file.
 */
async function fetchBody(req: DownloadRequest, offset: number): Promise<Response> {
  const headers: Record<string, string> = { ...BASE_HEADERS, ...req.headers };
  if (offset > 0) {
    headers['Range'] = `bytes=${offset}-`;
    if (req.ifRange !== undefined) headers['If-Range'] = req.ifRange;
  }
  const response = await get(req.url, headers, req.limits);
  const start = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
  if (response.status === 200 || (response.status === 206 && Number(start) === offset)) return response;
  await response.body?.cancel();
  if (offset > 0 && (response.status === 206 || response.status === 416)) {
    await rm(req.partial, { force: true });
    return fetchBody(req, 0);
  }
  throw new MobileNetV2Error(`downloading ${req.url} failed: HTTP ${response.status}`, { code: 'E_HUB_RESPONSE' });
}

/**
 * GET following at most `limits.maxRedirects` http(s) redirects (dropping the token on a
 * cross-origin one), with a network failure turned into a clear error. The timeout covers only
 * the wait for the response headers (a signal would also cut a long body short); the body has its
 * own pace checks.
 */
async function get(url: string, headers: Record<string, string>, limits: HubLimits): Promise<Response> {
  let current = url;
  let sent = headers;
  for (let hop = 0; hop <= limits.maxRedirects; hop++) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), limits.readTimeoutMs);
    let response: Response;
    try {
      response = await fetch(current, { headers: sent, redirect: 'manual', signal: controller.signal });
    } catch (err) {
      const why = controller.signal.aborted ? limitHit(limits, 'readTimeoutMs', 'no answer') : causeOf(err);
      throw new MobileNetV2Error(`cannot download ${current}: ${why}`, { code: 'E_HUB_UNREACHABLE', cause: err });
    } finally {
      clearTimeout(timer);
    }
    const next = redirectTarget(response, current);
    if (next === undefined) return response;
    await response.body?.cancel();
    if (next.origin !== new URL(current).origin) {
      sent = Object.fromEntries(Object.entries(sent).filter(([name]) => name.toLowerCase() !== 'authorization'));
    }
    current = next.href;
  }
  throw tooManyRedirects(url, limits);
}

/**
 * The file's full size as announced by the HEAD answer and the GET answer (`Content-Range` total
 * or `Content-Length` plus the resumed offset), which must agree. `undefined` only for a metadata
 * file whose server gives no length at all; a weight file without a length is refused.
 */
function announcedSize(req: DownloadRequest, response: Response, start: number): number | undefined {
  const got = byteCount(response.headers.get('content-length'), 'Content-Length', req.url);
  const range = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1];
  const fromGet = range !== undefined ? Number(range) : got === undefined ? undefined : got + start;
  const { size } = req.meta;
  let problem: string | undefined;
  if (size !== undefined && fromGet !== undefined && size !== fromGet) {
    problem = `its metadata announced ${size} bytes but the download ${fromGet}`;
  } else if (size === undefined && fromGet === undefined && !isMetadataFile(req.file)) {
    problem = 'the server announced no size for this weight file (no Content-Length)';
  }
  if (problem === undefined) return size ?? fromGet;
  throw new MobileNetV2Error(`download of ${req.url} refused: ${problem}`, { code: 'E_HUB_RESPONSE' });
}

/**
 * Streams the body onto the partial file (appending from `offset`, or from scratch), reporting
 * progress. Stops at the announced `size` (or, without one, at `limits.maxUnsizedBytes`), and
 * when the server is slower than the limits allow.
 */
async function receive(req: DownloadRequest, response: Response, offset: number, size: number | undefined): Promise<void> {
  const report = (loaded: number, done: boolean) => req.onProgress?.({ file: req.file, loaded, total: size, done });
  const cap = size ?? req.limits.maxUnsizedBytes;
  const handle = await fsStep('write', req.partial, () => open(req.partial, offset > 0 ? 'a' : 'w')).catch(async (err: unknown) => {
    await response.body?.cancel();
    throw err;
  });
  const reader = response.body!.getReader();
  const pace = new Pace(req.limits);
  let loaded = offset;
  report(loaded, false);
  try {
    for (;;) {
      const chunk = await readWithin(reader, pace.wait());
      if (chunk === undefined) break;
      pace.update(chunk?.byteLength ?? 0);
      if (chunk === null) continue;
      if (loaded + chunk.byteLength > cap) throw tooLong(req, size);
      await fsStep('write', req.partial, () => handle.write(chunk));
      loaded += chunk.byteLength;
      report(loaded, false);
    }
  } catch (err) {
    await reader.cancel().catch(() => undefined);
    await handle.close();
    if (err instanceof MobileNetV2Error && err.code === 'E_HUB_RESPONSE') {
      await rm(req.partial, { force: true });
      throw err;
    }
    if (err instanceof MobileNetV2Error && err.code === 'E_FILE_WRITE') throw err; // the partial file is kept
    throw new MobileNetV2Error(
      `download of ${req.url} interrupted after ${loaded} bytes (${causeOf(err)}); run again to resume it`,
      { code: 'E_HUB_UNREACHABLE', cause: err },
    );
  }
  await handle.close();
  report(loaded, true);
}

/** The error for a body longer than announced, or than the cap on unannounced metadata. */
function tooLong(req: DownloadRequest, size: number | undefined): MobileNetV2Error {
  const limit = size === undefined
    ? `the ${req.limits.maxUnsizedBytes} bytes allowed for a file of no announced size (${LIMIT_VARIABLES.maxUnsizedBytes[0]})`
    : `the announced ${size} bytes`;
  return new MobileNetV2Error(`download of ${req.url} stopped: the server sent more than ${limit}; nothing was kept`, {
    code: 'E_HUB_RESPONSE',
  });
}

/**
 * Checks size and digest of the finished partial file; deletes it when they are wrong. `size` is
 * the announced size, `undefined` only for a metadata file sent without one.
 */
async function verify(req: DownloadRequest, size: number | undefined): Promise<string> {
  const actualSize = await sizeOf(req.partial);
  const expected = expectedDigest(req.meta.etag);
  const sha256 = createHash('sha256');
  const gitSha1 = createHash('sha1').update(gitBlobHeader(actualSize));
  const hashes: Hash[] = expected?.algorithm === 'git-sha1' ? [sha256, gitSha1] : [sha256];
  await fsStep('read', req.partial, async () => {
    for await (const chunk of createReadStream(req.partial)) for (const hash of hashes) hash.update(chunk as Buffer);
  });
  const sha256Hex = sha256.digest('hex');
  const actual = expected?.algorithm === 'git-sha1' ? gitSha1.digest('hex') : sha256Hex;
  let problem: string | undefined;
  if (size !== undefined && actualSize !== size) {
    problem = `${actualSize} bytes arrived but the server announced ${size}`;
  } else if (expected !== undefined && actual !== expected.hex) {
    problem = `${expected.algorithm} is ${actual} but the server announced ${expected.hex}`;
  }
  if (problem !== undefined) {
    await rm(req.partial, { force: true });
    throw corruptDownloadError(req.url, problem);
  }
  return sha256Hex;
}

/** A readable reason from a fetch failure (undici hides the socket error in `cause`). */
export function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return 'timed out';
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
