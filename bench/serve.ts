/**
 * The serve benchmark (`mobilenet-v2 bench --serve`, part of a full `npm run bench`):
 * `mobilenet-v2 serve` in its own process on 127.0.0.1, loaded by autocannon from this one with the
 * benchmark photos on POST /v1/classify. Throughput and p50/p99 latency at 1, 8, 32 and 128
 * concurrent clients, with dynamic batching (--max-batch 8) and without (--max-batch 1); p99/p50
 * at half the saturating rate; 10× overload (answers by status, the server's peak RSS); and as the
 * reference, the same photos through `classify` in one process (the pipelined batch runner, as the
 * `classify-pipelined` row of the main benchmark). On a small machine the load generator shares
 * the cores with the server, which the ratios cannot remove: read them with the machine's load.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planThreads } from '../src/processing/prepare_pool_node.js';
import { DEFAULT_MODEL_DIR, photos } from './harness.js';
import { WorkerHandle } from './pool.js';
import { formatGoal, formatTable, goal, median, type Ratio } from './report.js';

const CLI = join(resolve(fileURLToPath(new URL('.', import.meta.url)), '../..'), 'dist/src/cli/main.js');
const CLIENTS = [1, 8, 32, 128];
/**
 * The overload: this many closed-loop connections (each sends again as soon as it is answered; a
 * 429 comes back at once, so the offered rate is many times what the server can run — the report
 * gives the factor), against the default --max-queue 256.
 */
const OVERLOAD_CONNECTIONS = 512;
/** The overload the goals ask for, in multiples of the saturating rate. */
const OVERLOAD_FACTOR = 10;
/** Photos per reference `classify` run (the photo list repeated). */
const REFERENCE_IMAGES = 100;

/** Options of {@link runServeBenchmark}. */
export interface ServeBenchOptions {
  /** Classification checkpoint folder (default: the shipped one). */
  readonly model?: string;
  /** One round of 2 s per load point instead of three of 4 s. */
  readonly quick?: boolean;
  readonly log?: (line: string) => void;
}

/** One load point. */
export interface ServeLoadRow {
  /** `batched` (--max-batch 8) or `unbatched` (--max-batch 1). */
  readonly server: 'batched' | 'unbatched';
  readonly clients: number;
  /** Offered requests/s (open loop: `clients` is then the number of requests), or null for closed-loop clients (each sends its next request on an answer). */
  readonly rate: number | null;
  /** 200 answers per second, after the first second. */
  readonly images_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  /** Answers per second, every status, over the whole run. */
  readonly answered_per_s: number;
  /** Answers by HTTP status, plus `error` for connection errors and timeouts. */
  readonly statuses: Readonly<Record<string, number>>;
}

/** Everything the serve benchmark measured. */
export interface ServeBenchReport {
  /** The same photos through `classify` in one process. */
  readonly reference_images_per_s: number;
  readonly rows: ServeLoadRow[];
  readonly half_load: ServeLoadRow;
  readonly overload: ServeLoadRow & { readonly peak_rss_mb: number };
  readonly ratios: Ratio[];
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    }).on('error', reject);
  });
}

/** A `mobilenet-v2 serve` process. */
class ServerProcess {
  private constructor(private readonly child: ChildProcess, readonly url: string) {}

  static async start(args: readonly string[]): Promise<ServerProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--log-level', 'warn', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    const server = new ServerProcess(child, `http://127.0.0.1:${port}`);
    for (let i = 0; i < 1200; i++) {
      if (child.exitCode !== null) throw new Error(`mobilenet-v2 serve exited with code ${child.exitCode}`);
      if (await fetch(`${server.url}/v2/health/ready`).then((r) => r.ok, () => false)) return server;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill();
    throw new Error('mobilenet-v2 serve was not ready within 120 s');
  }

