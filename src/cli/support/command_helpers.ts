/**
 * Pieces the image commands of the CLI share (`classify`, `segment`, `embed`, `info`): the model
 * options, number parsing, loading a task's pipeline, collecting the image files and printing
 * results as JSON.
 */
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { check, MobileNetV2Error } from '../../errors.js';
import { DEFAULT_BATCH_SIZE, type Pipeline } from '../../pipelines/base.js';
import { failureReason, runBatches, type BatchJob, type BatchSummary } from './batch_runner.js';
import { DEFAULT_MODELS } from '../../pipelines/default_models_node.js';
import { collectImageFiles, IMAGE_EXTENSIONS } from '../../processing/image_files_node.js';
import { planThreads, type PreparePoolOptions } from '../../processing/prepare_pool_node.js';
import { pipeline } from '../../pipelines/pipeline_node.js';
import type { ModelDType } from '../../runtime/ort.js';
import type { PipelineOfTask, PipelineTask } from '../../pipelines/pipeline.js';

/** The model options every image command takes. */
export interface ModelFlags {
  /** Folder or hub id; default: the shipped model of the task. */
  model?: string;
  /** Hub branch, tag or commit. */
  revision?: string;
  /** `int8` runs the integer graph (see `SessionOptions.dtype`). */
  dtype?: ModelDType;
  /** Intra-op threads (default: one core fewer than the machine has). */
  threads?: number;
}

/** Model options plus batching. */
export interface BatchFlags extends ModelFlags {
  batchSize: number;
}

/** A commander parser for a positive integer option value. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer.');
  return n;
}

/** A commander parser for a non-negative integer option value (a port, a delay). */
export function nonNegativeInteger(value: string): number {
  return value.trim() === '0' ? 0 : positiveInteger(value);
}

/** A commander parser for a positive number option value (a size in MiB, a learning rate). */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0 && Number.isFinite(n))) throw new InvalidArgumentError('must be a positive number.');
  return n;
}

/**
 * A commander parser for `--threads`: a positive integer; more threads than cores is allowed (ONNX
 * Runtime takes it) but warned about on stderr, since oversubscribed threads make runs much slower.
 */
export function threadCount(value: string): number {
  const n = positiveInteger(value);
  const cores = availableParallelism();
  if (n > cores) process.stderr.write(`mobilenet-v2: warning: --threads ${n} is more than the ${cores} cores of this machine; runs will be slower\n`);
  return n;
}

/**
 * Checks the model options before anything runs.
 *
 * @throws MobileNetV2Error when `--revision` is given without `--model` (the built-in models have no revisions).
 */
export function checkModelFlags(flags: ModelFlags): void {
  check(flags.revision === undefined || flags.model !== undefined, '--revision needs --model: it picks a revision of a hub model, and the built-in model has none');
}

/**
 * Adds `--model`, `--revision`, `--dtype` and (unless `threads` is false: a command that names a
 * model without running it) `--threads`; `defaultHelp` says what is used without `--model`.
 */
export function addModelOptions(command: Command, defaultHelp: string, threads = true): Command {
  command
    .option('-m, --model <model>', `model folder or hub id (default: ${defaultHelp})`)
    .option('--revision <rev>', 'hub branch, tag or commit of --model (default: main)')
    .option('--dtype <dtype>', 'fp32, or int8 to run the integer graph (quantized models, about 2x faster)', parseDType);
  return threads ? command.option('--threads <n>', 'ONNX Runtime intra-op threads (default: cores - 1, at most 4; more than the cores is slower)', threadCount) : command;
}

/** A commander parser for `--out-index`: a block index 0..15. */
export function parseBlockIndex(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 15) throw new InvalidArgumentError('must be a block index 0..15.');
  return n;
}

/** A commander parser for `--dtype`. */
export function parseDType(value: string): ModelDType {
  if (value !== 'fp32' && value !== 'int8') throw new InvalidArgumentError('must be fp32 or int8.');
  return value;
}

/**
 * Adds a command that takes image files and folders, with `--model`, `--revision` and
 * `--batch-size`; `defaultHelp` says which model is used without `--model`.
 */
export function addImageCommand(program: Command, name: string, description: string, defaultHelp: string): Command {
  const command = program.command(name).description(description).argument('<images...>', IMAGE_ARGS_HELP);
  return addModelOptions(command, defaultHelp).option('-b, --batch-size <n>', 'images per model run', positiveInteger, DEFAULT_BATCH_SIZE);
}

