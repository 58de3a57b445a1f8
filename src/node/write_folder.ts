/**
 * Output files for Node: every regular file appears under its final name complete, or not at all;
 * symbolic links are written through to their target; devices and FIFOs are written directly; a
 * folder, socket or other special file is never replaced.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, open, readlink, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import atomicWrite from 'write-file-atomic';
import { MobileNetV2Error } from '../errors.js';

/**
 * Creates `folder` and its missing parents one level at a time. (Node's `mkdir(…, {recursive})`
 * never settles for some paths, e.g. under /proc; this fails with ENOENT/EACCES instead.)
 */
async function ensureFolder(folder: string): Promise<void> {
  const info = await stat(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (info) {
    if (!info.isDirectory()) throw new Error(`${folder} exists and is not a folder`);
    return;
  }
  if (dirname(folder) !== folder) await ensureFolder(dirname(folder));
  await mkdir(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}

/** Runs a write, turning file-system failures into one clear MobileNetV2Error naming `target`. */
async function writing<T>(target: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof MobileNetV2Error) throw err;
    throw new MobileNetV2Error(`cannot write ${target}: ${(err as Error).message}`, { code: 'E_FILE_WRITE', cause: err });
  }
}

/**
 * Writes `files` (name → bytes) into `dir`, creating it if needed. Each file is first written to
 * a temporary folder beside `dir` and then renamed into place, so an interrupted or failed write
 * never leaves a half-written file under a final name.
 */
export async function writeFolder(dir: string, files: Record<string, Uint8Array>): Promise<void> {
  const target = resolve(dir);
  await writing(target, async () => {
    await ensureFolder(dirname(target));
    const staging = await mkdtemp(`${target}.tmp-`);
    try {
      for (const [name, bytes] of Object.entries(files)) {
        await ensureFolder(dirname(join(staging, name)));
        await writeFile(join(staging, name), bytes);
      }
      for (const name of Object.keys(files)) {
        await ensureFolder(dirname(join(target, name)));
        await rename(join(staging, name), join(target, name));
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });
}

/**
 * What an output path names, following symbolic links: nothing yet, a regular file, a stream
 * (character device or FIFO, written in place), or a folder.
 */
export type OutputKind = 'none' | 'file' | 'stream' | 'folder';

/**
 * The {@link OutputKind} of `path`.
 *
 * @throws MobileNetV2Error (E_FILE_WRITE) for something that cannot take a file's bytes (a socket,
 *   block device).
 */
export async function outputKind(path: string): Promise<OutputKind> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
    throw new MobileNetV2Error(`cannot write ${path}: ${err.message}`, { code: 'E_FILE_WRITE', cause: err });
  });
  if (!info) return 'none';
  if (info.isFile()) return 'file';
  if (info.isDirectory()) return 'folder';
  if (info.isCharacterDevice() || info.isFIFO()) return 'stream';
  throw new MobileNetV2Error(`cannot write ${path}: it is a ${info.isSocket() ? 'socket' : 'special file'}, not a file`, { code: 'E_FILE_WRITE' });
}

/**
 * Checks, before any work, that `path` can take an output file: not a folder (nor a socket…), and
 * not an existing regular file unless `overwrite` is true (undefined: existing files are replaced).
 *
 * @throws MobileNetV2Error (E_FILE_WRITE) naming the path.
 */
export async function checkOutputFile(path: string, overwrite?: boolean): Promise<void> {
  const kind = await outputKind(path);
  if (kind === 'folder') throw new MobileNetV2Error(`cannot write ${path}: it is a folder; give a file name`, { code: 'E_FILE_WRITE' });
  if (kind === 'file' && overwrite === false) throw new MobileNetV2Error(`${path} already exists; pass --overwrite to replace it`, { code: 'E_FILE_WRITE' });
}

/** Symbolic links followed before giving up (Linux's own limit, ELOOP). */
const MAX_SYMLINK_HOPS = 40;

/**
 * The file `path` stands for: itself, or the end of its chain of symbolic links even when that end
 * does not exist yet (a link to a new output), so that the link is kept and its target written.
 */
async function linkTarget(path: string): Promise<string> {
  let current = path;
  for (let hop = 0; hop < MAX_SYMLINK_HOPS; hop++) {
    const info = await lstat(current).catch(() => null);
    if (!info?.isSymbolicLink()) return current;
    current = resolve(dirname(current), await readlink(current));
  }
  throw new MobileNetV2Error(`cannot write ${path}: more than ${MAX_SYMLINK_HOPS} symbolic links in a row`, { code: 'E_FILE_WRITE' });
}

/**
 * Writes one output file through `write`. A regular file (or a new one) is written atomically — a
 * temporary file beside it, then a rename (`toFile` is given the final path) — through symbolic
 * links to their target (kept a link, even when the target does not exist yet), creating missing
 * folders. A character device or FIFO (`/dev/stdout`, a pipe) is written in place (`toStream`),
 * since renaming over it would replace it with a regular file.
 */
async function writeOutput(path: string, toStream: (target: string) => Promise<void>, toFile: (file: string) => Promise<void>): Promise<void> {
  const target = resolve(path);
  await writing(target, async () => {
    const kind = await outputKind(target);
    if (kind === 'stream') return toStream(target);
    if (kind === 'folder') throw new MobileNetV2Error(`cannot write ${target}: it is a folder`, { code: 'E_FILE_WRITE' });
    const file = await linkTarget(target);
    await ensureFolder(dirname(file));
    await toFile(file);
  });
}

/**
 * Writes one output file completely or not at all (see {@link writeOutput}).
 *
 * @throws MobileNetV2Error (E_FILE_WRITE) naming the path; for a folder, socket or other special
 *   file nothing is written.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const data = typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  await writeOutput(path, (target) => writeFile(target, data), (file) => atomicWrite(file, data));
}

/** Appends every piece of `pieces` to the open `handle`, in order. */
async function writePieces(handle: FileHandle, pieces: AsyncIterable<string>): Promise<void> {
  for await (const piece of pieces) await handle.write(piece);
}

/**
 * Writes the text `pieces` (e.g. slices of JSON lines fetched as they are written) as one output
 * file, completely or not at all, like {@link writeFileAtomic} but never holding the whole text: a
 * regular file is written to a temporary file beside it, synced and renamed into place; a failure
 * while producing the pieces removes the temporary file and leaves the old file as it was.
 *
 * @throws MobileNetV2Error (E_FILE_WRITE) naming the path, or whatever `pieces` throws.
 */
export async function writeStreamAtomic(path: string, pieces: AsyncIterable<string>): Promise<void> {
  await writeOutput(path, async (target) => {
    const handle = await open(target, 'w');
    try {
      await writePieces(handle, pieces);
    } finally {
      await handle.close();
    }
  }, async (file) => {
    const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temporary, 'wx');
    try {
      try {
        await writePieces(handle, pieces);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, file);
    } catch (err) {
      await rm(temporary, { force: true });
      throw err;
    }
  });
}
