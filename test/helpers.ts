/** Paths and comparison helpers shared by the tests. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before } from 'node:test';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (tests run from `dist/test`, compiled). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The project's `shared/` folder, which CI places beside the checkout. */
export const SHARED = resolve(REPO_ROOT, '../shared');
/** Hugging Face reference fixtures. */
export const HF_FIXTURES = resolve(SHARED, 'fixtures/hf');
/** Google's real TFLite models, photos and reference outputs. */
export const REAL_FIXTURES = resolve(SHARED, 'fixtures/real');
/** The compiled CLI. */
export const CLI = resolve(REPO_ROOT, 'dist/src/cli/main.js');

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

/**
 * Asserts `|got - ref| <= atol + rtol * |ref|` element-wise (the fixtures' tolerance by default),
 * reporting the worst element.
 */
export function assertClose(
  got: ArrayLike<number>,
  ref: ArrayLike<number>,
  what: string,
  atol = 1e-3,
  rtol = 1e-4,
): void {
  assert.equal(got.length, ref.length, `${what}: length ${got.length} vs ${ref.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < ref.length; i++) {
    const excess = Math.abs(got[i]! - ref[i]!) - (atol + rtol * Math.abs(ref[i]!));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  assert.ok(worst < 0, `${what}: element ${worst} is ${got[worst]} but reference is ${ref[worst]}`);
}

/**
 * A temporary folder for the enclosing `describe` (or file): created before its tests, removed
 * after them. Returns a getter, since the path exists only once the hook has run.
 */
export function useTempDir(prefix: string): () => string {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), `mnv2-${prefix}-`));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}
