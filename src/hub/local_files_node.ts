/** Model files in a local folder (Node). */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MobileNetV2Error } from '../errors.js';
import { checkRepoPath } from './hub_common.js';
import type { ModelFiles } from './model_files.js';

/** Reads model files from a folder laid out like a hub repo (`config.json`, weights, ...). */
export class LocalFiles implements ModelFiles {
  /** Absolute path of the folder. */
  readonly folder: string;
  readonly description: string;

  /** Serves the files of `folder` (resolved against the working directory). */
  constructor(folder: string) {
    this.folder = resolve(folder);
    this.description = `folder ${this.folder}`;
  }

  async read(name: string): Promise<Uint8Array | null> {
    checkRepoPath(name, 'file name');
    const path = join(this.folder, name);
    try {
      // A plain Uint8Array view of the Buffer, not a copy (Buffer's slice() would be a view, which
      // callers that copy with slice() must not get).
      const bytes = await readFile(path);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new MobileNetV2Error(`cannot read ${path}: ${(err as Error).message}`);
    }
  }
}
