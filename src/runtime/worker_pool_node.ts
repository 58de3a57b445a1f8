/**
 * A small pool of worker threads running one task module: tasks queue, each idle worker takes the
 * next, and replies come back with their buffers transferred (the worker posts them with a transfer
 * list). Workers start on demand, up to a maximum; an idle worker never keeps the process alive
 * (it is unref'd) and ends after an idle timeout, so a program that forgets `close()` still exits.
 *
 * The worker module answers each message with exactly one message, and never throws for a task
 * (it sends failures back as data): an uncaught error or an exit fails only the task in hand.
 */
import { Worker } from 'node:worker_threads';

/**
 * The process's flags for a worker thread: workers inherit them, but `--input-type` (as in
 * `node --input-type=module -e`) only applies to string input and makes loading a worker file fail.
 */
export function workerExecArgv(): string[] {
  return process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
}

interface Job {
  readonly task: unknown;
  resolve(reply: unknown): void;
  reject(error: Error): void;
}

interface Slot {
  readonly worker: Worker;
  job?: Job;
  timer?: NodeJS.Timeout;
}

export class WorkerPool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private closed = false;

  /**
   * @param module the worker's compiled module (`new URL('./x_worker.js', import.meta.url)`).
   * @param maxWorkers most worker threads at once.
   * @param idleTimeoutMs how long an idle worker waits for work before it ends.
   */
  constructor(private readonly module: URL, private readonly maxWorkers: number, private readonly idleTimeoutMs: number) {}

  /** Runs one task on the next free worker; rejects once the pool is closed. */
  run(task: unknown): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the worker pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  /** Ends every worker; queued and running tasks fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('the worker pool was closed'));
    await Promise.all([...this.slots].map((slot) => this.end(slot)));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = [...this.slots].find((s) => !s.job);
      if (!slot) {
        if (this.slots.size >= this.maxWorkers) return;
        slot = this.spawn();
      }
      const job = this.queue.shift()!;
      clearTimeout(slot.timer);
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage(job.task);
    }
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.module, { execArgv: workerExecArgv() }) };
    slot.worker.on('message', (reply: unknown) => {
      const job = slot.job;
      slot.job = undefined;
      slot.worker.unref();
      slot.timer = setTimeout(() => void this.end(slot), this.idleTimeoutMs).unref();
      job?.resolve(reply);
      this.dispatch();
    });
    const fail = (error: Error): void => {
      this.slots.delete(slot);
      slot.job?.reject(error);
      slot.job = undefined;
      this.dispatch();
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => fail(new Error(`worker thread exited with code ${code}`)));
    this.slots.add(slot);
    return slot;
  }

  private async end(slot: Slot): Promise<void> {
    clearTimeout(slot.timer);
    this.slots.delete(slot);
    await slot.worker.terminate();
  }
}
