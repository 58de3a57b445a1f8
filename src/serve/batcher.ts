/**
 * Dynamic batching for the server: requests whose pixel values are ready wait in a queue; when the
 * model has room ({@link IN_MODEL}), up to `maxBatch` rows of the same image size run together in
 * one `forward`, and each request gets its own rows of every output back. The first request to
 * arrive waits at most `maxDelayMs` for others to join it (and not at all when none is coming). A request whose signal aborts (its
 * deadline passed, its client left) leaves the queue at once and never reaches the model. No Node
 * APIs.
 */
import { MobileNetV2Error } from '../errors.js';
import { concatFirstAxis, float32Tensor, numel, type Float32Tensor } from '../tensor.js';

/**
 * Batches handed to the model at once. The model runs in a worker thread and takes one batch at a
 * time; a second one waiting there keeps it busy while the main thread, between two events of its
 * own, hands out the first one's answers (measured on 2 busy cores: about 15% more images/s at 32
 * clients than one at a time). The second batch is formed while the first runs, from the requests
 * that arrived by then.
 */
export const IN_MODEL = 2;

/** Named outputs of one model run, each with the batch on its first axis. */
export type BatchOutputs = Readonly<Record<string, Float32Tensor>>;

/** Options of {@link Batcher}. */
export interface BatcherOptions {
  /** Most rows (images) per model run; a request with more rows runs alone. */
  readonly maxBatch: number;
  /** Most milliseconds the oldest waiting request waits for others before its batch runs. */
  readonly maxDelayMs: number;
  /** Told of every model run: its rows and milliseconds (for metrics). */
  readonly onBatch?: (rows: number, ms: number) => void;
  /**
   * Requests on their way to the queue (still decoding): the oldest request waits for others only
   * while some are coming, so a lone client never waits `maxDelayMs` for nobody. Default: always wait.
   */
  readonly coming?: () => number;
}

interface Job {
  readonly input: Float32Tensor;
  /** {@link rowShape} of the input: requests batch together only with their own. */
  readonly shape: string;
  readonly arrived: number;
  resolve(outputs: BatchOutputs): void;
  reject(err: Error): void;
}

/** The rows of `[B, ...]` tensors: their count and the shape of one. */
function rowShape(t: Float32Tensor): string {
  return t.shape.slice(1).join('x');
}

/** Rows `[start, start + rows)` of every output. */
function rowsOf(outputs: BatchOutputs, total: number, start: number, rows: number): BatchOutputs {
  const out: Record<string, Float32Tensor> = {};
  for (const [name, t] of Object.entries(outputs)) {
    if (t.shape[0] !== total) throw new MobileNetV2Error(`model output ${name} has ${t.shape[0]} rows for a batch of ${total}`, { code: 'E_INTERNAL' });
    const size = numel(t.shape.slice(1));
    out[name] = float32Tensor(t.data.slice(start * size, (start + rows) * size), [rows, ...t.shape.slice(1)]);
  }
  return out;
}

/** One model's queue of requests and its batching loop. */
export class Batcher {
  private readonly queue: Job[] = [];
  private inModel = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** @param run runs the model on a `[B, C, H, W]` batch. */
  constructor(private readonly run: (input: Float32Tensor) => Promise<BatchOutputs>, private readonly options: BatcherOptions) {}

  /** Batches handed to the model and not yet answered (at most {@link IN_MODEL}). */
  get running(): number {
    return this.inModel;
  }

  /** Requests waiting for the model. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Queues `[n, C, H, W]` pixel values; resolves with the request's `n` rows of every output.
   *
   * @throws the signal's reason when it aborts before the model has answered (the request leaves
   *   the queue if it is still there); the model's error when its run fails.
   */
  submit(input: Float32Tensor, signal?: AbortSignal): Promise<BatchOutputs> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<BatchOutputs>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.queue.indexOf(job);
        if (at >= 0) this.queue.splice(at, 1);
        reject(signal!.reason as Error);
      };
      const settle = (): void => signal?.removeEventListener('abort', onAbort);
      const job: Job = {
        input, shape: rowShape(input), arrived: performance.now(),
        resolve: (outputs) => { settle(); resolve(outputs); },
        reject: (err) => { settle(); reject(err); },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.schedule();
    });
  }

  /**
   * Starts a batch when the model has room and the queue holds a full batch of the oldest request's
   * image size, or the oldest request has waited long enough, or no other request is coming.
   */
  private schedule(): void {
    if (this.inModel >= IN_MODEL || this.queue.length === 0) return;
    const { shape } = this.queue[0]!;
    const rows = this.queue.reduce((n, job) => n + (job.shape === shape ? job.input.shape[0]! : 0), 0);
    const wait = this.queue[0]!.arrived + this.options.maxDelayMs - performance.now();
    if (rows < this.options.maxBatch && wait > 0 && (this.options.coming?.() ?? 1) > 0) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, wait);
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.inModel++;
    void this.execute(this.take()).finally(() => {
      this.inModel--;
      this.schedule();
    });
  }

  /** Takes the oldest request and the next ones of its row shape, up to `maxBatch` rows, out of the queue. */
  private take(): Job[] {
    const first = this.queue.shift()!;
    const batch = [first];
    let rows = first.input.shape[0]!;
    const { shape } = first;
    for (let i = 0; i < this.queue.length && rows < this.options.maxBatch;) {
      const job = this.queue[i]!;
      const n = job.input.shape[0]!;
      if (rows + n <= this.options.maxBatch && job.shape === shape) {
        batch.push(job);
        rows += n;
        this.queue.splice(i, 1);
      } else {
        i++;
      }
    }
    return batch;
  }

  /** Runs a batch and hands out the rows; when it fails, runs its requests one by one so only a bad one fails. */
  private async execute(batch: readonly Job[]): Promise<void> {
    const total = batch.reduce((n, job) => n + job.input.shape[0]!, 0);
    let outputs: BatchOutputs;
    try {
      const started = performance.now();
      outputs = await this.run(batch.length === 1 ? batch[0]!.input : concatFirstAxis(batch.map((job) => job.input)));
      this.options.onBatch?.(total, performance.now() - started);
    } catch (err) {
      if (batch.length === 1) batch[0]!.reject(err as Error);
      else for (const job of batch) await this.execute([job]);
      return;
    }
    let start = 0;
    for (const job of batch) {
      const rows = job.input.shape[0]!;
      try {
        job.resolve(batch.length === 1 ? outputs : rowsOf(outputs, total, start, rows));
      } catch (err) {
        job.reject(err as Error);
      }
      start += rows;
    }
  }
}

/** `promise`, or the signal's reason as soon as it aborts (the work itself goes on, its result unused). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined); // nobody waits for it any more
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
