/**
 * `mobilenet-v2 worker`: takes chunks from a BullMQ queue until SIGTERM/SIGINT, runs each through
 * the same batched, pipelined path as `classify`/`segment`/`embed` (`runBatches`), and stores one
 * result line per image in the submission's Redis hash, keyed by image, so a chunk run twice
 * overwrites its lines.
 *
 * Refusals: a payload it cannot read, or a job asking for another model (or dtype) than the one
 * this worker serves, or a task its model cannot do, fails at once (BullMQ's UnrecoverableError:
 * no retries) with the reason in the failed set. A worker never runs a job with another model than
 * the job names; see the README ("Many machines") for why a refusal fails rather than waits.
 */
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { MobileNetV2Error } from '../errors.js';
import { resolveModelFiles } from '../hub/resolve_node.js';
import { failureReason, runBatches } from '../cli/support/batch_runner.js';
import type { ModelFlags } from '../cli/support/command_helpers.js';
import { describeModel, modelMismatch, modelRef, parseChunk, type ChunkPayload, type ModelRef } from './payload.js';
import { connectRedis, queueLibraries, redactUrl, submissionKeys, whenLost, type QueueLibraries } from './queue.js';
import { isCancelled, storeChunk } from './results.js';
import { TaskModels, type TaskRunner } from './tasks.js';

/** Defaults of the worker's recovery settings (see {@link WorkerOptions}). */
export const WORKER_DEFAULTS = { concurrency: 2, lockDurationMs: 10_000, stalledIntervalMs: 5_000, maxStalled: 1, reconnectMs: 60_000 } as const;

/** Options of {@link runWorker}. */
export interface WorkerOptions extends ModelFlags {
  readonly redis: string;
  readonly queue: string;
  /**
   * Chunks run at once. Two by default: each chunk starts by decoding its first batch with the
   * model idle, and a second chunk in flight fills that gap (on 2 cores, 1000 photos: 10.4 s with
   * one, 9.0 s with two, `classify` 8.6 s).
   */
  readonly concurrency: number;
  /** Images per model run. */
  readonly batchSize: number;
  /**
   * How long a chunk's lock lasts without renewal (renewed every half of it while the chunk runs):
   * a worker that dies (kill -9, a lost machine) lets its chunk go after this long.
   */
  readonly lockDurationMs: number;
  /** How often workers look for chunks whose lock has expired, and put them back in the queue. */
  readonly stalledIntervalMs: number;
  /** How many times a chunk may be recovered so before it fails (a chunk that kills its workers). */
  readonly maxStalled: number;
  /** How long to keep reconnecting to a lost Redis before giving up (the worker then exits 1). */
  readonly reconnectMs: number;
  /** Print stack traces of failed images. */
  readonly verbose?: boolean;
  /** Where progress lines go (default: stderr). */
  readonly log?: (line: string) => void;
}

/** Runs a chunk's images; the result line of each, keyed by its index in the submission. */
async function runChunk(runner: TaskRunner, payload: ChunkPayload, options: WorkerOptions): Promise<{ lines: Map<number, string>; failed: number }> {
  const lines = new Map<number, string>();
  // runBatches reports every image once, done or failed, in file order: the k-th report is image k.
  let k = 0;
  const record = (result: object): void => {
    const image = payload.images[k]!;
    lines.set(payload.start + k, JSON.stringify({ file: image.file, ...result }));
    k++;
  };
  const summary = await runBatches({
    files: payload.images.map((image) => image.source.path),
    batchSize: options.batchSize,
    verbose: options.verbose,
    prepare: runner.prepare,
    run: (images) => runner.run(images, payload.options),
    done: (_file, _image, result) => record(result),
    failed: (file, err) => record({ error: failureReason(file, err) }),
  });
  return { lines, failed: summary.failed };
}

/**
 * Checks `--model` before taking jobs (a typo fails now, not at every job).
 *
 * @throws MobileNetV2Error when it names no model folder or hub model.
 */
