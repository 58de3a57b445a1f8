/**
 * The payload of one queued job: a chunk of images of one submission, the task to run on them and
 * the model it must run with. Workers on other machines read it from Redis, so it is checked as
 * foreign input: a malformed or newer payload is refused with a reason, never half-run.
 *
 * Images name where to read them by a `source` kind. `path` (a file on a filesystem every worker
 * shares) is the one kind today; URLs or object-store keys become new kinds, and a worker that does
 * not know a kind refuses the chunk rather than guessing.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { MobileNetV2Error } from '../errors.js';
import { describeValue, quote } from '../describe.js';
import type { ModelDType } from '../runtime/ort.js';
import type { PipelineTask } from '../pipelines/pipeline.js';

/** The tasks a job can ask for, by their command names, and the pipeline each runs. */
export const JOB_TASKS = {
  classify: 'image-classification',
  segment: 'image-segmentation',
  embed: 'image-feature-extraction',
} as const satisfies Record<string, PipelineTask>;

/** A task name of {@link JOB_TASKS}. */
export type JobTask = keyof typeof JOB_TASKS;

/** The payload layout version; a worker refuses others. */
export const PAYLOAD_VERSION = 1;

/** Most images in one chunk (one job). */
export const MAX_CHUNK = 1000;

/** An image file on a filesystem shared by the submitter and every worker (an absolute path). */
export interface PathSource {
  readonly kind: 'path';
  readonly path: string;
}

/** Where a worker reads an image from. */
export type ImageSource = PathSource;

/** One image of a chunk: the name its result carries (as the submitter named it) and its source. */
export interface ImageRef {
  readonly file: string;
  readonly source: ImageSource;
}

/** The model a job must run with; a worker serving another refuses the job. */
export interface ModelRef {
  /** A folder (absolute path) or hub id; null for the task's built-in model. */
  readonly model: string | null;
  /** Hub revision, or null. */
  readonly revision: string | null;
  readonly dtype: ModelDType;
}

/** Per-task options, as the matching command takes them. */
export interface TaskOptions {
  /** classify: classes per image. */
  readonly topK?: number;
  /** embed: the block whose pooled output is the embedding (default: the last layer). */
  readonly outIndex?: number;
}

/** One job: a chunk of a submission. */
export interface ChunkPayload extends ModelRef {
  readonly v: typeof PAYLOAD_VERSION;
  /** The submission's id. */
  readonly submission: string;
  /** This chunk's number in the submission, from 0. */
  readonly chunk: number;
  /** Index of the chunk's first image in the submission. */
  readonly start: number;
  readonly task: JobTask;
  readonly options: TaskOptions;
  readonly images: readonly ImageRef[];
}

/** A submission id: what {@link newSubmissionId} makes (letters, digits, `_`), usable in Redis keys and BullMQ job ids. */
const SUBMISSION_ID = /^[A-Za-z0-9_]{1,64}$/;

function fail(what: string): never {
  throw new MobileNetV2Error(`job payload: ${what}`);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} must be an object, got ${describeValue(value)}`);
  return value as Record<string, unknown>;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) fail(`${what} must be a non-empty string, got ${describeValue(value)}`);
  return value;
}

function count(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(`${what} must be an integer ${min}..${max}, got ${describeValue(value)}`);
  return value;
}

function optionalCount(value: unknown, what: string, min: number, max: number): number | undefined {
  return value === undefined ? undefined : count(value, what, min, max);
}

function source(value: unknown, what: string): ImageSource {
  const s = record(value, what);
  if (s.kind !== 'path') fail(`${what}: source kind ${describeValue(s.kind)} is not one this worker reads (it reads "path")`);
  const path = text(s.path, `${what}.path`);
  if (!path.startsWith('/')) fail(`${what}.path must be absolute (workers run in other folders), got ${quote(path)}`);
  return { kind: 'path', path };
}

/**
 * Checks a job's data and returns it as a {@link ChunkPayload}.
 *
 * @throws MobileNetV2Error naming the first field at fault.
 */
export function parseChunk(data: unknown): ChunkPayload {
  const d = record(data, 'the job data');
  if (d.v !== PAYLOAD_VERSION) fail(`version ${describeValue(d.v)}, this worker reads version ${PAYLOAD_VERSION}`);
  const submission = text(d.submission, 'submission');
  if (!SUBMISSION_ID.test(submission)) fail(`submission ${quote(submission)} is not a submission id`);
  if (typeof d.task !== 'string' || !(d.task in JOB_TASKS)) fail(`task ${describeValue(d.task)} is not one of ${Object.keys(JOB_TASKS).join(', ')}`);
  if (d.dtype !== 'fp32' && d.dtype !== 'int8') fail(`dtype ${describeValue(d.dtype)} is not fp32 or int8`);
  const options = record(d.options, 'options');
  if (!Array.isArray(d.images) || d.images.length === 0 || d.images.length > MAX_CHUNK) fail(`images must be a list of 1..${MAX_CHUNK} images, got ${describeValue(d.images)}`);
  const images = d.images.map((value, i) => {
    const image = record(value, `images[${i}]`);
    return { file: text(image.file, `images[${i}].file`), source: source(image.source, `images[${i}].source`) };
  });
  return {
    v: PAYLOAD_VERSION,
    submission,
    chunk: count(d.chunk, 'chunk', 0, Number.MAX_SAFE_INTEGER),
    start: count(d.start, 'start', 0, Number.MAX_SAFE_INTEGER),
    task: d.task as JobTask,
    model: d.model === null ? null : text(d.model, 'model'),
    revision: d.revision === null ? null : text(d.revision, 'revision'),
    dtype: d.dtype,
    options: { topK: optionalCount(options.topK, 'options.topK', 1, 100_000), outIndex: optionalCount(options.outIndex, 'options.outIndex', 0, 15) },
    images,
  };
}

/** How a model is named in messages: the folder or hub id (with its revision), or "the built-in model", and the dtype. */
export function describeModel(ref: ModelRef): string {
  const name = ref.model === null ? 'the built-in model' : `${ref.model}${ref.revision === null ? '' : `@${ref.revision}`}`;
  return `${name} (${ref.dtype})`;
}

/**
 * Why a worker serving `served` must refuse a job asking for `wanted`, or null when they are the
 * same model. Models match by name: a folder's absolute path, or a hub id and revision; and dtype.
 */
export function modelMismatch(served: ModelRef, wanted: ModelRef): string | null {
  if (served.model === wanted.model && served.revision === wanted.revision && served.dtype === wanted.dtype) return null;
  return `the job asks for ${describeModel(wanted)}, but this worker serves ${describeModel(served)}; run a worker with that model (or submit to another --queue)`;
}

/**
 * The {@link ModelRef} of `--model`, `--revision` and `--dtype` as a submitter or worker gives them:
 * an existing folder by its absolute path (so a submitter and workers in other folders name it
 * alike), anything else (a hub id) as given.
 */
export function modelRef(flags: { model?: string; revision?: string; dtype?: ModelDType }): ModelRef {
  const model = flags.model === undefined ? null : existsSync(flags.model) ? resolve(flags.model) : flags.model;
  return { model, revision: flags.revision ?? null, dtype: flags.dtype ?? 'fp32' };
}
