/**
 * `npm run fuzz`: runs every target (or `--target`) for a time budget in a child process with a
 * heap limit, watches each input's time, and prints per target how many inputs ran and how they
 * ended: a clean MobileNetV2Error, accepted, or anything else (a finding, saved under
 * fuzz/findings/). Exits 1 when there was anything else. See fuzz/README.md.
 */
import { fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CHILD_HEAP_MB, DEFAULT_SECONDS, pendingFile, saveFinding, WATCHDOG_MS, type ChildMessage } from './common.js';
import { TARGETS } from './targets/index.js';

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

/** Tally of one target. */
interface Tally {
  runs: number;
  clean: number;
  accepted: number;
  other: number;
  /** Distinct findings: signature → count and one saved input. */
  readonly findings: Map<string, { count: number; file: string }>;
}

/** One child's life: runs until its budget ends, it is killed by the watchdog, or it dies. */
function runChild(name: string, seconds: number, seed: number, tally: Tally): Promise<void> {
  const child = fork(CHILD, [name, String(seconds), String(seed)], {
    execArgv: [`--max-old-space-size=${CHILD_HEAP_MB}`],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let watchdog: NodeJS.Timeout | undefined;
  let running = false;
  let length = 0;
  let ended = false;
  const record = (signature: string, file: string | undefined) => {
    tally.other++;
    const seen = tally.findings.get(signature);
    if (seen) seen.count++;
    else tally.findings.set(signature, { count: 1, file: file ?? '(input not saved)' });
  };
  child.on('message', (m: ChildMessage) => {
    if (m.type === 'start') {
      running = true;
      length = m.length;
      watchdog = setTimeout(() => child.kill('SIGKILL'), WATCHDOG_MS);
    } else if (m.type === 'outcome') {
      clearTimeout(watchdog);
      running = false;
      tally.runs++;
      if (m.outcome.kind === 'other') record(m.outcome.signature, m.file);
      else tally[m.outcome.kind]++;
    } else ended = true;
  });
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      if (ended) return resolve();
      // Killed by the watchdog, out of memory, or a native crash: the pending input is the culprit.
      const pending = pendingFile(name);
      const input = running && existsSync(pending) ? new Uint8Array(readFileSync(pending)).subarray(0, length) : undefined;
      if (code === 2 && !running) {
        console.error(`harness error in target ${name}:\n${stderr}`);
        tally.other++;
        return resolve();
      }
      const why = signal === 'SIGKILL' && running ? `no result within ${WATCHDOG_MS / 1000} s` : `child died (code ${code}, signal ${signal})`;
      if (running) tally.runs++;
      if (code !== 3) record(why, input && saveFinding(name, input, `${why}\n${stderr}`));
      resolve();
    });
  });
}

/** Fuzzes one target for `seconds`, restarting the child after a hang or crash. */
async function fuzzTarget(name: string, seconds: number, seed: number): Promise<Tally> {
  const tally: Tally = { runs: 0, clean: 0, accepted: 0, other: 0, findings: new Map() };
  const end = Date.now() + seconds * 1000;
  // After a restart the next seed, so the same input is not run again at once.
  for (let s = seed; Date.now() < end - 500; s++) await runChild(name, (end - Date.now()) / 1000, s, tally);
  return tally;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', multiple: true },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      replay: { type: 'string' },
      list: { type: 'boolean' },
    },
  });
  if (values.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(12)} ${t.description}`);
    return 0;
  }
  const names = values.target?.flatMap((t) => t.split(',')) ?? TARGETS.map((t) => t.name);
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length) throw new Error(`unknown target ${unknown.join(', ')}; --list shows them`);
  if (values.replay !== undefined) {
    const child = fork(CHILD, [names[0]!, '--replay', values.replay], { execArgv: [`--max-old-space-size=${CHILD_HEAP_MB}`] });
    const watchdog = setTimeout(() => {
      console.log(`anything else: no result within ${WATCHDOG_MS / 1000} s`);
      child.kill('SIGKILL');
    }, WATCHDOG_MS);
    return new Promise((resolve) => child.on('exit', (code) => resolve(clearTimeout(watchdog) ?? code ?? 1)));
  }
  const seconds = Number(values.seconds ?? process.env['FUZZ_SECONDS'] ?? DEFAULT_SECONDS);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!(seconds > 0) || !Number.isInteger(seed)) throw new Error('--seconds must be positive and --seed an integer');
  console.log(`fuzzing ${names.length} target(s), ${seconds} s each, --seed ${seed}`);
  let failed = false;
  for (const name of names) {
    const t = await fuzzTarget(name, seconds, seed);
    console.log(`${name.padEnd(12)} ${t.runs} inputs: ${t.clean} clean MobileNetV2Error, ${t.accepted} accepted, ${t.other} anything else`);
    for (const [signature, { count, file }] of t.findings) console.log(`  ${count}× ${signature}\n     → ${file}`);
    failed ||= t.other > 0;
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
