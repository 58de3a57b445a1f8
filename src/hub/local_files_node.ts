/** Model files in a local folder (Node). */
import { open, readFile, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fsError } from './fs_errors_node.js';
import { checkRepoPath } from './hub_common.js';
import type { FileStat, ModelFiles } from './model_files.js';

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
      throw fsError('read', path, err);
    }
  }

  async stat(name: string): Promise<FileStat | null> {
    checkRepoPath(name, 'file name');
    return statFile(join(this.folder, name));
  }

  async readRange(name: string, start: number, length: number): Promise<Uint8Array> {
    checkRepoPath(name, 'file name');
    return readFileRange(join(this.folder, name), start, length);
  }
}

/** Size and fingerprint (real path, size, mtime) of a file, or null when it does not exist. */
export async function statFile(path: string): Promise<FileStat | null> {
  try {
    const [info, real] = await Promise.all([stat(path), realpath(path)]);
    return { size: info.size, fingerprint: `${real}:${info.size}:${info.mtimeMs}` };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError('read', path, err);
  }
}

/** `length` bytes of a file from byte `start` (fewer if the file ends first). */
export async function readFileRange(path: string, start: number, length: number): Promise<Uint8Array> {
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = new Uint8Array(length);
      const { bytesRead } = await handle.read(buffer, 0, length, start);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw fsError('read', path, err);
  }
}
