/**
 * Decoding and preprocessing ahead of the model: the photo path of `classify`, `embed`, `segment`,
 * `serve`, the job workers and training's embedding pass. A {@link Preparer} reads a file, decodes
 * it and (given a processor) computes its pixel values, either in a pool of worker threads
 * ({@link PreparePool}) or, where a pool does not pay, on this thread one image at a time
 * ({@link InlinePreparer}). Either way the pixel values are recorded for the processor
 * (./precomputed.ts), so the pipeline's preprocessing becomes a lookup.
 *
 * In the pool, each worker reads, decodes and preprocesses with the processor's own code; image and
 * pixel buffers are transferred back, not copied. Results come back as promises per image, so
 * callers keep their own order.
 *
 * Cores are split between the model and the pool by {@link planThreads}. A pool costs a worker
 * start before its first image and a message hop per image, so callers use one only where
 * {@link poolPays}: {@link POOL_MIN_IMAGES} images or more, {@link POOL_MIN_WORKERS} workers or more.
 */
import { availableParallelism } from 'node:os';
import { check, MobileNetV2Error } from '../errors.js';
import { WorkerPool } from '../runtime/worker_pool_node.js';
import type { RawImage } from './image.js';
import { maxImagePixels } from './pixel_limit.js';
import { rememberPixelValues, settingsKey } from './precomputed.js';
import type { MobileNetV2ImageProcessor } from './processor.js';
import { resolveSettings, type ImageProcessorOptions, type ImageProcessorSettings } from './processor_config.js';
import { loadImage } from './image_io_node.js';
import type { PrepareReply, PrepareTask } from './prepare_worker_node.js';

/** Fewer images than this are decoded on the main thread: starting workers would cost more (cold start). */
export const POOL_MIN_IMAGES = 4;

/**
 * Fewer decode workers than this are not worth a pool: one worker does the work the main thread
 * (with sharp's own threads) does beside a model in its worker thread, plus a message hop and a
 * worker start per run — measured on 2 cores, 20% more CPU and 55 MB more memory for the same
 * wall time. So on 2 cores (1 model thread, 1 spare core) decoding stays on the main thread.
 */
export const POOL_MIN_WORKERS = 2;

/** At most this many decode workers (MobileNetV2 at batch 8 keeps about 4 busy on a fast core). */
export const MAX_POOL_WORKERS = 4;

/** Milliseconds an idle worker waits for work before it exits. */
const IDLE_TIMEOUT_MS = 2_000;

/**
 * How many intra-op threads the model gets and how many decode workers run beside it, from the
 * core count: the model keeps its default (cores − 1, at most 4; or `threads` when given) and the
 * pool takes the cores left, at least 1 and at most {@link MAX_POOL_WORKERS}. On 2 cores: 1 model
 * thread and 1 decode worker, each on its own core.
 */
export function planThreads(threads?: number, cores = availableParallelism()): { modelThreads: number; workers: number } {
  const modelThreads = threads ?? Math.max(1, Math.min(4, cores - 1));
  return { modelThreads, workers: Math.max(1, Math.min(MAX_POOL_WORKERS, cores - modelThreads)) };
}

/** Whether a run over `images` images with `workers` decode workers should use a pool. */
export function poolPays(images: number, workers = planThreads().workers): boolean {
  return images >= POOL_MIN_IMAGES && workers >= POOL_MIN_WORKERS;
}

/** Options of {@link PreparePool}. */
export interface PreparePoolOptions {
  /** Worker threads (default: {@link planThreads}'s). */
  readonly workers?: number;
  /** Also preprocess with this processor's settings (plus `overrides`); without it, decode only. */
  readonly processor?: MobileNetV2ImageProcessor;
  /** Settings that differ for this run (as the pipeline passes them to the processor). */
  readonly overrides?: ImageProcessorOptions;
  /** Milliseconds an idle worker waits for work before it exits (default 2000; a server keeps them longer). */
  readonly idleTimeoutMs?: number;
}

/** The settings a preparer preprocesses with and their key in ./precomputed.ts; none without a processor. */
function preprocessSettings(options: Omit<PreparePoolOptions, 'workers'>): { settings?: ImageProcessorSettings; key?: string } {
  if (!options.processor) return {};
  const settings = resolveSettings(options.processor.settings, options.overrides);
  return { settings, key: settingsKey(settings) };
}

/** Reads, decodes and preprocesses images ahead of the model; see this file's header. */
export interface Preparer {
  /**
   * Reads (for a path), decodes and preprocesses one image.
   *
   * @param name names the image in messages (default: the path, or "image bytes").
   * @throws MobileNetV2Error as `loadImage` (and the processor) do; E_DISPOSED after `close`.
   */
  load(source: string | Uint8Array, name?: string): Promise<RawImage>;
  /** Ends the preparer's work (images still queued fail); the process can then exit. */
  close(): Promise<void>;
}

