/**
 * A submission's state in Redis, beside BullMQ's jobs: what was submitted (`meta`), the result of
 * every image keyed by its index (`results`: a hash, so a chunk that runs twice — a worker killed
 * mid-chunk, a lock that expired — overwrites its lines instead of adding them: exactly-once
 * results from at-least-once runs), and the chunks finished (`done`).
 */
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { MobileNetV2Error } from '../errors.js';
import { oneLine } from '../describe.js';
import type { JobTask, ModelRef, TaskOptions } from './payload.js';
import { chunkJobId, chunkOfJobId, KEEP_SECONDS, submissionKeys, type SubmissionKeys } from './queue.js';

/** What was submitted. */
export interface SubmissionSpec extends ModelRef {
  readonly task: JobTask;
  readonly options: TaskOptions;
  readonly images: number;
  readonly chunkSize: number;
  readonly chunks: number;
  /** When it was submitted (ms since the epoch). */
  readonly created: number;
}

/** A submission as found in Redis. */
export interface Submission {
  readonly id: string;
  readonly queue: string;
  readonly keys: SubmissionKeys;
  readonly spec: SubmissionSpec;
  readonly cancelled: boolean;
}

/** Records a new submission (before its chunks are queued), kept {@link KEEP_SECONDS}. */
export async function createSubmission(client: Redis, queue: string, id: string, spec: SubmissionSpec): Promise<Submission> {
  const keys = submissionKeys(queue, id);
  await client.multi().hset(keys.meta, 'spec', JSON.stringify(spec)).expire(keys.meta, KEEP_SECONDS).exec();
  return { id, queue, keys, spec, cancelled: false };
}

/**
 * The submission `id` of `queue`.
 *
 * @throws MobileNetV2Error (E_SUBMISSION) when there is none (another queue, or expired).
 */
export async function findSubmission(client: Redis, queue: string, id: string): Promise<Submission> {
  const keys = submissionKeys(queue, id);
  const [spec, cancelled] = await client.hmget(keys.meta, 'spec', 'cancelled');
  if (spec === null || spec === undefined) {
    throw new MobileNetV2Error(`no submission ${oneLine(id, 80)} in queue ${queue} (another --queue, or older than ${KEEP_SECONDS / 86400} days?)`, { code: 'E_SUBMISSION' });
  }
  return { id, queue, keys, spec: JSON.parse(spec) as SubmissionSpec, cancelled: cancelled === '1' };
}

/** Returns `submission` unless it was cancelled. @throws MobileNetV2Error (E_SUBMISSION) when it was. */
export function checkLive(submission: Submission): Submission {
  if (submission.cancelled) throw new MobileNetV2Error(`submission ${submission.id} was cancelled`, { code: 'E_SUBMISSION' });
  return submission;
}

/**
 * Stores a chunk's result lines and marks it done, in one step, unless the submission was
 * cancelled or has expired (then nothing is written). KEYS: meta, results, done; ARGV: chunk,
 * seconds to keep, then index/line pairs.
 */
const STORE_CHUNK = `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HGET', KEYS[1], 'cancelled') == '1' then return 0 end
if #ARGV > 2 then redis.call('HSET', KEYS[2], unpack(ARGV, 3)) end
redis.call('SADD', KEYS[3], ARGV[1])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return 1
`;

/** Stores the result lines (image index → JSON line) of one chunk; false when the submission is gone or cancelled. */
export async function storeChunk(client: Redis, keys: SubmissionKeys, chunk: number, lines: ReadonlyMap<number, string>): Promise<boolean> {
  const pairs = [...lines].flatMap(([index, line]) => [String(index), line]);
  return (await client.eval(STORE_CHUNK, 3, keys.meta, keys.results, keys.done, String(chunk), String(KEEP_SECONDS), ...pairs)) === 1;
}

/** Whether the submission was cancelled (or is gone): a worker skips its chunks. */
export async function isCancelled(client: Redis, keys: SubmissionKeys): Promise<boolean> {
  const [exists, cancelled] = await client.multi().exists(keys.meta).hget(keys.meta, 'cancelled').exec() ?? [];
  return exists?.[1] === 0 || cancelled?.[1] === '1';
}

/** A chunk that ended in BullMQ's failed set, and why. */
export interface FailedChunk {
  readonly chunk: number;
  readonly reason: string;
  /** The names of its images (from the job's payload). */
  readonly files: readonly string[];
}

/** How far a submission has got. */
export interface SubmissionProgress {
  /** Chunks whose results are stored. */
  readonly done: number;
  /** Chunks that failed for good (their results are not stored). */
  readonly failed: readonly FailedChunk[];
  /** Images whose results are stored. */
  readonly images: number;
  /** Every chunk is done or failed. */
  readonly finished: boolean;
}

