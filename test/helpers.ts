/** Paths and comparison helpers shared by the tests. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before } from 'node:test';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (tests run from `dist/test`, compiled). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/**
 * The project's shared fixtures: `$MOBILENET_V2_FIXTURES`, else `fixtures/` of the `shared/` folder
 * that CI places beside the checkout (`../shared/fixtures`).
 */
export const SHARED_FIXTURES = process.env.MOBILENET_V2_FIXTURES
  ? resolve(process.env.MOBILENET_V2_FIXTURES)
  : resolve(REPO_ROOT, '../shared/fixtures');
/** The small subset of the Hugging Face fixtures kept in the repository (`test/fixtures/README.md`). */
export const VENDORED_HF_FIXTURES = resolve(REPO_ROOT, 'test/fixtures/hf');
/** Hugging Face reference fixtures: the shared full set when present, else the vendored subset. */
export const HF_FIXTURES = existsSync(join(SHARED_FIXTURES, 'hf')) ? join(SHARED_FIXTURES, 'hf') : VENDORED_HF_FIXTURES;
/** Google's real TFLite models, photos and reference outputs (shared only). */
export const REAL_FIXTURES = join(SHARED_FIXTURES, 'real');
/** Set (to 1) by CI: a missing fixture fails the test file instead of skipping it. */
export const REQUIRE_FIXTURES = process.env.MOBILENET_V2_REQUIRE_FIXTURES === '1';

/**
 * Test options that skip a `describe`/`it` whose fixture files are missing, like transformers'
 * `@require_*` markers: `describe('...', requireFixtures(join(REAL_FIXTURES, 'models')), ...)`.
 * The skip reason is one line naming the first missing path and how to get it. With
 * `MOBILENET_V2_REQUIRE_FIXTURES=1` (CI) a missing path throws instead, failing the file.
 */
export function requireFixtures(...paths: string[]): { skip?: string } {
  const missing = paths.find((p) => !existsSync(p));
  if (missing === undefined) return {};
  // Paths under the vendored subset stand for the same path in the shared set.
  const name = missing.startsWith(VENDORED_HF_FIXTURES) ? join('hf', relative(VENDORED_HF_FIXTURES, missing)) : relative(SHARED_FIXTURES, missing);
  const reason = `needs the shared fixture ${name}: put the project's shared/ folder beside the checkout (../shared) or set MOBILENET_V2_FIXTURES=<shared>/fixtures`;
  if (REQUIRE_FIXTURES) throw new Error(`MOBILENET_V2_REQUIRE_FIXTURES=1 and the test ${reason}`);
  return { skip: reason };
}

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
