/**
 * Hub conventions shared by the Node and browser clients (no Node APIs here): model id and
 * revision rules, the `{endpoint}/{repo}/resolve/{revision}/{file}` URL, the metadata headers the
 * Hugging Face hub sends, and the wording of hub errors.
 */
import { oneLine, quote } from '../describe.js';
import { MobileNetV2Error } from '../errors.js';
import { isMetadataFile } from './hub_limits.js';

/** The public Hugging Face hub, used unless HF_ENDPOINT or an `endpoint` option says otherwise. */
export const DEFAULT_ENDPOINT = 'https://huggingface.co';
/** The branch used when no revision is given, as in transformers. */
export const DEFAULT_REVISION = 'main';

/** A full 40-hex git commit id: a revision that can never move, so its cached files are final. */
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

// huggingface_hub's validate_repo_id: optional namespace, names of word characters, '-' and '.',
// starting and ending with a word character, at most 96 characters, no '--' (the cache folder
// separator) and no '..'.
const REPO_PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$/;

/** Whether `id` has the form of a hub model id (`name` or `namespace/name`). */
export function isHubModelId(id: string): boolean {
  const parts = id.split('/');
  return (
    parts.length <= 2 &&
    parts.every((part) => REPO_PART.test(part)) &&
    !id.includes('--') &&
    !id.includes('..') &&
    !id.endsWith('.git')
  );
}

/** Throws unless `id` is a hub model id: it becomes the cache folder `models--<org>--<name>`. */
export function checkHubModelId(id: string): void {
  if (!isHubModelId(id)) {
    throw new MobileNetV2Error(`"${id}" is not a hub model id (like google/mobilenet_v2_1.0_224)`, {
      code: 'E_INVALID_ARGUMENT',
    });
  }
}

// Control characters (and the path separators of any OS) never belong in a cache path.
const CONTROL_OR_BACKSLASH = /[\x00-\x1f\x7f\\]/;

/**
 * Throws unless `name` is a plain relative path inside a repo (a file name, or a revision such as
 * `refs/pr/1`): it becomes part of cache paths.
 */
export function checkRepoPath(name: string, what: string): void {
  const segments = name.split('/');
  const ok = name.length > 0 && name.length <= 1024 && !CONTROL_OR_BACKSLASH.test(name) &&
    segments.every((s) => s !== '' && s !== '.' && s !== '..');
  if (!ok) {
    throw new MobileNetV2Error(
      `invalid ${what} ${quote(name)}: expected a relative path without "..", "." or empty parts`,
      { code: 'E_INVALID_ARGUMENT' },
    );
  }
}

