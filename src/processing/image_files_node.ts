/** The image files named on a command line: files as given, folders walked for image files. */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';

/** Extensions picked up when walking a folder (case-insensitive). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.bmp']);

/** The image files under `dir`, recursively, in sorted order (hidden entries skipped). */
async function walk(dir: string): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(path)));
    else if (entry.isFile() && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) files.push(path);
  }
  return files;
}

/** The collected files, and whether a folder was among the arguments. */
export interface ImageFileList {
  readonly files: string[];
  readonly sawFolder: boolean;
}

/**
 * Expands command-line arguments into image files. A folder contributes its image files (by
 * extension, recursively); anything else is kept as given, even a missing or non-image file, so
 * that reading it reports the problem against its name while the other images are processed.
 */
export async function collectImageFiles(args: readonly string[]): Promise<ImageFileList> {
  const files: string[] = [];
  let sawFolder = false;
  for (const arg of args) {
    const info = await stat(arg).catch(() => null);
    if (info?.isDirectory()) {
      sawFolder = true;
      files.push(...(await walk(arg)));
    } else {
      files.push(arg);
    }
  }
  return { files, sawFolder };
}
