/** Atomic file and folder writes for Node: every file appears under its final name, or none does. */
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
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
    throw new MobileNetV2Error(`cannot write ${target}: ${(err as Error).message}`);
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

/** Writes one file atomically (temp file in the same folder, then rename), creating its folder. */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const target = resolve(path);
  await writing(target, async () => {
    await ensureFolder(dirname(target));
    const temp = `${target}.tmp-${process.pid}-${Date.now()}`;
    try {
      await writeFile(temp, bytes);
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  });
}
