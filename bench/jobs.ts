/**
 * The batch-job benchmark (`npm run bench -- --jobs`): the same 1000 photos through one `classify`
 * process and through `submit --wait` with 1, 2 and 3 local `worker` processes on the local Redis,
 * in interleaved rounds (the best of each); the queue's overhead per image; and how long a chunk of a worker
 * killed with -9 takes to run again elsewhere with the default lock settings. Workers are started
 * and warmed up (model loaded) before the timed submits, as long-running workers would be.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { link, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { WORKER_DEFAULTS } from '../src/jobs/worker.js';
import { formatTable } from './report.js';
import { FLOWERS, flowerFiles } from './train.js';

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const CLI = join(REPO, 'dist/src/cli/main.js');
const REDIS = process.env.MOBILENET_V2_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
/** Images per run. */
const IMAGES = 1000;
/** Images per job, submit's default. */
const CHUNK = 32;

/** One timed way of running the images. */
export interface JobsRow {
  readonly name: string;
  readonly images: number;
  readonly wall_s: number;
  readonly images_per_s: number;
  /** images/s over one classify process's. */
  readonly vs_classify: number;
}

/** The benchmark's findings. */
export interface JobsBenchmark {
  readonly rows: JobsRow[];
  /** (1-worker submit wall − classify's steady wall) / images, ms. */
  readonly overhead_ms_per_image: number;
  /** Share of the 1-worker `--concurrency 1` run's wall time spent outside chunks (queueing, fetching, storing, polling). */
  readonly outside_chunks_share: number;
  /** Kill -9 of one of 2 workers mid-chunk, default lock settings. */
  readonly recovery: { lock_ms: number; stalled_ms: number; rerun_after_s: number; wall_s: number; lines: number };
  readonly load_average: number[];
}

/**
 * A folder of {@link IMAGES} photos (hard links): the 600 flowers, repeated; the samples where the
 * shared folder is missing. A folder rather than 1000 arguments: a process with more than about
 * 15 KB of arguments dies (SIGSEGV) once it starts an ONNX Runtime worker thread, as `classify`
 * over several images does.
 */
async function photoFolder(dir: string): Promise<string> {
  const pool = existsSync(FLOWERS) ? [...(await flowerFiles()).values()].flat() : ['cat.jpg', 'bird.jpg', 'grace_hopper.jpg'].map((f) => join(REPO, 'samples', f));
  await mkdir(dir);
  for (let i = 0; i < IMAGES; i++) await link(pool[i % pool.length]!, join(dir, `${String(i).padStart(4, '0')}.jpg`));
  return dir;
}

/**
 * Runs the CLI to its end; its wall time in seconds. Asynchronous, so the workers' logs keep
 * being read meanwhile.
 */
async function timed(args: readonly string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const code = await new Promise<number | null>((done) => child.once('close', done));
  if (code !== 0) throw new Error(`mobilenet-v2 ${args[0]} failed: ${stderr.trim().split('\n').slice(-3).join(' ')}`);
  return (performance.now() - started) / 1000;
}

/** A background worker and its log. */
interface Worker {
  readonly child: ChildProcess;
  log: string;
  readonly exited: Promise<void>;
}

function startWorker(queue: string, extra: readonly string[] = []): Promise<Worker> {
  const child = spawn(process.execPath, [CLI, 'worker', '--redis', REDIS, '--queue', queue, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  const worker: Worker = { child, log: '', exited: new Promise((done) => child.once('close', () => done())) };
  return new Promise((ready, fail) => {
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      worker.log += text;
      if (/ready: queue/.test(worker.log)) ready(worker);
    });
    void worker.exited.then(() => fail(new Error(`worker exited: ${worker.log}`)));
  });
}

async function stopWorkers(workers: readonly Worker[]): Promise<void> {
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
}

/** Seconds the chunks of a worker log took, summed ("done, … in X s" lines). */
function chunkSeconds(log: string): number {
  return [...log.matchAll(/: done, \d+ images \(\d+ failed\) in ([\d.]+) s/g)].reduce((s, m) => s + Number(m[1]), 0);
}