  /** Peak resident memory of the server so far (Linux), in MB. */
  async peakRssMb(): Promise<number> {
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8').catch(() => '');
    const kb = /VmHWM:\s*(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? NaN : Number(kb) / 1024;
  }

  /** SIGTERM, then waits for the exit. */
  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** The `q` quantile of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}

/**
 * Loads the server with the photos for `settle + seconds` seconds (each client cycles through
 * them) and sums up the answers: all of them by status, throughput and latency of the 200s after
 * the first `settle` seconds (while the queue fills, completions lag the load).
 */
async function load(
  server: ServerProcess, name: ServeLoadRow['server'], bodies: readonly Buffer[], clients: number, seconds: number, rate: number | null, settle = 1,
): Promise<ServeLoadRow> {
  const running = autocannon({
    url: server.url, connections: clients, duration: settle + seconds, timeout: 30,
    ...(rate !== null ? { overallRate: Math.max(1, Math.round(rate)) } : {}),
    requests: bodies.map((body) => ({ method: 'POST', path: '/v1/classify', headers: { 'content-type': 'application/octet-stream' }, body })),
  });
  const started = performance.now();
  const latencies: number[] = [];
  running.on('response', (_client, status, _bytes, ms) => {
    if (status === 200 && performance.now() - started >= settle * 1000) latencies.push(ms);
  });
  const result = await running;
  const statuses: Record<string, number> = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, Number(s.count)]));
  if (result.errors > 0) statuses.error = result.errors;
  latencies.sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 10) / 10;
  return {
    server: name, clients, rate: rate === null ? null : Math.round(rate), images_per_s: round(latencies.length / (result.duration - settle)),
    p50_ms: round(quantile(latencies, 0.5)), p99_ms: round(quantile(latencies, 0.99)),
    answered_per_s: round(Object.values(statuses).reduce((a, b) => a + b, 0) / result.duration), statuses,
  };
}

/**
 * Open-loop load at `rate` requests/s for `settle + seconds`: requests evenly spaced, each sent on
 * time whether or not earlier ones were answered (autocannon's rate limit sends every connection's
 * requests at the same instant, a burst that would measure itself); latency of the 200s sent after
 * the first `settle` seconds (an idle server first restarts its decode worker).
 */
async function openLoop(server: ServerProcess, bodies: readonly Buffer[], rate: number, seconds: number, settle = 1): Promise<ServeLoadRow> {
  const count = Math.max(1, Math.round(rate * (settle + seconds)));
  const started = performance.now();
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  await Promise.all(Array.from({ length: count }, async (_, i) => {
    await new Promise((r) => setTimeout(r, started + (1000 * i) / rate - performance.now()));
    const sent = performance.now();
    const status = await fetch(`${server.url}/v1/classify`, {
      method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(bodies[i % bodies.length]!),
    }).then(async (r) => (await r.arrayBuffer(), String(r.status)), () => 'error');
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === '200' && sent - started >= settle * 1000) latencies.push(performance.now() - sent);
  }));
  latencies.sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 10) / 10;
  const elapsed = (performance.now() - started) / 1000;
  return {
    server: 'batched', clients: count, rate: Math.round(rate), images_per_s: round(latencies.length / (elapsed - settle)), p50_ms: round(quantile(latencies, 0.5)),
    p99_ms: round(quantile(latencies, 0.99)), answered_per_s: round(count / elapsed), statuses,
  };
}

/** The reference: `classify` on the photos (batch runner, model in a worker thread), in a process of its own. */
async function startReference(modelDir: string, photoList: readonly string[]): Promise<WorkerHandle> {
  const files = Array.from({ length: REFERENCE_IMAGES }, (_, i) => photoList[i % photoList.length]!);
  const handle = await WorkerHandle.start({
    engine: 'classify-pipelined', batch: 8, size: 224, threads: planThreads().modelThreads, modelDir, onnxPath: '', photos: files,
  });
  await handle.run(1); // warm-up
  return handle;
}