/** The URL of `file` at `revision` of model `repoId`; also the layout a static mirror must follow. */
export function resolveUrl(endpoint: string, repoId: string, revision: string, file: string): string {
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${repoId}/resolve/${encodeURIComponent(revision)}/${path}`;
}

/** `org/name (revision r) at endpoint`, the way every hub message names a model. */
export function describeRepo(repoId: string, revision: string, endpoint: string): string {
  return `${repoId} (revision ${revision}) at ${endpoint}`;
}

/**
 * The error for a hub answer that is neither the file nor "no such file". The hub tells repo,
 * revision and gating problems apart in `X-Error-Code`; a static mirror only has status codes.
 */
export function hubResponseError(
  status: number,
  errorCode: string | null,
  repoId: string,
  revision: string,
  endpoint: string,
  file: string,
): MobileNetV2Error {
  const authHint = 'if it is private or gated, set HF_TOKEN to a token that can read it';
  switch (errorCode) {
    case 'RepoNotFound':
      return modelNotFoundError(repoId, revision, endpoint, `; ${authHint}`);
    case 'RevisionNotFound':
      return new MobileNetV2Error(`revision ${revision} not found for model ${repoId} at ${endpoint}`, {
        code: 'E_HUB_NOT_FOUND',
      });
    case 'GatedRepo':
      return new MobileNetV2Error(
        `model ${repoId} at ${endpoint} is gated: accept its terms on the hub and set HF_TOKEN`,
        { code: 'E_HUB_RESPONSE' },
      );
  }
  const where = `${file} of ${describeRepo(repoId, revision, endpoint)}`;
  if (status === 401 || status === 403) {
    return new MobileNetV2Error(`access to ${where} denied (HTTP ${status}); ${authHint}`, { code: 'E_HUB_RESPONSE' });
  }
  return new MobileNetV2Error(`downloading ${where} failed: HTTP ${status}`, { code: 'E_HUB_RESPONSE' });
}

/** The error for a model whose `config.json` does not exist; `detail` is appended. */
export function modelNotFoundError(repoId: string, revision: string, endpoint: string, detail = ''): MobileNetV2Error {
  return new MobileNetV2Error(`model ${repoId} not found at ${endpoint} (revision ${revision})${detail}`, {
    code: 'E_HUB_NOT_FOUND',
  });
}

/** Whether a 404 means "this file is absent" rather than "this repo or revision is absent". */
export function isMissingEntry(status: number, errorCode: string | null): boolean {
  return status === 404 && (errorCode === null || errorCode === 'EntryNotFound');
}

/** What a hub (or mirror) says about a file before its bytes arrive. */
export interface FileMetadata {
  /** ETag normalized to a bare value: the sha256 for LFS files, the git blob sha1 otherwise. */
  readonly etag: string | undefined;
  /** Commit the revision resolved to (`X-Repo-Commit`); absent on static mirrors. */
  readonly commit: string | undefined;
  /** Full file size in bytes when known. */
  readonly size: number | undefined;
}

/**
 * Reads file metadata the way huggingface_hub does: `X-Linked-Etag` / `X-Linked-Size` (set on the
 * redirect of an LFS file) win over the plain `ETag` / `Content-Length` of the answer itself.
 */
export function fileMetadata(headers: Headers, url: string): FileMetadata {
  const rawEtag = headers.get('x-linked-etag') ?? headers.get('etag');
  const commit = headers.get('x-repo-commit') ?? undefined;
  const linkedSize = headers.get('x-linked-size');
  if (commit !== undefined && !COMMIT_HASH.test(commit)) {
    throw unsafeAnswer(url, 'X-Repo-Commit', commit, 'a commit id is 40 lower-case hex digits');
  }
  const etag = rawEtag === null ? undefined : rawEtag.replace(/^W\//, '').replace(/^"|"$/g, '');
  if (etag !== undefined && (etag === '' || etag.length > 256 || UNSAFE_ETAG.test(etag))) {
    throw unsafeAnswer(url, 'ETag', etag, 'it may not hold "/", "\\", ".." or control characters');
  }
  return {
    etag,
    commit,
    size:
      linkedSize === null
        ? byteCount(totalSize(headers), 'Content-Length', url)
        : byteCount(linkedSize, 'X-Linked-Size', url),
  };
}

// An ETag may name a blob file: it must not be able to leave the blobs folder.
const UNSAFE_ETAG = /[\x00-\x1f\x7f/\\]|\.\.|^\./;

/** A header value that is a byte count, `undefined` when absent; anything but digits is refused. */
export function byteCount(value: string | null, header: string, url: string): number | undefined {
  if (value === null) return undefined;
  if (!/^\d{1,15}$/.test(value.trim())) throw unsafeAnswer(url, header, value, 'expected a byte count');
  return Number(value);
}

/** The error for a header value the client refuses to use. */
function unsafeAnswer(url: string, header: string, value: string, rule: string): MobileNetV2Error {
  return new MobileNetV2Error(`the server answered ${url} with an invalid ${header} ${quote(value, 80)} (${rule}); refused`, {
    code: 'E_HUB_RESPONSE',
  });
}

/** Full size of a resource from `Content-Range: bytes a-b/total` or else `Content-Length`. */
function totalSize(headers: Headers): string | null {
  const range = /\/(\d+)$/.exec(headers.get('content-range') ?? '');
  return range ? range[1]! : headers.get('content-length');
}

/** Which digest an ETag promises, so downloads can be verified. */
export interface ExpectedDigest {
  /** `sha256` of the bytes (LFS files) or git's blob sha1, `sha1("blob <size>\0" + bytes)`. */
  readonly algorithm: 'sha256' | 'git-sha1';
  /** Lower-case hex digest. */
  readonly hex: string;
}

/**
 * The digest an ETag stands for: 64 hex digits are the sha256 the hub uses for LFS files, 40 are
 * the git blob id it uses for small files. Any other ETag (a static server's mtime-size tag) is
 * only a cache key and cannot verify anything.
 */
export function expectedDigest(etag: string | undefined): ExpectedDigest | undefined {
  if (etag === undefined) return undefined;
  if (/^[0-9a-f]{64}$/.test(etag)) return { algorithm: 'sha256', hex: etag };
  if (COMMIT_HASH.test(etag)) return { algorithm: 'git-sha1', hex: etag };
  return undefined;
}

/** The header git hashes before a blob's bytes. */
export function gitBlobHeader(size: number): Uint8Array {
  return new TextEncoder().encode(`blob ${size}\0`);
}

/**
 * Throws when a metadata file (`config.json`) comes as an HTML page: a proxy's or mirror's error
 * page answered with status 200 would otherwise surface as a puzzling JSON syntax error.
 */
export function checkNotHtml(headers: Headers, file: string, url: string): void {
  const type = headers.get('content-type') ?? '';
  if (isMetadataFile(file) && /^\s*text\/html\b/i.test(type)) {
    throw new MobileNetV2Error(`the server answered ${url} with an HTML page (${oneLine(type)}), not the file ${file}`, {
      code: 'E_HUB_RESPONSE',
    });
  }
}

/** The error for bytes that do not match what the server promised; nothing is kept of them. */
export function corruptDownloadError(url: string, what: string): MobileNetV2Error {
  return new MobileNetV2Error(`download of ${url} is corrupt: ${what}; the bytes were discarded, try again`, {
    code: 'E_HUB_RESPONSE',
  });
}
