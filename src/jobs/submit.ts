/**
 * The submitting side: a submission's chunks onto the queue, waiting for them, and its results
 * written as one JSON line per image in input order, completely or not at all.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { MobileNetV2Error } from '../errors.js';
import { writeStreamAtomic } from '../node/write_folder.js';
import { PAYLOAD_VERSION, type ChunkPayload, type JobTask, type ModelRef, type TaskOptions } from './payload.js';
import { chunkJobId, KEEP_SECONDS } from './queue.js';
import {
  checkLive, createSubmission, findSubmission, resultLines, submissionProgress, type FailedChunk, type Submission, type SubmissionProgress,
} from './results.js';

/** What to submit. */
export interface SubmitRequest extends ModelRef {
  readonly task: JobTask;
  readonly options: TaskOptions;
  /** The image files as the user named them (results carry these names). */
  readonly files: readonly string[];
  /** Images per job. */
  readonly chunkSize: number;
  /** Runs of a chunk before it fails for good (with exponential backoff between them). */
  readonly attempts: number;
}

/** The first retry of a failed chunk waits this long; each next one twice as long. */
const BACKOFF_MS = 1_000;
/** Jobs added per Redis round trip. */
const ADD_PAGE = 500;

/** A new submission id: 16 hex digits (also the prefix of its job ids). */
export function newSubmissionId(): string {
  return randomBytes(8).toString('hex');
}

/** The chunk payloads of a request. Paths are made absolute: workers run in other folders. */
function chunkPayloads(id: string, request: SubmitRequest): ChunkPayload[] {
  const chunks: ChunkPayload[] = [];
  for (let start = 0, chunk = 0; start < request.files.length; start += request.chunkSize, chunk++) {
    const images = request.files.slice(start, start + request.chunkSize).map((file) => ({ file, source: { kind: 'path' as const, path: resolve(file) } }));
    chunks.push({
      v: PAYLOAD_VERSION, submission: id, chunk, start, task: request.task, options: request.options,
      model: request.model, revision: request.revision, dtype: request.dtype, images,
    });
  }
  return chunks;
}

/**
 * Records a submission and queues its chunks (one BullMQ job each, with a fixed job id, retried
 * `attempts` times with exponential backoff; done jobs are removed — their results are in the
 * submission's hash — and failed ones kept {@link KEEP_SECONDS} with their reason).
 */
export async function submitImages(client: Redis, queue: Queue, request: SubmitRequest): Promise<Submission> {
  const id = newSubmissionId();
  const payloads = chunkPayloads(id, request);
  const { task, options, model, revision, dtype, chunkSize } = request;
  const submission = await createSubmission(client, queue.name, id, {
    task, options, model, revision, dtype, chunkSize, images: request.files.length, chunks: payloads.length, created: Date.now(),
  });
  for (let i = 0; i < payloads.length; i += ADD_PAGE) {
    await queue.addBulk(payloads.slice(i, i + ADD_PAGE).map((data) => ({
      name: task,
      data,
      opts: {
        jobId: chunkJobId(id, data.chunk),
        attempts: request.attempts,
        backoff: { type: 'exponential', delay: BACKOFF_MS },
        removeOnComplete: true,
        removeOnFail: { age: KEEP_SECONDS },
      },
    })));
  }
  return submission;
}

/** Reports how many images of `total` are done. */
export type ProgressReport = (done: number, total: number) => void;

/** A progress bar on a terminal; elsewhere a line at each further tenth of the images. */
export function progressReport(): { report: ProgressReport; stop: () => void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({ stream: process.stderr, clearOnComplete: true, hideCursor: true, format: ' {bar} {value}/{total} images | {eta_formatted} left' }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      report: (done, total) => {
        if (!started) bar.start(total, done);
        started = true;
        bar.update(done);
      },
      stop: () => bar.stop(),
    };
  }
  let shown = -1;
  return {
    report: (done, total) => {
      const tenth = Math.floor((done * 10) / Math.max(total, 1));
      if (tenth > shown) process.stderr.write(`mobilenet-v2: ${done}/${total} images done\n`);
      shown = Math.max(shown, tenth);
    },
    stop: () => {},
  };
}

/** Milliseconds between looks at a submission's progress while waiting. */
const POLL_MS = 200;

/**
 * Waits until every chunk of `submission` is done or failed for good.
 *
 * @throws MobileNetV2Error (E_SUBMISSION) when it is cancelled meanwhile.
 */
export async function waitForSubmission(client: Redis, queue: Queue, submission: Submission, report: ProgressReport): Promise<SubmissionProgress> {
  for (;;) {
    const current = checkLive(await findSubmission(client, queue.name, submission.id));
    const progress = await submissionProgress(client, queue, current);
    report(progress.images, submission.spec.images);
    if (progress.finished) return progress;
    await delay(POLL_MS);
  }
}

/** `{"file":"…","error":` at the start of a line: a failed image. */
const ERROR_LINE = /^\{"file":"(?:[^"\\]|\\.)*","error":/;

/** What {@link writeResults} wrote. */
export interface WrittenResults {
  readonly lines: number;
  /** Lines that are `{"file","error"}`, failed chunks' images included. */
  readonly failedImages: number;
  readonly failedChunks: readonly FailedChunk[];
}

/**
 * Writes the results of a finished submission, one JSON line per image in input order: to
 * `output` completely or not at all, or (no `output`) to stdout.
 *
 * @throws MobileNetV2Error (E_SUBMISSION) when it is cancelled or not finished, (E_FILE_WRITE) when `output`
 *   cannot be written.
 */
export async function writeResults(client: Redis, submission: Submission, progress: SubmissionProgress, output: string | undefined): Promise<WrittenResults> {
  checkLive(submission);
  if (!progress.finished) {
    throw new MobileNetV2Error(`submission ${submission.id} is not finished: ${progress.images} of ${submission.spec.images} images done; wait with jobs status ${submission.id}`, { code: 'E_SUBMISSION' });
  }
  let lines = 0;
  let failedImages = 0;
  async function* counted(): AsyncGenerator<string> {
    for await (const page of resultLines(client, submission, progress.failed)) {
      for (const line of page.split('\n')) {
        if (line === '') continue;
        lines++;
        if (ERROR_LINE.test(line)) failedImages++;
      }
      yield page;
    }
  }
  if (output !== undefined) await writeStreamAtomic(output, counted());
  else for await (const page of counted()) process.stdout.write(page);
  return { lines, failedImages, failedChunks: progress.failed };
}

/** Deletes a collected submission: its keys and its failed jobs. */
export async function removeSubmission(client: Redis, queue: Queue, submission: Submission, failed: readonly FailedChunk[]): Promise<void> {
  for (const f of failed) await queue.remove(chunkJobId(submission.id, f.chunk));
  await client.del(submission.keys.meta, submission.keys.results, submission.keys.done);
}
