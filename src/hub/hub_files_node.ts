/** Model files of a hub repo, downloaded on demand into the Hugging Face cache (Node). */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MobileNetV2Error, type MobileNetV2ErrorCode } from '../errors.js';
import { download, probe, type Probe } from './download_node.js';
import { fsStep } from './fs_errors_node.js';
import { exists, HfCacheRepo } from './hf_cache_node.js';
import {
  checkNotHtml,
  checkRepoPath,
  describeRepo,
  fileMetadata,
  hubResponseError,
  isMissingEntry,
  resolveUrl,
  type FileMetadata,
} from './hub_common.js';
import type { HubLimits } from './hub_limits.js';
import type { DownloadProgressCallback, FileStat, ModelFiles } from './model_files.js';
import { readFileRange, statFile } from './local_files_node.js';

/** Where and how {@link HubFiles} gets a repo's files; every field already resolved from env. */
export interface HubFilesOptions {
  /** `org/name`. */
  readonly repoId: string;
  /** Branch, tag or commit. */
  readonly revision: string;
  /** The hub cache folder (HF_HUB_CACHE). */
  readonly cacheDir: string;
  /** Hub or mirror base URL, without a trailing slash. */
  readonly endpoint: string;
  /** Bearer token, sent only to the endpoint's origin. */
  readonly token: string | undefined;
  /** Use only the cache (HF_HUB_OFFLINE). */
  readonly offline: boolean;
  /** Download progress receiver. */
  readonly onProgress: DownloadProgressCallback | undefined;
  /** Timeouts, least speed and size caps (see hub_limits.ts). */
  readonly limits: HubLimits;
}

// Blob names come from the server's ETag (one that could leave the blobs folder is refused by
// fileMetadata); one that is not a plain token, or none, gives the sha256 of the contents instead.
const USABLE_ETAG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * A hub repo (or a static mirror of one) as {@link ModelFiles}. Online, each file costs one HEAD
 * request (the revision may have moved) and is downloaded only when its blob is not cached yet;
 * offline, only the cache is read. Each file is resolved once per instance.
 */
export class HubFiles implements ModelFiles {
  readonly description: string;
  /** This repo's folder in the cache. */
  readonly cache: HfCacheRepo;
  readonly #options: HubFilesOptions;
  readonly #located = new Map<string, Promise<string | null>>();

  /** Files of `options.repoId` at `options.revision`; nothing is fetched before the first read. */
  constructor(options: HubFilesOptions) {
    this.#options = options;
    this.cache = new HfCacheRepo(options.cacheDir, options.repoId);
    this.description = `model ${describeRepo(options.repoId, options.revision, options.endpoint)}`;
  }