/** Names the model of a command in its output: `--model` as given, or the built-in default's folder name. */
export function modelName(task: PipelineTask, flags: ModelFlags): string {
  return flags.model ?? `${basename(DEFAULT_MODELS[task])} (built in)`;
}

/** Model options plus what a run over images adds: batching, and the model in a worker thread. */
export type PipelineFlags = ModelFlags & { batchSize?: number; worker?: boolean };

/**
 * Loads the pipeline for `task` from `--model` (or the shipped default), `--revision`, `--dtype`
 * and `--threads`. `worker` (for runs over several images) puts the model in a worker thread, so
 * decoding and preprocessing overlap inference. The caller disposes it.
 */
export async function loadPipeline<T extends PipelineTask>(task: T, flags: PipelineFlags): Promise<PipelineOfTask[T]> {
  checkModelFlags(flags);
  return pipeline(task, flags.model, {
    ...(flags.revision !== undefined ? { revision: flags.revision } : {}),
    ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
    ...(flags.dtype !== undefined ? { dtype: flags.dtype } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    ...(flags.worker ? { worker: true } : {}),
  });
}

/** Loads the pipeline for `task` as {@link loadPipeline} does, runs `body` with it and releases it. */
export async function withPipeline<T extends PipelineTask, V>(task: T, flags: PipelineFlags, body: (pipe: PipelineOfTask[T]) => Promise<V>): Promise<V> {
  const pipe = await loadPipeline(task, flags);
  try {
    return await body(pipe);
  } finally {
    await pipe.dispose();
  }
}

/** Decode-pool options for a run of `pipe`: the workers `threads` leave and the pipeline's preprocessing. */
export function preparerOptions(pipe: Pick<Pipeline<unknown, unknown>, 'preprocessing'>, threads?: number): PreparePoolOptions {
  return { workers: planThreads(threads).workers, ...pipe.preprocessing() };
}

/**
 * Runs `pipe`'s model over the files in `--batch-size` batches (see {@link runBatches}; the decode
 * workers also preprocess as the pipeline does), closes the JSON output and sets exit code 1 when
 * some images failed. A failed image appears in the JSON output in its place as `{"file", "error"}`,
 * so scripts can tell which ones failed.
 */
export async function processFiles<R>(
  command: Command, flags: BatchFlags, files: readonly string[], json: JsonStream | null,
  pipe: Pick<Pipeline<unknown, unknown>, 'preprocessing'>, run: BatchJob<R>['run'], done: BatchJob<R>['done'],
): Promise<BatchSummary> {
  const summary = await runBatches({
    files, batchSize: flags.batchSize, verbose: command.optsWithGlobals().verbose === true, prepare: preparerOptions(pipe, flags.threads), run, done,
    failed: (file, err) => json?.write({ file, error: failureReason(file, err) }),
  });
  json?.end();
  if (summary.failed > 0) process.exitCode = 1;
  return summary;
}

/** Help text listing the image extensions folders are searched for. */
export const IMAGE_ARGS_HELP = `image files, or folders searched recursively for ${[...IMAGE_EXTENSIONS].map((e) => e.slice(1)).join(', ')} files`;

/**
 * The image files of the command line.
 *
 * @throws MobileNetV2Error when the arguments yield no file (empty folders).
 */
export async function imageFiles(args: readonly string[]): Promise<{ files: string[]; several: boolean }> {
  const { files, sawFolder } = await collectImageFiles(args);
  if (files.length === 0) throw new MobileNetV2Error(`no image files found in ${args.join(', ')}`, { code: 'E_FILE_NOT_FOUND' });
  return { files, several: files.length > 1 || sawFolder };
}

/**
 * Prints JSON values as they come: a lone object for one image, or the elements of one JSON array
 * when the command line names several images or a folder (so scripts get a stable shape).
 */
export class JsonStream {
  private count = 0;

  constructor(private readonly asArray: boolean) {}

  /** Prints one value. */
  write(value: unknown): void {
    const text = JSON.stringify(value);
    if (!this.asArray) process.stdout.write(`${text}\n`);
    else process.stdout.write(`${this.count === 0 ? '[' : ','}\n  ${text}`);
    this.count++;
  }

  /** Closes the array (prints `[]` when nothing was written). */
  end(): void {
    if (this.asArray) process.stdout.write(this.count === 0 ? '[]\n' : '\n]\n');
  }
}
