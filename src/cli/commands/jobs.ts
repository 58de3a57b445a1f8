/**
 * `mobilenet-v2 jobs status|results|cancel <submission>`: a detached submission (`submit` without
 * `--wait`) seen from any machine that reaches its Redis. Also the queue options the three job
 * commands (`submit`, `worker`, `jobs`) share.
 */
import type { Command } from 'commander';
import { describeModel } from '../../jobs/payload.js';
import { checkQueueName, DEFAULT_QUEUE, DEFAULT_REDIS_URL, openQueue, queueLibraries, withRedis } from '../../jobs/queue.js';
import { cancelSubmission, findSubmission, submissionProgress, type Submission, type SubmissionProgress } from '../../jobs/results.js';
import { writeResults, type WrittenResults } from '../../jobs/submit.js';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** `--redis` and `--queue`. */
export interface QueueFlags {
  redis: string;
  queue: string;
}

/** Adds `--redis` and `--queue`. */
export function addQueueOptions(command: Command): Command {
  return command
    .option('--redis <url>', 'the Redis server of the queue (redis://[user:password@]host:port[/db], rediss:// for TLS)', DEFAULT_REDIS_URL)
    .option('--queue <name>', 'queue name: submitters and workers of one queue must agree on it', checkQueueName, DEFAULT_QUEUE);
}

/** Runs `body` with the queue of `flags` (connection and queue closed after). */
export async function withQueue<T>(flags: QueueFlags, body: (client: Redis, queue: Queue) => Promise<T>): Promise<T> {
  const libs = await queueLibraries();
  return withRedis(libs, flags.redis, async (client) => {
    const queue = openQueue(libs, client, flags.queue);
    try {
      return await body(client, queue);
    } finally {
      await queue.close();
    }
  });
}

/** After results were written: a summary line on stderr and exit code 1 when some images failed (as `classify` does). */
export function reportFailures(written: WrittenResults): void {
  if (written.failedImages === 0) return;
  const chunks = written.failedChunks.length > 0 ? `, ${written.failedChunks.length} chunk(s) failed for good` : '';
  process.stderr.write(`mobilenet-v2: ${written.failedImages} of ${written.lines} images failed${chunks}; their lines are {"file","error"}\n`);
  process.exitCode = 1;
}

function state(submission: Submission, progress: SubmissionProgress): string {
  return submission.cancelled ? 'cancelled' : progress.finished ? 'finished' : 'running';
}

function statusText(s: Submission, p: SubmissionProgress): string {
  const { spec } = s;
  const lines = [
    `submission ${s.id} (queue ${s.queue}): ${spec.task} with ${describeModel(spec)}, ${spec.images} images in ${spec.chunks} chunks, submitted ${new Date(spec.created).toISOString()}`,
    `${state(s, p)}: ${p.done} of ${spec.chunks} chunks done (${p.images} images), ${p.failed.length} failed`,
    ...p.failed.map((f) => `  chunk ${f.chunk} failed: ${f.reason}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Adds `jobs <name> <submission>` with the queue options. */
function subcommand(jobs: Command, name: string, description: string): Command {
  return addQueueOptions(jobs.command(name).description(description).argument('<submission>', 'the id submit printed'));
}

/** Runs `body` with submission `id` of the queue of `flags`. */
async function withSubmission(id: string, flags: QueueFlags, body: (client: Redis, queue: Queue, submission: Submission) => Promise<void>): Promise<void> {
  await withQueue(flags, async (client, queue) => body(client, queue, await findSubmission(client, queue.name, id)));
}

/** Registers `jobs` and its sub-commands. */
export function register(program: Command): void {
  const jobs = program.command('jobs').description('status, results or cancellation of a submission queued with submit (a detached one: without --wait)');
  subcommand(jobs, 'status', 'how far a submission has got: chunks done and failed (with reasons)')
    .option('--json', 'print {"id","queue","state","task","model","revision","dtype","images","chunks","done_chunks","done_images","failed_chunks":[{"chunk","reason"}]}')
    .action(async (id: string, flags: QueueFlags & { json?: boolean }) => withSubmission(id, flags, async (client, queue, submission) => {
      const progress = await submissionProgress(client, queue, submission);
      if (!flags.json) return void process.stdout.write(statusText(submission, progress));
      const { spec } = submission;
      process.stdout.write(`${JSON.stringify({
        id, queue: queue.name, state: state(submission, progress), task: spec.task, model: spec.model, revision: spec.revision, dtype: spec.dtype,
        images: spec.images, chunks: spec.chunks, done_chunks: progress.done, done_images: progress.images,
        failed_chunks: progress.failed.map(({ chunk, reason }) => ({ chunk, reason })),
      })}\n`);
    }));
  subcommand(jobs, 'results', 'write the results of a finished submission: one JSON line per image, in input order')
    .option('-o, --output <file>', 'write them to this file, completely or not at all (default: stdout)')
    .action(async (id: string, flags: QueueFlags & { output?: string }) => withSubmission(id, flags, async (client, queue, submission) => {
      reportFailures(await writeResults(client, submission, await submissionProgress(client, queue, submission), flags.output));
    }));
  subcommand(jobs, 'cancel', 'cancel a submission: its queued chunks are removed, running ones finish without storing results')
    .action(async (id: string, flags: QueueFlags) => withSubmission(id, flags, async (client, queue, submission) => {
      const { removed, running } = await cancelSubmission(client, queue, submission);
      process.stdout.write(`cancelled submission ${id}: ${removed} queued chunk(s) removed, ${running} running chunk(s) finish without storing results\n`);
    }));
}
