/**
 * The parent's side of the worker protocol: start a worker for one engine, ask it to run, collect
 * its logits and its peak RSS.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EngineSpec } from './engines.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/** One running worker. */
export class WorkerHandle {
  private pending: { resolve(r: WorkerReply): void; reject(e: Error): void } | null = null;
  private stderr = '';
  /** Threads the engine runs with and images per call, known once started. */
  threads = 0;
  imagesPerCall = 1;

  private constructor(readonly spec: EngineSpec, private readonly child: ChildProcess) {
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2000);
    });
    child.on('message', (reply: WorkerReply) => {
      const pending = this.pending;
      this.pending = null;
      if (reply.type === 'error') pending?.reject(new Error(`${spec.engine}: ${reply.message}`));
      else pending?.resolve(reply);
    });
    child.on('exit', (code) => {
      this.pending?.reject(new Error(`${spec.engine}: worker exited (code ${code}) ${this.stderr.trim()}`));
      this.pending = null;
    });
  }

  /** Starts a worker and builds its engine. */
  static async start(spec: EngineSpec): Promise<WorkerHandle> {
    const child = fork(WORKER, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const handle = new WorkerHandle(spec, child);
    try {
      const ready = await handle.request({ type: 'init', spec });
      if (ready.type === 'ready') Object.assign(handle, { threads: ready.threads, imagesPerCall: ready.imagesPerCall });
    } catch (err) {
      child.kill();
      throw err;
    }
    return handle;
  }

  private request(request: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.child.send(request);
    });
  }

  /** Runs `calls` calls back to back; milliseconds of each. */
  async run(calls: number): Promise<number[]> {
    const reply = await this.request({ type: 'run', calls });
    return reply.type === 'times' ? reply.ms : [];
  }

  /** The engine's logits on the shared input, or null for pipelines. */
  async logits(): Promise<Float32Array | null> {
    const reply = await this.request({ type: 'logits' });
    return reply.type === 'logits' ? reply.data : null;
  }

  /** Disposes the engine and ends the worker; returns its peak RSS in MB. */
  async close(): Promise<number> {
    const reply = await this.request({ type: 'exit' });
    return reply.type === 'bye' ? reply.maxRssMb : NaN;
  }
}
