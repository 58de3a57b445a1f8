/** The harness's limits, finding files and the messages between main.ts and child.ts. */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, type Outcome } from './target.js';

/** Seconds per target when neither `--seconds` nor FUZZ_SECONDS says otherwise. */
export const DEFAULT_SECONDS = 30;
/** One input running longer than this is a finding (the child is killed, the input kept). */
export const WATCHDOG_MS = 5_000;
/** Resident memory after an input above this is a finding (the child then restarts). */
export const MAX_RSS_BYTES = 1.5 * 2 ** 30;
/** V8 heap limit of the child: a runaway allocation dies there rather than taking the machine. */
export const CHILD_HEAP_MB = 2048;

/** Where findings are written (gitignored). */
export const FINDINGS_DIR = join(REPO_ROOT, 'fuzz/findings');

/** The input a child is running right now, kept so a hang or crash can be saved. */
export function pendingFile(target: string): string {
  return join(FINDINGS_DIR, `.pending-${target}.bin`);
}

/** What a child tells main.ts. */
export type ChildMessage =
  | { type: 'start'; length: number }
  | { type: 'outcome'; outcome: Outcome; file: string | undefined }
  | { type: 'end' };

/** Saves a finding's input and error as `<target>-<hash>.bin` / `.txt`; returns the .bin path. */
export function saveFinding(target: string, input: Uint8Array, error: string): string {
  mkdirSync(FINDINGS_DIR, { recursive: true });
  const base = join(FINDINGS_DIR, `${target}-${createHash('sha256').update(input).digest('hex').slice(0, 12)}`);
  writeFileSync(`${base}.bin`, input);
  writeFileSync(`${base}.txt`, `${error}\n`);
  return `${base}.bin`;
}
