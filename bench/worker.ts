/**
 * A benchmark worker: a child process hosting one engine, so that engines do not share a heap, a
 * thread pool or a peak-RSS figure. The parent drives all workers in turn over IPC, which keeps
 * the timings interleaved while only one engine runs at a time.
 */
import { createEngine, type Engine, type EngineSpec } from './engines.js';

/** Parent → worker. */
export type WorkerRequest =
  | { readonly type: 'init'; readonly spec: EngineSpec }
  | { readonly type: 'run'; readonly calls: number }
  | { readonly type: 'logits' }
  | { readonly type: 'exit' };

/** Worker → parent. */
export type WorkerReply =
  | { readonly type: 'ready'; readonly threads: number; readonly imagesPerCall: number }
  | { readonly type: 'times'; readonly ms: number[] }
  | { readonly type: 'logits'; readonly data: Float32Array | null }
  | { readonly type: 'bye'; readonly maxRssMb: number }
  | { readonly type: 'error'; readonly message: string };

let engine: Engine | undefined;

function reply(message: WorkerReply): void {
  process.send!(message);
}

async function handle(request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case 'init':
      engine = await createEngine(request.spec);
      reply({ type: 'ready', threads: engine.threads, imagesPerCall: engine.imagesPerCall });
      return;
    case 'run': {
      const ms: number[] = [];
      for (let i = 0; i < request.calls; i++) {
        const start = performance.now();
        await engine!.call();
        ms.push(performance.now() - start);
      }
      reply({ type: 'times', ms });
      return;
    }
    case 'logits':
      reply({ type: 'logits', data: engine!.logits ? await engine!.logits() : null });
      return;
    case 'exit':
      await engine?.dispose();
      reply({ type: 'bye', maxRssMb: process.resourceUsage().maxRSS / 1024 });
      process.disconnect();
      return;
  }
}

process.on('message', (request: WorkerRequest) => {
  handle(request).catch((err: unknown) => {
    reply({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  });
});
