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
import { dirname, isAbsolute, join, relative } from 'node:path';
import { quote } from '../describe.js';
import { MobileNetV2Error } from '../errors.js';
import { fsStep } from './fs_errors_node.js';
import { checkHubModelId, COMMIT_HASH } from './hub_common.js';

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
    checkHubModelId(repoId);
    this.root = join(cacheDir, `models--${repoId.split('/').join('--')}`);
  }

  /** Path of the blob named `key`. */
  blobPath(key: string): string {
    return this.#inside(join(this.root, 'blobs', key));
  }

  /** Folder of snapshot `snapshot` (a commit id, or a revision name for a mirror). */
  snapshotPath(snapshot: string): string {
    return this.#inside(join(this.root, 'snapshots', snapshot));
  }

  /** Path of `file` inside snapshot `snapshot`. */
  pointerPath(snapshot: string, file: string): string {
    return this.#inside(join(this.snapshotPath(snapshot), file));
  }

  /**
   * The snapshot `revision` last resolved to, or `undefined` when it was never cached. A ref must
   * hold a commit id, or the revision itself (what a static mirror leaves); anything else could
   * point outside the cache and is refused.
   */
  async snapshotOf(revision: string): Promise<string | undefined> {
    if (COMMIT_HASH.test(revision)) return revision;
    const path = this.#inside(join(this.root, 'refs', revision));
    let snapshot: string;
    try {
      snapshot = (await readFile(path, 'utf8')).trim();
    } catch {
      return undefined;
    }
    if (!COMMIT_HASH.test(snapshot) && snapshot !== revision) {
      throw new MobileNetV2Error(
        `hub cache file ${path} holds ${quote(snapshot, 80)}, not a commit id; delete it to download again`,
        { code: 'E_CHECKPOINT_CORRUPT' },
      );
    }
    return snapshot;
  }

  /** Records that `revision` resolves to `snapshot` (a commit, or the revision itself on a mirror). */
  async setRef(revision: string, snapshot: string): Promise<void> {
    if (COMMIT_HASH.test(revision)) return;
    if ((await this.snapshotOf(revision)) === snapshot) return; // the cache may be read-only
    const path = this.#inside(join(this.root, 'refs', revision));
    await fsStep('write', path, async () => {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, snapshot);
    });
  }

  /** Looks `file` up in `snapshot` without any network access. */
  async lookup(snapshot: string, file: string): Promise<CacheEntry> {
    const pointer = this.pointerPath(snapshot, file);
    if (await exists(pointer)) return { kind: 'cached', path: pointer };
    if (await exists(this.#absentMarker(snapshot, file))) return { kind: 'absent' };
    return { kind: 'unknown' };
  }

  /** Records that `file` is absent from `snapshot`, so offline lookups can answer "no such file". */
  async markAbsent(snapshot: string, file: string): Promise<void> {
    const marker = this.#absentMarker(snapshot, file);
    await fsStep('write', marker, async () => {
      await mkdir(dirname(marker), { recursive: true });
      await writeFile(marker, '');
    });
  }

  /**
   * Points `snapshot/file` at blob `key` with a relative symlink, as huggingface_hub does (relative
   * links survive moving the cache). Where symlinks are not allowed (Windows without developer
   * mode) the blob is copied instead, huggingface_hub's fallback too.
   */
  async link(key: string, snapshot: string, file: string): Promise<string> {
    const pointer = this.pointerPath(snapshot, file);
    const blob = this.blobPath(key);
    await fsStep('write', pointer, async () => {
      await mkdir(dirname(pointer), { recursive: true });
      await rm(pointer, { force: true });
      try {
        await symlink(relative(dirname(pointer), blob), pointer);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP') throw err;
        await copyFile(blob, pointer);
      }
    });
    return pointer;
  }

  /** Path of the marker saying `file` is absent from `snapshot`. */
  #absentMarker(snapshot: string, file: string): string {
    return this.#inside(join(this.root, '.no_exist', snapshot, file));
  }

  /**
   * `path`, checked to lie inside this repo's folder: the last guard before anything is created
   * or removed. Names are validated before they get here, so a failure is a validation gap.
   */
  #inside(path: string): string {
    const rel = relative(this.root, path);
    if (rel === '' || rel.split(/[\\/]/)[0] === '..' || isAbsolute(rel)) {
      throw new MobileNetV2Error(`refusing to use ${path}: it lies outside the hub cache folder ${this.root}`, {
        code: 'E_INTERNAL',
      });
    }
    return path;
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