async function removeQueue(name: string): Promise<void> {
  const client = new Redis(REDIS, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection: client });
  await queue.obliterate({ force: true });
  await queue.close();
  const keys = await client.keys(`mobilenet-v2:${name}:*`);
  if (keys.length > 0) await client.del(...keys);
  client.disconnect();
}

/** `submit` arguments of `inputs` (files or folders) on `queue`, waiting for the results. */
function submitArgs(queue: string, inputs: readonly string[], output: string): string[] {
  return ['submit', ...inputs, '--task', 'classify', '--redis', REDIS, '--queue', queue, '--chunk', String(CHUNK), '--wait', '-o', output];
}

/** A set of warm workers on a queue of its own. */
interface Fleet {
  readonly name: string;
  readonly queue: string;
  readonly workers: Worker[];
}

/** Starts `count` workers (with `extra` flags) on a fresh queue and loads each one's model. */
async function startFleet(name: string, count: number, extra: readonly string[], files: readonly string[], output: string): Promise<Fleet> {
  const queue = `bench-jobs-${process.pid}-${count}-${extra.length}`;
  const workers = await Promise.all(Array.from({ length: count }, () => startWorker(queue, extra)));
  await timed(submitArgs(queue, files.slice(0, CHUNK * count), output));
  return { name, queue, workers };
}

/** The photos of `folder` through `fleet`: wall time and the share of it its workers spent outside chunks. */
async function fleetRun(fleet: Fleet, folder: string, output: string): Promise<{ wall: number; outside: number }> {
  const before = fleet.workers.map((w) => chunkSeconds(w.log));
  const wall = await timed(submitArgs(fleet.queue, [folder], output));
  await new Promise((r) => setTimeout(r, 100)); // the last "done" lines
  const inChunks = fleet.workers.reduce((s, w, i) => s + chunkSeconds(w.log) - before[i]!, 0);
  return { wall, outside: 1 - inChunks / wall };
}

async function stopFleet(fleet: Fleet): Promise<void> {
  await stopWorkers(fleet.workers);
  await removeQueue(fleet.queue);
}

/** Resolves with the first match of `pattern` in `worker`'s log after `from`; fails after `ms`. */
function logMatch(worker: Worker, pattern: RegExp, from: number, ms: number): Promise<RegExpExecArray> {
  const deadline = performance.now() + ms;
  return new Promise((found, fail) => {
    const look = (): void => {
      const m = pattern.exec(worker.log.slice(from));
      if (m) found(m);
      else if (performance.now() > deadline) fail(new Error(`no ${String(pattern)} within ${ms} ms: ${worker.log.slice(from)}`));
      else setTimeout(look, 2);
    };
    look();
  });
}

