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
import { MobileNetV2Error } from '../errors.js';
import { corruptDownloadError, expectedDigest, gitBlobHeader, type FileMetadata } from './hub_common.js';
import type { DownloadProgressCallback } from './model_files.js';

/** huggingface_hub's default HF_HUB_ETAG_TIMEOUT: how long a HEAD request may take. */
const HEAD_TIMEOUT_MS = 10_000;
/** How long a download may receive nothing before it is given up (and can be resumed later). */
const STALL_TIMEOUT_MS = 60_000;
/** Same-origin redirects followed when probing (renamed repos, the hub's resolve cache). */
const MAX_REDIRECTS = 5;

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
 * `X-Repo-Commit`) on that redirect, and the CDN's own headers describe something else.
 * Network failures reject with the fetch error.
 */
export async function probe(url: string, headers: Record<string, string>): Promise<Probe> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await fetch(current, {
      method: 'HEAD',
      headers: { ...BASE_HEADERS, ...headers },
      redirect: 'manual',
      signal: AbortSignal.timeout(HEAD_TIMEOUT_MS),
    });
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || location === null) {
      return { response, downloadUrl: current };
    }
    const next = new URL(location, current);
    if (next.origin !== new URL(current).origin) return { response, downloadUrl: next.href };
    current = next.href;
  }
  throw new MobileNetV2Error(`too many redirects from ${url}`);
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
}

/**
 * Downloads `req.url` into `req.partial`, continuing an earlier partial download with a Range
 * request, then verifies the size and, when the ETag is a content hash, the digest. Returns the
 * sha256 of the verified file. A transfer that breaks keeps the partial file for the next try; a
 * file that fails verification is deleted.
 */
export async function download(req: DownloadRequest): Promise<string> {
  const offset = await sizeOf(req.partial);
  const response = await fetchBody(req, offset);
  const resumed = response.status === 206;
  await receive(req, response, resumed ? offset : 0);
  return verify(req);
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
  const response = await get(req.url, headers);
  const start = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
  if (response.status === 200 || (response.status === 206 && Number(start) === offset)) return response;
  if (offset > 0 && (response.status === 206 || response.status === 416)) {
    await response.body?.cancel();
    await rm(req.partial, { force: true });
    return fetchBody(req, 0);
  }
  await response.body?.cancel();
  throw new MobileNetV2Error(`downloading ${req.url} failed: HTTP ${response.status}`);
}

/**
 * GET with a network failure turned into a clear error. The timeout covers only the wait for the
 * response headers (a signal would also cut a long body short); the body has its own stall check.
 */
async function get(url: string, headers: Record<string, string>): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('timed out')), STALL_TIMEOUT_MS);
  try {
    return await fetch(url, { headers, signal: controller.signal });
  } catch (err) {
    throw new MobileNetV2Error(`cannot download ${url}: ${causeOf(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Streams the body onto the partial file (appending from `offset`, or from scratch), reporting
 * progress; gives up when nothing arrives for STALL_TIMEOUT_MS.
 */
async function receive(req: DownloadRequest, response: Response, offset: number): Promise<void> {
  const length = response.headers.get('content-length');
  const total = req.meta.size ?? (length === null ? undefined : Number(length) + offset);
  const report = (loaded: number, done: boolean) => req.onProgress?.({ file: req.file, loaded, total, done });
  const handle = await open(req.partial, offset > 0 ? 'a' : 'w');
  const reader = response.body!.getReader();
  let loaded = offset;
  report(loaded, false);
  try {
    for (;;) {
      const chunk = await readWithin(reader, STALL_TIMEOUT_MS);
      if (chunk === undefined) break;
      await handle.write(chunk);
      loaded += chunk.byteLength;
      report(loaded, false);
    }
  } catch (err) {
    await reader.cancel().catch(() => undefined);
    throw new MobileNetV2Error(
      `download of ${req.url} interrupted after ${loaded} bytes (${causeOf(err)}); run again to resume it`,
    );
  } finally {
    await handle.close();
  }
  report(loaded, true);
}

/** The next chunk of `reader`, `undefined` at the end; rejects when it takes longer than `ms`. */
async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number,
): Promise<Uint8Array | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no data for ${ms / 1000} s`)), ms);
  });
  try {
    const { done, value } = await Promise.race([reader.read(), stalled]);
    return done ? undefined : value;
  } finally {
    clearTimeout(timer);
  }
}

/** Checks size and digest of the finished partial file; deletes it when they are wrong. */
async function verify(req: DownloadRequest): Promise<string> {
  const size = await sizeOf(req.partial);
  const expected = expectedDigest(req.meta.etag);
  const sha256 = createHash('sha256');
  const gitSha1 = createHash('sha1').update(gitBlobHeader(size));
  const hashes: Hash[] = expected?.algorithm === 'git-sha1' ? [sha256, gitSha1] : [sha256];
  for await (const chunk of createReadStream(req.partial)) for (const hash of hashes) hash.update(chunk as Buffer);
  const sha256Hex = sha256.digest('hex');
  const actual = expected?.algorithm === 'git-sha1' ? gitSha1.digest('hex') : sha256Hex;
  let problem: string | undefined;
  if (req.meta.size !== undefined && size !== req.meta.size) {
    problem = `${size} bytes arrived but the server announced ${req.meta.size}`;
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
