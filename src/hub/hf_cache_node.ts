/**
 * The on-disk cache layout of huggingface_hub (and so of transformers), kept exactly so that Python
 * and this library share downloads:
 *
 *     <cache>/models--<org>--<name>/
 *       blobs/<etag>                      file contents, named by sha256 (LFS) or git sha1
 *       blobs/<etag>.incomplete           a download in progress (resumed with a Range request)
 *       refs/<revision>                   the commit a branch or tag resolved to
 *       snapshots/<commit>/<file>         relative symlink to ../../blobs/<etag>
 *       .no_exist/<commit>/<file>         empty marker: the file is absent at that commit
 *
 * A static mirror sends no commit id; the revision name then stands in for the commit, and
 * refs/<revision> names itself so that huggingface_hub's offline lookup (which needs a ref file)
 * finds the snapshot too.
 */
import { copyFile, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { COMMIT_HASH } from './hub_common.js';

/** What the cache knows about one file of a snapshot. */
export type CacheEntry =
  | { readonly kind: 'cached'; readonly path: string }
  | { readonly kind: 'absent' }
  | { readonly kind: 'unknown' };

/** One model repo's folder in the hub cache. */
export class HfCacheRepo {
  /** `<cache>/models--<org>--<name>`. */
  readonly root: string;

  /** The cache folder of model `repoId` inside hub cache `cacheDir`. */
  constructor(cacheDir: string, repoId: string) {
    this.root = join(cacheDir, `models--${repoId.split('/').join('--')}`);
  }

  /** Path of the blob named `key`. */
  blobPath(key: string): string {
    return join(this.root, 'blobs', key);
  }

  /** Folder of snapshot `snapshot` (a commit id, or a revision name for a mirror). */
  snapshotPath(snapshot: string): string {
    return join(this.root, 'snapshots', snapshot);
  }

  /** Path of `file` inside snapshot `snapshot`. */
  pointerPath(snapshot: string, file: string): string {
    return join(this.snapshotPath(snapshot), file);
  }

  /** The snapshot `revision` last resolved to, or `undefined` when it was never cached. */
  async snapshotOf(revision: string): Promise<string | undefined> {
    if (COMMIT_HASH.test(revision)) return revision;
    try {
      return (await readFile(join(this.root, 'refs', revision), 'utf8')).trim();
    } catch {
      return undefined;
    }
  }

  /** Records that `revision` resolves to `snapshot` (a commit, or the revision itself on a mirror). */
  async setRef(revision: string, snapshot: string): Promise<void> {
    if (COMMIT_HASH.test(revision)) return;
    if ((await this.snapshotOf(revision)) === snapshot) return; // the cache may be read-only
    const path = join(this.root, 'refs', revision);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, snapshot);
  }

  /** Looks `file` up in `snapshot` without any network access. */
  async lookup(snapshot: string, file: string): Promise<CacheEntry> {
    const pointer = this.pointerPath(snapshot, file);
    if (await exists(pointer)) return { kind: 'cached', path: pointer };
    if (await exists(join(this.root, '.no_exist', snapshot, file))) return { kind: 'absent' };
    return { kind: 'unknown' };
  }

  /** Records that `file` is absent from `snapshot`, so offline lookups can answer "no such file". */
  async markAbsent(snapshot: string, file: string): Promise<void> {
    const marker = join(this.root, '.no_exist', snapshot, file);
    await mkdir(dirname(marker), { recursive: true });
    await writeFile(marker, '');
  }

  /**
   * Points `snapshot/file` at blob `key` with a relative symlink, as huggingface_hub does (relative
   * links survive moving the cache). Where symlinks are not allowed (Windows without developer
   * mode) the blob is copied instead, huggingface_hub's fallback too.
   */
  async link(key: string, snapshot: string, file: string): Promise<string> {
    const pointer = this.pointerPath(snapshot, file);
    const blob = this.blobPath(key);
    await mkdir(dirname(pointer), { recursive: true });
    await rm(pointer, { force: true });
    try {
      await symlink(relative(dirname(pointer), blob), pointer);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP') throw err;
      await copyFile(blob, pointer);
    }
    return pointer;
  }
}

/** Whether `path` exists, following symlinks (a dangling snapshot link counts as missing). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
