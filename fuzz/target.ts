/** What a fuzz target is, and how one input's outcome is judged. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type fc from 'fast-check';
import { ERROR_CODES, MobileNetV2Error } from '../src/errors.js';

/** One parser under fuzzing. Inputs are bytes, so any input can be saved and replayed. */
export interface Target {
  /** Name used on the command line and in finding file names. */
  readonly name: string;
  /** One line: what is fed to what. */
  readonly description: string;
  /** The input generator (loads the seeds once). */
  inputs(): Promise<fc.Arbitrary<Uint8Array>>;
  /** Feeds one input to the parser; resolves when it was accepted, throws what the parser threw. */
  run(input: Uint8Array): Promise<void>;
}

/** Thrown by a target's own checks (e.g. a file written outside the cache): always a finding. */
export class HarnessFinding extends Error {
  override name = 'HarnessFinding';
}

/** Longest error message still fit for one line of CLI output. */
export const MAX_MESSAGE_CHARS = 2000;

/** How one input ended: `clean` is a proper MobileNetV2Error, `other` is a finding. */
export type Outcome = { kind: 'accepted' } | { kind: 'clean' } | { kind: 'other'; error: string; signature: string };

/** Judges what `run` threw: only a one-line MobileNetV2Error with a known code is clean. */
export function judge(err: unknown): Outcome {
  if (err instanceof MobileNetV2Error && err.code in ERROR_CODES && !err.message.includes('\n') && err.message.length <= MAX_MESSAGE_CHARS) {
    return { kind: 'clean' };
  }
  const error = err instanceof Error ? `${err.stack ?? err.message}${causeText(err)}` : `non-Error thrown: ${String(err)}`;
  return { kind: 'other', error, signature: signatureOf(err) };
}

function causeText(err: Error): string {
  return err.cause instanceof Error ? `\ncause: ${err.cause.stack ?? err.cause.message}` : '';
}

/**
 * Groups findings: the error class, what is wrong with it, and the fixed start of its message
 * (quoted names, numbers and everything from the first echoed value on dropped).
 */
function signatureOf(err: unknown): string {
  if (!(err instanceof Error)) return `non-Error ${typeof err}`;
  const template = err.message.replace(/^\S*: /, '').replace(/"[^"\n]*"/g, '<q>').replace(/\d+/g, 'N').replace(/[^\x20-\x7e]+/g, '?').split(/[[{('\n?]|got /)[0]!.slice(0, 60).trim();
  if (err instanceof MobileNetV2Error) {
    const why = !(err.code in ERROR_CODES) ? `unknown code ${err.code}` : err.message.includes('\n') ? 'a multi-line message' : `a message over ${MAX_MESSAGE_CHARS} chars`;
    return `MobileNetV2Error with ${why}: ${template}`;
  }
  return `${err.name}: ${template}`;
}

/** Root of the repository (the harness runs from dist/fuzz). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The shared reference fixtures, beside the checkout. */
export const FIXTURES = resolve(REPO_ROOT, '../shared/fixtures');

/** A seed file from ../shared/fixtures. */
export function fixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(FIXTURES, path)));
}