  async read(name: string): Promise<Uint8Array | null> {
    const path = await this.locate(name);
    if (path === null) return null;
    const bytes = await fsStep('read', path, () => readFile(path));
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async stat(name: string): Promise<FileStat | null> {
    const path = await this.locate(name);
    return path === null ? null : statFile(path);
  }

  async readRange(name: string, start: number, length: number): Promise<Uint8Array> {
    const path = await this.locate(name);
    if (path === null) throw new MobileNetV2Error(`${this.description} has no ${name}`, { code: 'E_HUB_NOT_FOUND' });
    return readFileRange(path, start, length);
  }

  /**
   * Path of `name` in the cache's snapshot folder (downloading it first if needed), or `null` when
   * the repo has no such file. A failure is not remembered: the next call tries again.
   */
  async locate(name: string): Promise<string | null> {
    checkRepoPath(name, 'file name');
    let located = this.#located.get(name);
    if (located === undefined) {
      located = this.#options.offline
        ? this.#fromCache(name, 'offline mode is on (HF_HUB_OFFLINE)', 'E_HUB_OFFLINE')
        : this.#fromHub(name);
      this.#located.set(name, located);
      located.catch(() => this.#located.delete(name));
    }
    return located;
  }

  /**
   * Answers from the cache alone; `why` says why the hub was not asked, and `code` is the error's
   * when the file is not cached.
   */
  async #fromCache(name: string, why: string, code: MobileNetV2ErrorCode, cause?: unknown): Promise<string | null> {
    const { repoId, revision, cacheDir } = this.#options;
    const snapshot = await this.cache.snapshotOf(revision);
    const entry = snapshot === undefined ? { kind: 'unknown' as const } : await this.cache.lookup(snapshot, name);
    if (entry.kind === 'cached') return entry.path;
    if (entry.kind === 'absent') return null;
    throw new MobileNetV2Error(
      `${name} of model ${repoId} (revision ${revision}) is not in the cache ${cacheDir} and ${why}`,
      { code, cause },
    );
  }

  async #fromHub(name: string): Promise<string | null> {
    const { repoId, revision, endpoint, token } = this.#options;
    const url = resolveUrl(endpoint, repoId, revision, name);
    const auth: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` };
    let answer: Probe;
    try {
      answer = await probe(url, auth, this.#options.limits);
    } catch (err) {
      // Like huggingface_hub: an unreachable or failing hub falls back to what is cached.
      if (!(err instanceof MobileNetV2Error) || err.code !== 'E_HUB_UNREACHABLE') throw err;
      return this.#fromCache(name, err.message, err.code, err);
    }
    const { response } = answer;
    if (response.status >= 500) {
      return this.#fromCache(name, `${endpoint} answered HTTP ${response.status}`, 'E_HUB_UNREACHABLE');
    }
    const meta = fileMetadata(response.headers, url);
    const snapshot = meta.commit ?? revision;
    const errorCode = response.headers.get('x-error-code');
    if (isMissingEntry(response.status, errorCode)) return this.#absent(snapshot, name);
    if (response.status >= 400) throw hubResponseError(response.status, errorCode, repoId, revision, endpoint, name);
    checkNotHtml(response.headers, name, url);

    await this.cache.setRef(revision, snapshot);
    const key = meta.etag !== undefined && USABLE_ETAG.test(meta.etag) ? meta.etag : undefined;
    if (key !== undefined && (await exists(this.cache.blobPath(key)))) return this.cache.link(key, snapshot, name);
    if (key === undefined) {
      // Without a usable ETag there is no telling whether the cached copy is current: keep it.
      const entry = await this.cache.lookup(snapshot, name);
      if (entry.kind === 'cached') return entry.path;
    }
    const blobKey = await this.#download(name, url, answer, auth, key, meta);
    return this.cache.link(blobKey, snapshot, name);
  }

  /**
   * Records a missing file so offline runs know it is absent, as huggingface_hub does; only once
   * something of the snapshot is cached, so that a mistyped model id leaves nothing behind.
   */
  async #absent(snapshot: string, name: string): Promise<null> {
    if (await exists(this.cache.snapshotPath(snapshot))) await this.cache.markAbsent(snapshot, name);
    return null;
  }

  /**
   * Downloads into `blobs/<key>.incomplete`, verifies, and moves it to `blobs/<key>`; returns the
   * key (the sha256 of the contents when the server gave no usable ETag).
   */
  async #download(
    name: string,
    url: string,
    answer: Probe,
    auth: Record<string, string>,
    key: string | undefined,
    meta: FileMetadata,
  ): Promise<string> {
    const { response, downloadUrl } = answer;
    const sameOrigin = new URL(downloadUrl).origin === new URL(url).origin;
    const partialKey = key ?? createHash('sha256').update(downloadUrl).digest('hex');
    const partial = `${this.cache.blobPath(partialKey)}.incomplete`;
    await fsStep('write', partial, () => mkdir(dirname(partial), { recursive: true }));
    const sha256 = await download({
      url: downloadUrl,
      headers: sameOrigin ? auth : {}, // a CDN gets a signed URL, never the user's token
      partial,
      meta,
      // A CDN's own validators are not the hub's; its content is fixed by the hash-named key anyway.
      ifRange: downloadUrl === url ? validator(response.headers) : undefined,
      file: name,
      onProgress: this.#options.onProgress,
      limits: this.#options.limits,
    });
    const blobKey = key ?? sha256;
    const blob = this.cache.blobPath(blobKey);
    await fsStep('write', blob, () => rename(partial, blob));
    return blobKey;
  }
}

/** A strong ETag or else Last-Modified: what `If-Range` accepts to tell whether a file changed. */
function validator(headers: Headers): string | undefined {
  const etag = headers.get('etag');
  if (etag !== null && !etag.startsWith('W/')) return etag;
  return headers.get('last-modified') ?? undefined;
}
