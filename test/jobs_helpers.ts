/**
 * Helpers of the Redis job tests: whether Redis is there, a queue of the test's own (removed after),
 * and CLI processes (workers, submitters) run in the background and watched line by line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { CLI } from './helpers.js';

/** The test Redis: `$MOBILENET_V2_TEST_REDIS`, default the local server. */
export const TEST_REDIS = process.env.MOBILENET_V2_TEST_REDIS ?? 'redis://127.0.0.1:6379';
/** Set (to 1) by CI: a missing Redis fails the job tests instead of skipping them. */
const REQUIRE_REDIS = process.env.MOBILENET_V2_REQUIRE_REDIS === '1';

/** Whether a TCP connection to the test Redis opens within a second. */
function redisListens(): Promise<boolean> {
  const { hostname, port } = new URL(TEST_REDIS);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Test options that skip the job tests, with one line, where no Redis listens; with
 * `MOBILENET_V2_REQUIRE_REDIS=1` (CI) it throws instead, failing the file at once.
 */
export async function requireRedis(): Promise<{ skip?: string }> {
  if (await redisListens()) return {};
  const reason = `the job tests need a Redis server at ${TEST_REDIS} (start redis-server, or set MOBILENET_V2_TEST_REDIS)`;
  if (REQUIRE_REDIS) throw new Error(`MOBILENET_V2_REQUIRE_REDIS=1 and ${reason}`);
  return { skip: reason };
}

/** A queue name of this test's own. */
export function uniqueQueue(label: string): string {
  return `test-${label}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Removes a test queue: BullMQ's keys and the submissions' keys. */
export async function removeQueue(name: string): Promise<void> {
  const [{ Queue }, { Redis }] = await Promise.all([import('bullmq'), import('ioredis')]);
  const client = new Redis(TEST_REDIS, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection: client });
  try {
    await queue.obliterate({ force: true });
    await queue.close();
    for (let cursor = '0'; ;) {
      const [next, keys] = await client.scan(cursor, 'MATCH', `mobilenet-v2:${name}:*`, 'COUNT', 1000);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    client.disconnect();
  }
}

/** Every CLI process started and not yet ended, for {@link killAll}. */
const running = new Set<CliProcess>();

/** Kills every CLI process still running (an `after` hook: a failed assertion must not leave workers behind). */
export async function killAll(): Promise<void> {
  const left = [...running];
  for (const run of left) run.kill('SIGKILL');
  await Promise.all(left.map((run) => run.exited));
}

/** A CLI process run in the background, its stderr watched line by line. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  /** Its exit code (or signal name), once it has ended. */
  readonly exited: Promise<number | string>;
  private readonly watchers: Array<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      this.stdout += text;
    });
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.stderr += text;
      this.check();
    });
    running.add(this);
    this.exited = new Promise((resolve) => this.child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      running.delete(this);
      resolve(code ?? signal ?? -1);
    }));
  }

  private check(): void {
    for (const w of [...this.watchers]) {
      const m = this.stderr.match(w.pattern);
      if (m) {
        this.watchers.splice(this.watchers.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  /** Resolves with the first match of `pattern` in stderr; rejects after `ms` or when the process ends first. */
  waitFor(pattern: RegExp, ms = 60_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${String(pattern)} within ${ms} ms; stderr:\n${this.stderr}`)), ms);
      const settle = (m: RegExpMatchArray): void => {
        clearTimeout(timer);
        resolve(m);
      };
      this.watchers.push({ pattern, resolve: settle });
      this.check();
      void this.exited.then((code) => {
        clearTimeout(timer);
        const m = this.stderr.match(pattern);
        if (m) resolve(m);
        else reject(new Error(`exited (${code}) before ${String(pattern)}; stderr:\n${this.stderr}`));
      });
    });
  }

  /** Ends the process with `signal` if it is still running. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Recovery settings that free a killed worker's chunk within a few seconds (see `worker --help`). */
export const FAST_RECOVERY = ['--lock-duration', '2000', '--stalled-interval', '500', '--max-stalled', '5'];

/** Starts `mobilenet-v2 worker` on `queue` and waits until it is taking jobs. */
export async function startWorker(queue: string, ...args: string[]): Promise<CliProcess> {
  const worker = new CliProcess(['worker', '--redis', TEST_REDIS, '--queue', queue, ...FAST_RECOVERY, ...args]);
  await worker.waitFor(/ready: queue/);
  return worker;
}

/** Runs `mobilenet-v2 ...args` to its end (at most `ms`). */
export async function runCli(args: readonly string[], ms = 120_000): Promise<{ status: number | string; stdout: string; stderr: string }> {
  const run = new CliProcess(args);
  const timer = setTimeout(() => run.kill('SIGKILL'), ms);
  const status = await run.exited;
  clearTimeout(timer);
  return { status, stdout: run.stdout, stderr: run.stderr };
}

/** A TCP relay to the test Redis, to take Redis away from a running process: `cut()` drops every connection and refuses new ones. */
export async function redisRelay(): Promise<{ url: string; cut: () => void }> {
  const { hostname, port } = new URL(TEST_REDIS);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: hostname, port: Number(port || 6379) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