async function checkModel(flags: ModelFlags): Promise<void> {
  if (flags.model === undefined) return;
  const files = await resolveModelFiles(flags.model, flags.revision === undefined ? {} : { revision: flags.revision });
  if ((await files.read('config.json')) === null) throw new MobileNetV2Error(`--model ${files.description}: no config.json there`, { code: 'E_FILE_NOT_FOUND' });
}

/** The job handler of a worker. */
function chunkProcessor(libs: QueueLibraries, options: WorkerOptions, served: ModelRef, models: TaskModels, client: Redis, log: (line: string) => void) {
  const refuse = (job: Job, reason: string): never => {
    log(`chunk ${job.id}: refused: ${reason}`);
    throw new libs.bullmq.UnrecoverableError(reason);
  };
  return async (job: Job): Promise<void> => {
    let payload: ChunkPayload;
    try {
      payload = parseChunk(job.data);
    } catch (err) {
      return refuse(job, (err as Error).message);
    }
    const keys = submissionKeys(options.queue, payload.submission);
    if (await isCancelled(client, keys)) {
      log(`chunk ${job.id}: submission ${payload.submission} cancelled or expired; skipped`);
      return;
    }
    const mismatch = modelMismatch(served, payload);
    if (mismatch !== null) return refuse(job, mismatch);
    const started = performance.now();
    log(`chunk ${job.id}: started, ${payload.images.length} images to ${payload.task} (attempt ${job.attemptsStarted})`);
    let runner: TaskRunner;
    try {
      runner = await models.get(payload.task);
    } catch (err) {
      if (err instanceof MobileNetV2Error && err.code === 'E_CHECKPOINT_MISMATCH') return refuse(job, `this worker's ${describeModel(served)} cannot ${payload.task}: ${err.message}`);
      throw err;
    }
    const { lines, failed } = await runChunk(runner, payload, options);
    const stored = await storeChunk(client, keys, payload.chunk, lines);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    log(`chunk ${job.id}: done, ${lines.size} images (${failed} failed) in ${seconds} s${stored ? '' : '; submission cancelled, results dropped'}`);
  };
}

/**
 * Takes jobs from `options.queue` until SIGTERM or SIGINT, then finishes the chunks in hand and
 * returns (a second signal ends the process at once).
 *
 * @throws MobileNetV2Error (E_QUEUE_UNREACHABLE) when Redis cannot be reached at start, or is lost
 *   for longer than `reconnectMs`; (E_FILE_NOT_FOUND …) for a `--model` that names no model.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const log = options.log ?? ((line: string) => void process.stderr.write(`${new Date().toISOString()} worker ${process.pid}: ${line}\n`));
  const libs = await queueLibraries();
  await checkModel(options);
  const client = await connectRedis(libs, options.redis, { blocking: true, reconnectMs: options.reconnectMs });
  const models = new TaskModels(options);
  const served = modelRef(options);
  let lastError = '';
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const stop = new Promise<void>((resolve) => {
    onSignal = (signal) => {
      log(`${signal}: finishing the chunks in hand, then exiting`);
      resolve();
    };
  });
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const worker = new libs.bullmq.Worker(options.queue, chunkProcessor(libs, options, served, models, client, log), {
    connection: client,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.stalledIntervalMs,
    maxStalledCount: options.maxStalled,
  });
  worker.on('error', (err: Error) => {
    // A Redis outage repeats the same error on every retry: say it once.
    if (err.message !== lastError) log(`queue error: ${err.message}`);
    lastError = err.message;
  });
  worker.on('failed', (job: Job | undefined, err: Error) => {
    if (job && !(err instanceof libs.bullmq.UnrecoverableError)) log(`chunk ${job.id}: failed (attempt ${job.attemptsMade} of ${job.opts.attempts ?? 1}): ${err.message}`);
  });
  log(`ready: queue ${options.queue} at ${redactUrl(options.redis)}, ${describeModel(served)}, ${options.concurrency} chunk(s) at a time`);
  let lost = false;
  try {
    await Promise.race([stop, whenLost(client, options.redis).catch((err: unknown) => {
      lost = true;
      throw err;
    })]);
  } finally {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    // Without Redis nothing can be finished: close without waiting for the chunks in hand.
    await worker.close(lost);
    await models.dispose();
    client.disconnect();
  }
}
