/**
 * Decoding and preprocessing in a pool of worker threads, beside the model: the photo
 * path of `classify`, `embed`, `segment` and training's embedding pass. Each worker reads a file,
 * decodes it and (given a processor) computes its pixel values with the processor's own code; the
 * image and pixel buffers are transferred back, not copied, and the pixel values are recorded for
 * the processor (./precomputed.ts), so the pipeline's preprocessing on the main thread becomes a
 * lookup. Results come back as promises per image, so callers keep their own order.
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
import type { ImageProcessorOptions } from './processor_config.js';
import { resolveSettings } from './processor_config.js';
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

/** A pool of decode (+ preprocess) workers; {@link PreparePool.close} ends them. */
export class PreparePool {
  private readonly pool: WorkerPool;
  private readonly settings: PrepareTask['settings'];
  private readonly key: string | undefined;
  private closed = false;

  constructor(options: PreparePoolOptions = {}) {
    const workers = options.workers ?? planThreads().workers;
    this.pool = new WorkerPool(new URL('./prepare_worker_node.js', import.meta.url), workers, options.idleTimeoutMs ?? IDLE_TIMEOUT_MS);
    this.settings = options.processor ? resolveSettings(options.processor.settings, options.overrides) : undefined;
    this.key = this.settings && settingsKey(this.settings);
  }

  /**
   * Reads (for a path), decodes and preprocesses one image in a worker.
   *
   * @param name names the image in messages (default: the path, or "image bytes").
   * @throws MobileNetV2Error as `loadImage` does, with the worker's code (E_INTERNAL for anything
   *   else the worker hit); E_DISPOSED after {@link PreparePool.close}.
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

let shared: PreparePool | null | undefined;

/**
 * A decode-only pool shared by the process (training's embedding pass decodes through it), made on
 * first use; null where a pool does not pay ({@link POOL_MIN_WORKERS}). Its idle workers neither
 * keep the process alive nor outlive their idle timeout.
 */
export function sharedDecodePool(): PreparePool | null {
  shared ??= poolPays(Infinity) ? new PreparePool() : null;
  return shared;
}
