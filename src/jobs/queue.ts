/**
 * Redis and BullMQ for the batch-job commands: loading the optional packages, connecting with
 * bounded timeouts (ioredis would otherwise retry forever), the queue's names and job options, and
 * the Redis keys of a submission.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { MobileNetV2Error } from '../errors.js';
import { oneLine, quote } from '../describe.js';
import { importPeers } from '../node/optional_peer.js';

/** The two optional packages the job commands run on. */
export interface QueueLibraries {
  readonly bullmq: typeof import('bullmq');
  readonly Redis: typeof import('ioredis').Redis;
}

/** What needs the queue's packages, and which they are (for the missing-package line). */
export const QUEUE_PEERS = { what: 'mobilenet-v2 submit, worker and jobs', packages: ['bullmq', 'ioredis'] } as const;

/** Imports bullmq and ioredis, or says which `npm install` brings them. */
export async function queueLibraries(): Promise<QueueLibraries> {
  const [bullmq, ioredis] = await importPeers(QUEUE_PEERS.what, QUEUE_PEERS.packages, () => Promise.all([import('bullmq'), import('ioredis')]));
  return { bullmq, Redis: ioredis.Redis };
}

/** Where Redis is when `--redis` is not given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** The queue when `--queue` is not given. */
export const DEFAULT_QUEUE = 'mobilenet-v2';
/** Milliseconds to open a connection before Redis counts as unreachable. */
const CONNECT_TIMEOUT_MS = 3_000;
/** Seconds a submission's results, and its failed chunks, are kept in Redis (7 days). */
export const KEEP_SECONDS = 7 * 24 * 3600;

/** A queue name: BullMQ forbids `:`; keep to characters that read well in keys and logs. */
const QUEUE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Checks `--queue`. @throws MobileNetV2Error for a name BullMQ or our keys cannot take. */
export function checkQueueName(name: string): string {
  if (!QUEUE_NAME.test(name)) throw new MobileNetV2Error(`--queue ${quote(name)}: a queue name is 1-64 letters, digits, ".", "_" or "-"`);
  return name;
}

/** `url` with any password hidden, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return oneLine(url);
  }
}

/** Checks `--redis`. @throws MobileNetV2Error unless it is a redis:// or rediss:// URL. */
export function checkRedisUrl(url: string): string {
  let protocol = '';
  try {
    protocol = new URL(url).protocol;
  } catch {
    // reported below
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') throw new MobileNetV2Error(`--redis ${quote(redactUrl(url))}: not a redis:// or rediss:// URL`);
  return url;
}

/** Options of {@link connectRedis}. */
export interface ConnectOptions {
  /**
   * For a BullMQ worker: its blocking job fetch needs commands that wait through reconnects
   * (`maxRetriesPerRequest: null`); other clients fail a command after a few reconnects.
   */
  readonly blocking?: boolean;
  /** Milliseconds to keep reconnecting after losing Redis before giving up (the client then ends). */
  readonly reconnectMs: number;
}

function unreachable(url: string, reason: string, cause?: unknown): MobileNetV2Error {
  return new MobileNetV2Error(`cannot reach Redis at ${redactUrl(url)} (${oneLine(reason)}); start redis-server there or pass --redis URL`, {
    code: 'E_QUEUE_UNREACHABLE', cause,
  });
}

/** The last connection error of each client, to say why it was lost. */
const lastErrors = new WeakMap<Redis, string>();

/** The error for a client whose connection was lost and not regained. */
function lost(client: Redis, url: string, cause?: unknown): MobileNetV2Error {
  const why = lastErrors.get(client);
  return unreachable(url, `connection lost${why === undefined ? '' : `: ${why}`}`, cause);
}

/**
 * Opens a Redis connection, failing within {@link CONNECT_TIMEOUT_MS} when Redis is not there.
 * Once open, a lost connection is retried for `reconnectMs`, then given up (the client emits `end`;
 * see {@link whenLost}).
 *
 * @throws MobileNetV2Error (E_QUEUE_UNREACHABLE) naming the URL and the reason.
 */
export async function connectRedis(libs: QueueLibraries, url: string, options: ConnectOptions): Promise<Redis> {
  checkRedisUrl(url);
  let lostSince: number | null = null;
  const client = new libs.Redis(url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // ioredis waits this long for a disconnected socket to close; a refused one never reports it,
    // so the default (2 s) would hold the process up after a failed connect.
    disconnectTimeout: 200,
    maxRetriesPerRequest: options.blocking ? null : 2,
    retryStrategy: (times) => {
      lostSince ??= Date.now();
      return Date.now() - lostSince > options.reconnectMs ? null : Math.min(200 * times, 2_000);
    },
  });
  client.on('error', (err: Error) => {
    lastErrors.set(client, err.message);
  });
  client.on('ready', () => {
    lostSince = null;
  });
  // connect() rejects at the first failed attempt (the reason comes as an 'error' event); a host
  // that swallows packets is cut off by connectTimeout.
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw unreachable(url, lastErrors.get(client) || (err as Error).message, err);
  }
  return client;
}

/** A promise rejected with E_QUEUE_UNREACHABLE when `client` gives up reconnecting (never resolved). */
export function whenLost(client: Redis, url: string): Promise<never> {
  return new Promise((_, reject) => {
    client.once('end', () => reject(lost(client, url)));
  });
}

/**
 * Runs `body` with a Redis client for `url` and closes it after. Commands fail after a few
 * reconnects (a few seconds) rather than wait for Redis to return.
 */
export async function withRedis<T>(libs: QueueLibraries, url: string, body: (client: Redis) => Promise<T>): Promise<T> {
  const client = await connectRedis(libs, url, { reconnectMs: 5_000 });
  try {
    return await Promise.race([body(client), whenLost(client, url)]);
  } catch (err) {
    // A command that failed because the connection did (ioredis' own errors) says so in one line.
    if (err instanceof MobileNetV2Error || client.status === 'ready') throw err;
    throw lost(client, url, err);
  } finally {
    client.disconnect();
  }
}

/** The BullMQ queue `name` on `client` (shared: closing the queue leaves the client open). */
export function openQueue(libs: QueueLibraries, client: Redis, name: string): Queue {
  const queue = new libs.bullmq.Queue(checkQueueName(name), { connection: client });
  // Connection errors also fail the command that meets them, which reports them in one line.
  queue.on('error', () => {});
  return queue;
}

/** The Redis keys of a submission: its description, its results (image index → JSON line) and its finished chunks. */
export interface SubmissionKeys {
  readonly meta: string;
  readonly results: string;
  readonly done: string;
}

/** Keys of submission `id` in queue `queue` (beside BullMQ's own `bull:<queue>:…` keys). */
export function submissionKeys(queue: string, id: string): SubmissionKeys {
  const base = `mobilenet-v2:${queue}:${id}`;
  return { meta: `${base}:meta`, results: `${base}:results`, done: `${base}:done` };
}

/** The BullMQ job id of chunk `chunk` of submission `id`: fixed, so adding a chunk twice adds it once. */
export function chunkJobId(id: string, chunk: number): string {
  return `${id}-${chunk}`;
}

/** The chunk number of a job id of submission `id`, or null for another submission's job. */
export function chunkOfJobId(id: string, jobId: string): number | null {
  const m = jobId.startsWith(`${id}-`) ? /^\d+$/.exec(jobId.slice(id.length + 1)) : null;
  return m ? Number(m[0]) : null;
}