/**
 * Decodes in flight at once in an {@link InlinePreparer}. Eight at once (what `Promise.all` over a
 * batch did) leave the model's thread a fraction of a core on 2 cores; one at a time leaves the
 * decoder idle while this thread preprocesses. Measured on 2 cores, 100 photos, model in a worker
 * thread (ms/image, best of 5, 1 / 2 decodes): JPEG and BMP photos at 1 model thread 9.5 / 9.3,
 * JPEG photos at 1 thread 10.4 / 10.0, at 2 threads 14.8 / 13.0.
 */
const INLINE_DECODES = 2;

/**
 * Prepares images on this thread: read and decode run in libuv's and sharp's threads,
 * {@link INLINE_DECODES} images at a time, and each image is preprocessed here as soon as it is
 * decoded. So the preparation takes about one core beside the model's thread.
 */
export class InlinePreparer implements Preparer {
  private readonly key: string | undefined;
  private readonly queues: Array<Promise<unknown>> = Array.from({ length: INLINE_DECODES }, () => Promise.resolve());
  private next = 0;
  private closed = false;

  constructor(private readonly options: Omit<PreparePoolOptions, 'workers'> = {}) {
    this.key = preprocessSettings(options).key;
  }

  load(source: string | Uint8Array, name = typeof source === 'string' ? source : 'image bytes'): Promise<RawImage> {
    const lane = this.next++ % this.queues.length;
    const decoded = this.queues[lane]!.then(() => {
      check(!this.closed, `${name}: the image preparer is closed`, 'E_DISPOSED');
      return loadImage(source, name);
    });
    this.queues[lane] = decoded.catch(() => undefined);
    if (!this.options.processor) return decoded;
    return decoded.then((image) => {
      const { pixelValues } = this.options.processor!.preprocessImage(image, this.options.overrides, { name });
      rememberPixelValues(image, this.key!, pixelValues);
      return image;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.queues);
  }
}

/**
 * The preparer for a run over `images` images: a {@link PreparePool} where {@link poolPays},
 * else an {@link InlinePreparer}.
 */
export function createPreparer(images: number, options: PreparePoolOptions = {}): Preparer {
  return poolPays(images, options.workers) ? new PreparePool(options) : new InlinePreparer(options);
}

/** A pool of decode (+ preprocess) workers; {@link PreparePool.close} ends them. */
export class PreparePool implements Preparer {
  private readonly pool: WorkerPool;
  private readonly settings: ImageProcessorSettings | undefined;
  private readonly key: string | undefined;
  private closed = false;

  constructor(options: PreparePoolOptions = {}) {
    const workers = options.workers ?? planThreads().workers;
    this.pool = new WorkerPool(new URL('./prepare_worker_node.js', import.meta.url), workers, options.idleTimeoutMs ?? IDLE_TIMEOUT_MS);
    ({ settings: this.settings, key: this.key } = preprocessSettings(options));
  }

  /**
   * {@link Preparer.load} in a worker; failures keep the worker's code (E_INTERNAL for anything
   * else the worker hit).
   */
  async load(source: string | Uint8Array, name = typeof source === 'string' ? source : 'image bytes'): Promise<RawImage> {
    check(!this.closed, `${name}: the decode pool is closed`, 'E_DISPOSED');
    const limit = maxImagePixels();
    const task: PrepareTask = { source, name, maxPixels: limit === Infinity ? 0 : limit, ...(this.settings ? { settings: this.settings } : {}) };
    let reply: PrepareReply;
    try {
      reply = (await this.pool.run(task)) as PrepareReply;
    } catch (cause) {
      throw new MobileNetV2Error(`${name}: decode worker failed: ${(cause as Error).message}`, { code: 'E_INTERNAL', cause });
    }
    if ('error' in reply) throw new MobileNetV2Error(reply.error.message, { code: reply.error.code ?? 'E_INTERNAL' });
    if (reply.pixelValues && this.key) rememberPixelValues(reply.image, this.key, reply.pixelValues);
    return reply.image;
  }

  /** Ends the workers (images still queued fail); the process can then exit. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close();
  }
}

let shared: Preparer | undefined;

/**
 * A decode-only preparer shared by the process (training's embedding pass decodes through it),
 * made on first use: a pool where one pays ({@link POOL_MIN_WORKERS}), else on this thread. A
 * pool's idle workers neither keep the process alive nor outlive their idle timeout.
 */
export function sharedDecoder(): Preparer {
  shared ??= createPreparer(Infinity);
  return shared;
}