/** The ids of BullMQ's failed set read per call. */
const FAILED_PAGE = 1000;

/** The failed chunks of `submission` that are not done (a chunk that failed after storing its results counts as done). */
async function failedChunks(client: Redis, queue: Queue, submission: Submission): Promise<FailedChunk[]> {
  const chunks: number[] = [];
  for (let start = 0; ; start += FAILED_PAGE) {
    const ids = await queue.getRanges(['failed'], start, start + FAILED_PAGE - 1);
    for (const id of ids) {
      const chunk = chunkOfJobId(submission.id, id);
      if (chunk !== null) chunks.push(chunk);
    }
    if (ids.length < FAILED_PAGE) break;
  }
  if (chunks.length === 0) return [];
  const done = await client.smismember(submission.keys.done, ...chunks.map(String));
  const failed: FailedChunk[] = [];
  for (const [i, chunk] of chunks.entries()) {
    if (done[i] === 1) continue;
    const job = (await queue.getJob(chunkJobId(submission.id, chunk))) as Job<{ images?: Array<{ file?: string }> }> | undefined;
    failed.push({ chunk, reason: oneLine(job?.failedReason ?? "unknown", 1000), files: (job?.data.images ?? []).map((image) => String(image.file)) });
  }
  return failed.sort((a, b) => a.chunk - b.chunk);
}

/** How far `submission` has got. */
export async function submissionProgress(client: Redis, queue: Queue, submission: Submission): Promise<SubmissionProgress> {
  const [done, images] = await Promise.all([client.scard(submission.keys.done), client.hlen(submission.keys.results)]);
  const failed = done < submission.spec.chunks ? await failedChunks(client, queue, submission) : [];
  return { done, failed, images, finished: done + failed.length >= submission.spec.chunks };
}

/** Result lines fetched per Redis call while writing the output. */
const RESULT_PAGE = 1000;

/**
 * The submission's result lines in input order, one JSON line per image, fetched a page at a time;
 * each image of a failed chunk is `{"file","error"}` with the chunk's reason.
 *
 * @throws MobileNetV2Error (E_SUBMISSION) when an image has no result and no failed chunk explains it.
 */
export async function* resultLines(client: Redis, submission: Submission, failed: readonly FailedChunk[]): AsyncGenerator<string> {
  const { images, chunkSize } = submission.spec;
  const failures = new Map(failed.map((f) => [f.chunk, f]));
  for (let start = 0; start < images; start += RESULT_PAGE) {
    const indices = Array.from({ length: Math.min(RESULT_PAGE, images - start) }, (_, i) => String(start + i));
    const lines = await client.hmget(submission.keys.results, ...indices);
    yield lines.map((line, i) => {
      if (line !== null) return `${line}\n`;
      const index = start + i;
      const failure = failures.get(Math.floor(index / chunkSize));
      const file = failure?.files[index % chunkSize];
      if (failure === undefined || file === undefined) {
        throw new MobileNetV2Error(`submission ${submission.id}: image ${index} has no result yet; wait for it (jobs status ${submission.id})`, { code: 'E_SUBMISSION' });
      }
      return `${JSON.stringify({ file, error: `chunk ${failure.chunk} failed: ${failure.reason}` })}\n`;
    }).join('');
  }
}

/** What {@link cancelSubmission} did. */
export interface Cancelled {
  /** Chunks removed from the queue before any worker took them. */
  readonly removed: number;
  /** Chunks a worker was running: they finish, and their results are dropped. */
  readonly running: number;
}

/**
 * Cancels a submission: marks it cancelled (workers skip its chunks and store nothing for them),
 * removes its chunks that are waiting, delayed or failed, and deletes its stored results. The
 * description stays (until it expires) so `jobs status` can say it was cancelled.
 */
export async function cancelSubmission(client: Redis, queue: Queue, submission: Submission): Promise<Cancelled> {
  await client.hset(submission.keys.meta, 'cancelled', '1');
  let removed = 0;
  let running = 0;
  for (let chunk = 0; chunk < submission.spec.chunks; chunk++) {
    const id = chunkJobId(submission.id, chunk);
    const state = await queue.getJobState(id);
    if (state === 'unknown' || state === 'completed') continue;
    // remove() refuses a job whose lock a worker holds (0): that chunk finishes, and stores nothing.
    if ((await queue.remove(id)) === 1) removed++;
    else running++;
  }
  await client.del(submission.keys.results, submission.keys.done);
  return { removed, running };
}
