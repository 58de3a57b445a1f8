/** Shared by the tests of the image commands (`classify`, `segment`, `embed`, `info`): running the CLI, sample files, temp folders. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REAL_FIXTURES, REPO_ROOT } from './helpers.js';

export { cli, type CliResult } from './helpers.js';

/** A photo of `samples/` (cat.jpg, grace_hopper.jpg, bird.jpg). */
export const sample = (name: string): string => join(REPO_ROOT, 'samples', name);

/** A photo of the real fixtures. */
export const photo = (name: string): string => join(REAL_FIXTURES, 'images', name);

/** A fresh temporary folder and a function removing it. */
export function tempFolder(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'mnv2-cli-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** True when the text holds a JavaScript stack frame. */
export const hasStackTrace = (text: string): boolean => /\n\s+at .+:\d+:\d+\)?/.test(text);
