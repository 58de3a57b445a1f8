/** Paths and comparison helpers shared by the tests. */
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (tests run from `dist/test`, compiled). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The project's `shared/` folder, which CI places beside the checkout. */
export const SHARED = resolve(REPO_ROOT, '../shared');
/** Hugging Face reference fixtures. */
export const HF_FIXTURES = resolve(SHARED, 'fixtures/hf');
/** Google's real TFLite models, photos and reference outputs. */
export const REAL_FIXTURES = resolve(SHARED, 'fixtures/real');

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
