/**
 * The embedding cache on disk (Node): `<cache>/embeddings/<sha256 of the key>.f32`, raw float32
 * little-endian, where `<cache>` is the library's cache folder (`$MOBILENET_V2_CACHE`, …; see
 * `graph_cache.ts`). One small file per image view, written atomically, so a second `train` on the
 * same images skips the backbone and nothing grows in memory. Files may be deleted at any time.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheRoot } from '../node/graph_cache.js';
import { writeFileAtomic } from '../node/write_folder.js';
import type { EmbeddingCache } from './embeddings.js';

/** The default folder of the embedding cache. */
export function defaultEmbeddingCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), 'embeddings');
}

/** An {@link EmbeddingCache} in a folder; unreadable or damaged entries count as misses. */
export class DiskEmbeddingCache implements EmbeddingCache {
  constructor(readonly dir: string = defaultEmbeddingCacheDir()) {}

  private fileOf(key: string): string {
    return join(this.dir, `${createHash('sha256').update(key).digest('hex')}.f32`);
  }

  /** The vector stored under `key`, or undefined. */
  async get(key: string): Promise<Float32Array | undefined> {
    const bytes = await readFile(this.fileOf(key)).catch(() => null);
    if (!bytes || bytes.length === 0 || bytes.length % 4 !== 0) return undefined;
    const vector = new Float32Array(bytes.length / 4);
    new Uint8Array(vector.buffer).set(bytes);
    return vector.every(Number.isFinite) ? vector : undefined;
  }

  /** Stores a vector under `key`; a cache that cannot be written (read-only, full disk) only costs speed. */
  async set(key: string, vector: Float32Array): Promise<void> {
    await writeFileAtomic(this.fileOf(key), new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength)).catch(() => undefined);
  }
}
