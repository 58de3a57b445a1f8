/** Shared by the tests of the image commands (`classify`, `segment`, `embed`, `info`): running the CLI, sample files, temp folders. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REAL_FIXTURES, REPO_ROOT } from './helpers.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

/** Outcome of one CLI run. */
export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `mobilenet-v2 ...args` to completion. */
export function cli(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

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
