/**
 * `mobilenet-v2 worker [--model M] [--redis URL] [--queue NAME] [--concurrency N]`: runs the chunks
 * `submit` queues, until SIGTERM or SIGINT (then finishes the chunks in hand and exits 0).
 */
import type { Command } from 'commander';
import { DEFAULT_BATCH_SIZE } from '../../pipelines/base.js';
import { runWorker, WORKER_DEFAULTS } from '../../jobs/worker.js';
import { addModelOptions, positiveInteger, type ModelFlags } from '../support/command_helpers.js';
import { addQueueOptions, type QueueFlags } from './jobs.js';

interface WorkerFlags extends ModelFlags, QueueFlags {
  batchSize: number;
  concurrency: number;
  lockDuration: number;
  stalledInterval: number;
  maxStalled: number;
  reconnectTimeout: number;
}

/** Registers the `worker` command. */
export function register(program: Command): void {
  const command = program.command('worker')
    .description('take image chunks queued by submit from Redis and run them (classify, segment, embed) until SIGTERM; each model is loaded once, at its first job');
  addQueueOptions(addModelOptions(command, 'the built-in model of each task; a job naming another model is refused'))
    .option('-b, --batch-size <n>', 'images per model run', positiveInteger, DEFAULT_BATCH_SIZE)
    .option('--concurrency <n>', 'chunks run at once (two keep the model busy while a chunk starts decoding)', positiveInteger, WORKER_DEFAULTS.concurrency)
    .option('--lock-duration <ms>', "a chunk's lock, renewed while it runs: a dead worker's chunk is freed this long after its last renewal", positiveInteger, WORKER_DEFAULTS.lockDurationMs)
    .option('--stalled-interval <ms>', 'how often freed chunks are looked for and queued again', positiveInteger, WORKER_DEFAULTS.stalledIntervalMs)
    .option('--max-stalled <n>', 'times a chunk may be freed so (its worker died) before it fails for good', positiveInteger, WORKER_DEFAULTS.maxStalled)
    .option('--reconnect-timeout <ms>', 'how long to keep reconnecting to a lost Redis before exiting 1', positiveInteger, WORKER_DEFAULTS.reconnectMs)
    .action(async (flags: WorkerFlags, cmd: Command) => {
      await runWorker({
        ...flags,
        lockDurationMs: flags.lockDuration,
        stalledIntervalMs: flags.stalledInterval,
        reconnectMs: flags.reconnectTimeout,
        verbose: cmd.optsWithGlobals().verbose === true,
      });
    });
}