/** Two workers with the default lock settings, one killed -9 mid-chunk: when its chunk ran again, and the whole run. */
async function recoveryRun(folder: string, files: readonly string[], output: string): Promise<JobsBenchmark['recovery']> {
  const queue = `bench-jobs-${process.pid}-recovery`;
  const workers = await Promise.all([startWorker(queue), startWorker(queue)]);
  const [victim, survivor] = workers;
  try {
    await timed(submitArgs(queue, files.slice(0, CHUNK * 2), output));
    const from = victim.log.length;
    const submitted = timed(submitArgs(queue, [folder], output));
    // "started" is logged before the chunk's first image is read: killed now, the chunk is in hand.
    const [, chunk] = await logMatch(victim, /chunk (\S+): started/, from, 120_000);
    victim.child.kill('SIGKILL');
    const killed = performance.now();
    await logMatch(survivor, new RegExp(`chunk ${chunk}: started`), 0, 120_000);
    const rerun = performance.now();
    if (new RegExp(`chunk ${chunk}: done`).test(victim.log)) throw new Error(`chunk ${chunk} was done before the kill`);
    const wall = await submitted;
    const lines = readFileSync(output, 'utf8').trimEnd().split('\n').length;
    return { lock_ms: WORKER_DEFAULTS.lockDurationMs, stalled_ms: WORKER_DEFAULTS.stalledIntervalMs, rerun_after_s: round((rerun - killed) / 1000), wall_s: round(wall), lines };
  } finally {
    await stopWorkers(workers);
    await removeQueue(queue);
  }
}

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Runs the job benchmark (results written to a temporary folder); needs the built CLI and Redis at `$MOBILENET_V2_BENCH_REDIS` (default local). */
export async function runJobsBenchmark(options: { log?: (line: string) => void } = {}): Promise<JobsBenchmark> {
  const work = await mkdtemp(join(tmpdir(), 'mnv2-bench-jobs-'));
  try {
    return await measure(await photoFolder(join(work, 'photos')), join(work, 'results.jsonl'), options.log ?? (() => undefined));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Rounds of the interleaved runs; rows report the best (the machine is shared: slower rounds met others' load). */
const ROUNDS = 2;

const best = (xs: readonly number[]): number => Math.min(...xs);

async function measure(folder: string, output: string, log: (line: string) => void): Promise<JobsBenchmark> {
  const files = (await readdir(folder)).sort().map((f) => join(folder, f));
  log(`jobs: starting 7 workers (4 sets) and loading their models`);
  const fleets: Fleet[] = [];
  try {
    for (const [count, extra] of [[1, ['--concurrency', '1']], [1, []], [2, []], [3, []]] as const) {
      fleets.push(await startFleet(`submit --wait, ${count} worker(s)${extra.length ? ', --concurrency 1' : ''}`, count, extra, files, output));
    }
    // Rounds interleave every way of running, so each sees the same machine load (it is shared).
    const classify: number[] = [];
    const starts: number[] = [];
    const runs = fleets.map(() => [] as Array<{ wall: number; outside: number }>);
    for (let r = 1; r <= ROUNDS; r++) {
      log(`jobs: round ${r} of ${ROUNDS}`);
      classify.push(await timed(['classify', '--json', folder]));
      starts.push(await timed(['classify', '--json', files[0]!]));
      for (const [i, fleet] of fleets.entries()) runs[i]!.push(await fleetRun(fleet, folder, output));
    }
    const classifyWall = best(classify);
    const row = (name: string, wall: number): JobsRow => ({ name, images: files.length, wall_s: round(wall), images_per_s: round(files.length / wall, 1), vs_classify: round(classifyWall / wall) });
    const rows = [row('classify (one process)', classifyWall), ...fleets.map((f, i) => row(f.name, best(runs[i]!.map((r) => r.wall))))];
    log('jobs: 2 workers, one killed -9 mid-chunk');
    const recovery = await recoveryRun(folder, files, output);
    return {
      rows,
      overhead_ms_per_image: round(((rows[2]!.wall_s - (classifyWall - best(starts))) / files.length) * 1000),
      outside_chunks_share: round(best(runs[0]!.map((r) => r.outside))),
      recovery,
      load_average: loadavg().map((l) => round(l)),
    };
  } finally {
    for (const fleet of fleets) await stopFleet(fleet);
  }
}

/** The benchmark as text. */
export function formatJobs(result: JobsBenchmark): string {
  const table = formatTable(['run', 'images', 'wall s', 'images/s', 'vs classify'], result.rows.map((r) => [r.name, String(r.images), r.wall_s.toFixed(2), r.images_per_s.toFixed(1), r.vs_classify.toFixed(2)]));
  const r = result.recovery;
  return `${[
    ...table,
    '',
    `queue overhead: ${result.overhead_ms_per_image} ms/image (1 worker vs classify without its start); with one chunk at a time, ${(result.outside_chunks_share * 100).toFixed(0)}% of the wall time is outside chunks`,
    `recovery (lock ${r.lock_ms} ms, stalled check ${r.stalled_ms} ms): the killed worker's chunk ran again ${r.rerun_after_s} s after kill -9; run ${r.wall_s} s, ${r.lines} lines`,
    `load average during the run: ${result.load_average.join(' ')}`,
  ].join('\n')}\n`;
}
