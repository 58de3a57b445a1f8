/** Atomic folder writes for Node: every file appears under its final name, or none does. */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/**
 * Writes `files` (name → bytes) into `dir`, creating it if needed. Each file is first written to
 * a temporary folder beside `dir` and then renamed into place, so an interrupted or failed write
 * never leaves a half-written file under a final name.
 */
export async function writeFolder(dir: string, files: Record<string, Uint8Array>): Promise<void> {
  const target = resolve(dir);
  await mkdir(dirname(target), { recursive: true });
  const staging = await mkdtemp(`${target}.tmp-`);
  try {
    for (const [name, bytes] of Object.entries(files)) {
      await mkdir(dirname(join(staging, name)), { recursive: true });
      await writeFile(join(staging, name), bytes);
    }
    await mkdir(target, { recursive: true });
    for (const name of Object.keys(files)) {
      await mkdir(dirname(join(target, name)), { recursive: true });
      await rename(join(staging, name), join(target, name));
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Writes one file atomically (temp file in the same folder, then rename). */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const target = resolve(path);
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(temp, bytes);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