/** One row per server and client count from the rounds' rows: medians, statuses summed. */
function combine(rounds: readonly ServeLoadRow[]): ServeLoadRow[] {
  const groups = new Map<string, ServeLoadRow[]>();
  for (const r of rounds) groups.set(`${r.server} ${r.clients}`, [...(groups.get(`${r.server} ${r.clients}`) ?? []), r]);
  return [...groups.values()].map((g) => {
    const statuses: Record<string, number> = {};
    for (const r of g) for (const [code, n] of Object.entries(r.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
    return {
      ...g[0]!, statuses,
      images_per_s: median(g.map((r) => r.images_per_s)), answered_per_s: median(g.map((r) => r.answered_per_s)), p50_ms: median(g.map((r) => r.p50_ms)), p99_ms: median(g.map((r) => r.p99_ms)),
    };
  }).sort((a, b) => a.server.localeCompare(b.server) || a.clients - b.clients);
}

/**
 * Runs the serve benchmark. The reference and both servers (batched, unbatched) are started
 * together and measured in turns, round after round (the starting server alternating), so that
 * each sees the same machine load; rows report medians over the rounds.
 */
export async function runServeBenchmark(options: ServeBenchOptions = {}): Promise<ServeBenchReport> {
  const log = options.log ?? (() => undefined);
  const quick = options.quick ?? false;
  const [rounds, seconds] = quick ? [1, 2] : [3, 4];
  const modelDir = resolve(options.model ?? DEFAULT_MODEL_DIR);
  const photoList = await photos();
  const bodies = await Promise.all(photoList.map((p) => readFile(p)));
  log(`serve: starting classify (${REFERENCE_IMAGES} photo files per run) and two servers, --max-batch 8 and 1`);
  const reference = await startReference(modelDir, photoList);
  const servers: Array<[ServeLoadRow['server'], ServerProcess]> = [];
  try {
    for (const [name, maxBatch] of [['batched', 8], ['unbatched', 1]] as const) {
      const server = await ServerProcess.start(['--model', modelDir, '--max-batch', String(maxBatch)]);
      servers.push([name, server]);
      await load(server, name, bodies, 8, 1, null); // warm-up: JIT, decode worker start
    }
    const referenceRates: number[] = [];
    const measured: ServeLoadRow[] = [];
    for (let round = 0; round < rounds; round++) {
      log(`serve: round ${round + 1}/${rounds}: ${CLIENTS.join('/')} clients on each server, ${seconds} s each (classify just before 32)`);
      for (const clients of CLIENTS) {
        // The goal compares 32 clients with classify: measured next to each other.
        if (clients === 32) referenceRates.push((1000 * reference.imagesPerCall) / median(await reference.run(1)));
        const order = round % 2 ? [...servers].reverse() : servers;
        for (const [name, server] of order) measured.push(await load(server, name, bodies, clients, seconds, null));
      }
    }
    const rows = combine(measured);
    const batched = servers[0]![1];
    const saturated = Math.max(...rows.filter((r) => r.server === 'batched').map((r) => r.images_per_s));
    log(`serve: half the saturating rate (${Math.round(saturated / 2)}/s), then ${OVERLOAD_CONNECTIONS} clients`);
    await load(batched, 'batched', bodies, 8, 1, null); // busy again after its turn off
    const halfLoad = await openLoop(batched, bodies, saturated / 2, 2 * seconds);
    const over = await load(batched, 'batched', bodies, OVERLOAD_CONNECTIONS, 2 * seconds, null);
    const overload = { ...over, peak_rss_mb: Math.round(await batched.peakRssMb()) };
    const at = (name: ServeLoadRow['server'], clients: number): ServeLoadRow => rows.find((r) => r.server === name && r.clients === clients)!;
    const unexpected = Object.entries(overload.statuses).filter(([code]) => code !== '200' && code !== '429').reduce((n, [, count]) => n + count, 0);
    const referenceRate = median(referenceRates);
    const ratios = [
      goal(`overload offered: requests answered per second / saturating images per second`, overload.answered_per_s / saturated, OVERLOAD_FACTOR, '>='),
      goal('serve images/s at 32 clients / classify in one process', at('batched', 32).images_per_s / referenceRate, 0.9, '>='),
      goal('serve p99 / p50 at half the saturating rate', halfLoad.p99_ms / halfLoad.p50_ms, 2, '<='),
      goal('serve images/s at 32 clients: batched / unbatched', at('batched', 32).images_per_s / at('unbatched', 32).images_per_s, 1.3, '>='),
      goal(`answers other than 200/429 under ${OVERLOAD_FACTOR}× overload`, unexpected, 0, '<='),
      goal(`server peak RSS MB under ${OVERLOAD_FACTOR}× overload`, overload.peak_rss_mb, 1024, '<='),
    ];
    return { reference_images_per_s: Math.round(referenceRate * 10) / 10, rows, half_load: halfLoad, overload, ratios };
  } finally {
    await reference.close();
    await Promise.all(servers.map(([, server]) => server.stop()));
  }
}

/** The serve report as text: the load table, the overload line, the goals. */
export function formatServeReport(report: ServeBenchReport): string {
  const statuses = (r: ServeLoadRow): string => Object.entries(r.statuses).map(([code, n]) => `${code}:${n}`).join(' ');
  const line = (r: ServeLoadRow): string[] => [
    r.server, r.rate === null ? String(r.clients) : '', r.rate === null ? 'closed loop' : `${r.rate}/s open loop`, r.images_per_s.toFixed(1), r.p50_ms.toFixed(1), r.p99_ms.toFixed(1), statuses(r),
  ];
  const table = formatTable(['server', 'clients', 'offered', 'images/s', 'p50 ms', 'p99 ms', 'answers'],
    [...report.rows.map(line), line(report.half_load), line(report.overload)]);
  return [
    `classify in one process (reference): ${report.reference_images_per_s.toFixed(1)} images/s`,
    ...table,
    `overload (${report.overload.clients} clients): ${report.overload.answered_per_s} answers/s, server peak RSS ${report.overload.peak_rss_mb} MB`,
    '',
    ...report.ratios.map(formatGoal),
    '',
  ].join('\n');
}
