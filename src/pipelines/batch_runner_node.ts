/**
 * Runs a model over many image files for the CLI: decodes the next batch while the model works on
 * the current one, reports a bad image as one line and carries on, and draws a progress bar on a
 * terminal.
 */
import cliProgress from 'cli-progress';
import type { RawImage } from '../processing/image.js';
import { loadImage } from '../processing/image_io_node.js';

/** What to do with the images. */
export interface BatchJob<R> {
  /** The image files, in output order. */
  readonly files: readonly string[];
  /** Images per model run. */
  readonly batchSize: number;
  /** Print stack traces of failures. */
  readonly verbose?: boolean;
  /** Runs the model on decoded images, one result per image. */
  run(images: RawImage[]): Promise<R[]>;
  /** Consumes one image's result (prints it, writes files), in file order. */
  done(file: string, image: RawImage, result: R): Promise<void> | void;
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

/** The one line reported for a failed image: the file, then the reason (unless it already names the file). */
export function failureLine(file: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `mobilenet-v2: ${message.startsWith(`${file}:`) ? message : `${file}: ${message}`}\n`;
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

async function decodeAll(files: readonly string[]): Promise<Decoded[]> {
  return Promise.all(files.map((file) => loadImage(file).then((image) => ({ file, image }), (error: unknown) => ({ file, error }))));
}

/**
 * Runs `job` over its files in batches and returns how many succeeded and failed. A file that
 * cannot be read or decoded, or whose result cannot be consumed, is reported on stderr
 * (`mobilenet-v2: <file>: <reason>`) and skipped; when a whole batch fails, its images are run one
 * at a time to isolate the bad one.
 */
export async function runBatches<R>(job: BatchJob<R>): Promise<BatchSummary> {
  const bar = progress(job.files.length);
  let failed = 0;
  const report = (file: string, err: unknown): void => {
    failed++;
    bar.log(failureLine(file, err));
    if (job.verbose && err instanceof Error && err.stack) bar.log(`${err.stack}\n`);
  };
  const batches: string[][] = [];
  for (let i = 0; i < job.files.length; i += job.batchSize) batches.push(job.files.slice(i, i + job.batchSize));
  let next = batches.length ? decodeAll(batches[0]!) : null;
  let previous: Promise<void> = Promise.resolve();
  try {
    for (let b = 0; b < batches.length; b++) {
      const decoded = await next!;
      next = b + 1 < batches.length ? decodeAll(batches[b + 1]!) : null; // decodes while the model runs
      const ok: Array<{ file: string; image: RawImage }> = [];
      for (const d of decoded) {
        if ('error' in d) report(d.file, d.error);
        else ok.push(d);
      }
      // Start this batch (its preprocessing runs now, while the previous batch may still be in the
      // model when the session runs in a worker thread), then finish the previous one: two batches
      // in flight, results in file order.
      const running = runIsolating(job, ok, report);
      await previous;
      const size = batches[b]!.length;
      previous = running.then(async (results) => {
        for (const { item, result } of results) {
          try {
            await job.done(item.file, item.image, result);
          } catch (err) {
            report(item.file, err);
          }
        }
        bar.tick(size);
      });
    }
    await previous;
  } finally {
    bar.stop();
  }
  return { succeeded: job.files.length - failed, failed };
}

/** Runs a batch; if it fails, runs its images one by one so only the bad ones are reported. */
async function runIsolating<R>(
  job: BatchJob<R>, items: Array<{ file: string; image: RawImage }>, report: (file: string, err: unknown) => void,
): Promise<Array<{ item: { file: string; image: RawImage }; result: R }>> {
  if (items.length === 0) return [];
  try {
    const results = await job.run(items.map((i) => i.image));
    return items.map((item, i) => ({ item, result: results[i]! }));
  } catch (err) {
    if (items.length === 1) {
      report(items[0]!.file, err);
      return [];
    }
    const out: Array<{ item: { file: string; image: RawImage }; result: R }> = [];
    for (const item of items) out.push(...(await runIsolating(job, [item], report)));
    return out;
  }
}
