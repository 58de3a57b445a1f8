/**
 * One target's fuzzing loop, run by main.ts in a child process (so that a hang or a crash can be
 * caught and its input kept). Before each input it writes the input to the pending file and tells
 * the parent; after it, it reports the outcome. Outcomes that are findings are saved right here.
 *
 * Usage: node child.js <target> <seconds> <seed>  |  node child.js <target> --replay <file>
 */
import { mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import fc from 'fast-check';
import { FINDINGS_DIR, MAX_RSS_BYTES, pendingFile, saveFinding, type ChildMessage } from './common.js';
import { TARGETS } from './targets/index.js';
import { judge, type Outcome, type Target } from './target.js';

const send = (message: ChildMessage) => process.send?.(message);

/** Exits once `message` has reached the parent (a plain exit could drop it). */
const sendThenExit = (message: ChildMessage, code: number) => process.send?.(message, () => process.exit(code)) ?? process.exit(code);

/** Runs one input and judges it; an over-limit RSS afterwards is a finding too. */
async function runOne(target: Target, input: Uint8Array): Promise<Outcome> {
  let outcome: Outcome;
  try {
    await target.run(input);
    outcome = { kind: 'accepted' };
  } catch (err) {
    outcome = judge(err);
  }
  const rss = process.memoryUsage().rss;
  if (outcome.kind !== 'other' && rss > MAX_RSS_BYTES) {
    outcome = { kind: 'other', error: `RSS ${(rss / 2 ** 20).toFixed(0)} MiB after this input (limit ${MAX_RSS_BYTES / 2 ** 20} MiB)`, signature: 'memory over the RSS limit' };
  }
  return outcome;
}

async function main(): Promise<void> {
  const [name, arg, value] = process.argv.slice(2);
  const target = TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`unknown target ${name}`);
  const inputs = await target.inputs();
  if (arg === '--replay') {
    const outcome = await runOne(target, new Uint8Array(readFileSync(value!)));
    console.log(outcome.kind === 'other' ? `anything else: ${outcome.error}` : outcome.kind);
    process.exit(outcome.kind === 'other' ? 1 : 0);
  }
  mkdirSync(FINDINGS_DIR, { recursive: true });
  // Overwritten in place, never truncated (truncating costs more than fuzzing); the parent reads
  // the length it is told.
  const pending = openSync(pendingFile(target.name), 'w');
  // Errors escaping the awaited call (a stray rejection, an error thrown in a callback) belong to
  // the input at hand.
  let current: Uint8Array | undefined;
  const stray = (err: unknown) => {
    const outcome = judge(err);
    const error = outcome.kind === 'other' ? outcome.error : String(err);
    const file = saveFinding(target.name, current ?? new Uint8Array(), `escaped the call: ${error}`);
    send({ type: 'outcome', outcome: { kind: 'other', error, signature: `escaped the call: ${outcome.kind === 'other' ? outcome.signature : 'MobileNetV2Error'}` }, file });
  };
  process.on('unhandledRejection', stray);
  process.on('uncaughtException', stray);
  await fc.assert(
    fc.asyncProperty(inputs, async (input) => {
      current = input;
      writeSync(pending, input, 0, input.length, 0);
      send({ type: 'start', length: input.length });
      const outcome = await runOne(target, input);
      const file = outcome.kind === 'other' ? saveFinding(target.name, input, outcome.error) : undefined;
      if (outcome.kind === 'other' && outcome.signature === 'memory over the RSS limit') await new Promise(() => sendThenExit({ type: 'outcome', outcome, file }, 3));
      else send({ type: 'outcome', outcome, file });
    }),
    { seed: Number(value), numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: Number(arg) * 1000, markInterruptAsFailure: false },
  );
  sendThenExit({ type: 'end' }, 0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(2);
});
