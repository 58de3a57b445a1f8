/**
 * Runs a model over many image files for the CLI: prepares (decodes and, given the processor,
 * preprocesses) the next batch while the model works on the current one (see
 * `createPreparer`: in decode workers where they pay, else on this thread one image at a time),
 * reports a bad image as one line and carries on, and draws a progress bar on a terminal.
 */
import cliProgress from 'cli-progress';
import type { RawImage } from '../../processing/image.js';
import { createPreparer, type Preparer, type PreparePoolOptions } from '../../processing/prepare_pool_node.js';

/** What to do with the images. */
export interface BatchJob<R> {
  /** The image files, in output order. */
  readonly files: readonly string[];
  /** Images per model run. */
  readonly batchSize: number;
  /** Print stack traces of failures. */
  readonly verbose?: boolean;
  /**
   * The decode workers and the processor to preprocess with (default: decode only, planned
   * workers), or a preparer of the caller's (kept open: a long-lived caller saves the workers' start).
   */
  readonly prepare?: PreparePoolOptions | Preparer;
  /** Runs the model on decoded images, one result per image. */
  run(images: RawImage[]): Promise<R[]>;
  /** Consumes one image's result (prints it, writes files), in file order. */
  done(file: string, image: RawImage, result: R): Promise<void> | void;
  /** Called for each failed image, in its place in file order (after its line on stderr). */
  failed?(file: string, err: unknown): void;
}

/** How a job went. */
export interface BatchSummary {
  /** Images processed. */
  readonly succeeded: number;
  /** Images reported as failed. */
  readonly failed: number;
}

/** Fewer images than this get no progress bar. */
const PROGRESS_MIN_IMAGES = 5;

type Decoded = { file: string; image: RawImage } | { file: string; error: unknown };
/** What became of one image: its decoded form and result, or why it failed. */
type Outcome<R> = { file: string; image: RawImage; result: R } | { file: string; error: unknown };

/** Why an image failed, without the file name the message may start with. */
export function failureReason(file: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.startsWith(`${file}:`) ? message.slice(file.length + 1).trimStart() : message;
}

/** The one line reported for a failed image: the file, then the reason. */
export function failureLine(file: string, err: unknown): string {
  return `mobilenet-v2: ${file}: ${failureReason(file, err)}\n`;
}

/** Where progress and failure lines go. */
interface Progress {
  /** Counts `n` more images as done. */
  tick(n: number): void;
  /** Prints one line (ending in a newline) on stderr, above the bar if there is one. */
  log(line: string): void;
  /** Removes the bar. */
  stop(): void;
}

/** A progress bar on stderr when it is a terminal and there are enough images; otherwise plain stderr lines. */
function progress(total: number): Progress {
  if (!process.stderr.isTTY || total < PROGRESS_MIN_IMAGES) {
    return { tick: () => {}, log: (line) => process.stderr.write(line), stop: () => {} };
  }
  // A MultiBar, because only it can print lines above the bar without garbling it.
  const bars = new cliProgress.MultiBar(
    { stream: process.stderr, clearOnComplete: true, hideCursor: true, format: ' {bar} {value}/{total} images | {eta_formatted} left' },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(total, 0);
  return {
    tick: (n) => bar.increment(n),
    log: (line) => {
      bars.log(line);
      bars.update(); // flush now rather than at the next redraw
    },
    stop: () => bars.stop(),
  };
}

async function decodeAll(files: readonly string[], preparer: Preparer): Promise<Decoded[]> {
  return Promise.all(files.map((file) => preparer.load(file).then((image) => ({ file, image }), (error: unknown) => ({ file, error }))));
}

function isPreparer(prepare: PreparePoolOptions | Preparer | undefined): prepare is Preparer {
  return prepare !== undefined && 'load' in prepare;
}

/**
 * Runs `job` over its files in batches and returns how many succeeded and failed. A file that
 * cannot be read or decoded, or whose result cannot be consumed, is reported on stderr
 * (`mobilenet-v2: <file>: <reason>`) and to `job.failed`, in file order, and skipped; when a whole
 * batch fails, its images are run one at a time to isolate the bad one.
 */
export async function runBatches<R>(job: BatchJob<R>): Promise<BatchSummary> {
  const bar = progress(job.files.length);
  let failed = 0;
  const report = (file: string, err: unknown): void => {
    failed++;
    bar.log(failureLine(file, err));
    if (job.verbose && err instanceof Error && err.stack) bar.log(`${err.stack}\n`);
    job.failed?.(file, err);
  };
  const batches: string[][] = [];
  for (let i = 0; i < job.files.length; i += job.batchSize) batches.push(job.files.slice(i, i + job.batchSize));
  const own = !isPreparer(job.prepare);
  const pool = isPreparer(job.prepare) ? job.prepare : createPreparer(job.files.length, job.prepare);
  let next = batches.length ? decodeAll(batches[0]!, pool) : null;
  let previous: Promise<void> = Promise.resolve();
  try {
    for (let b = 0; b < batches.length; b++) {
      const decoded = await next!;
      next = b + 1 < batches.length ? decodeAll(batches[b + 1]!, pool) : null; // decodes while the model runs
      // Start this batch (its preprocessing runs now, while the previous batch may still be in the
      // model when the session runs in a worker thread), then finish the previous one: two batches
      // in flight, results and failures in file order.
      const running = runBatch(job, decoded);
      await previous;
      const size = batches[b]!.length;
      previous = running.then(async (outcomes) => {
        for (const outcome of outcomes) {
          if ('error' in outcome) {
            report(outcome.file, outcome.error);
            continue;
          }
          try {
            await job.done(outcome.file, outcome.image, outcome.result);
          } catch (err) {
            report(outcome.file, err);
          }
        }
        bar.tick(size);
      });
    }
    await previous;
  } finally {
    bar.stop();
    if (own) await pool.close();
  }
  return { succeeded: job.files.length - failed, failed };
}

/** Runs the decoded images of a batch; the outcomes are in the batch's file order, decode failures included. */
async function runBatch<R>(job: BatchJob<R>, decoded: readonly Decoded[]): Promise<Array<Outcome<R>>> {
  const ran = await runIsolating(job, decoded.filter((d): d is { file: string; image: RawImage } => !('error' in d)));
  let k = 0;
  return decoded.map((d) => ('error' in d ? d : ran[k++]!));
}

/** Runs a batch; if it fails, runs its images one by one so only the bad ones fail. One outcome per item, in order. */
async function runIsolating<R>(job: BatchJob<R>, items: Array<{ file: string; image: RawImage }>): Promise<Array<Outcome<R>>> {
  if (items.length === 0) return [];
  try {
    const results = await job.run(items.map((i) => i.image));
    return items.map((item, i) => ({ ...item, result: results[i]! }));
  } catch (error) {
    if (items.length === 1) return [{ file: items[0]!.file, error }];
    const out: Array<Outcome<R>> = [];
    for (const item of items) out.push(...(await runIsolating(job, [item])));
    return out;
  }
}
