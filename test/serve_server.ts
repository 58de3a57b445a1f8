/** Starting a `mobilenet-v2 serve` server in the test process, on 127.0.0.1 and a free port. */
import { after, before } from 'node:test';
import { loadServedModels, type ServedModelOptions, type ServedModels } from '../src/serve/models_node.js';
import { startServer, type RunningServer, type ServeOptions } from '../src/serve/server_node.js';

/** A started test server and its models. */
export interface TestServer {
  server: RunningServer;
  /** The loaded models (once ready). */
  models: ServedModels;
}

/** Small, quiet defaults: one model thread and one decode worker (the machine has 2 cores). */
export const TEST_SERVE_OPTIONS: ServeOptions = {
  host: '127.0.0.1', port: 0, maxBatch: 8, maxDelayMs: 5, maxQueue: 64, timeoutMs: 30_000, maxBodyMb: 20,
  threads: 1, workers: 1, logLevel: false,
};

/**
 * Starts a server for the enclosing `describe` (closed after it). `load` wraps the model loading
 * (hold it, or replace `forward` to hold or fail the model).
 */
export function useServer(
  options: Partial<ServeOptions> = {}, load: (options: ServedModelOptions) => Promise<ServedModels> = loadServedModels,
): TestServer {
  const test = {} as TestServer;
  before(async () => {
    test.server = await startServer({
      ...TEST_SERVE_OPTIONS, ...options,
      load: async (o) => (test.models = await load(o)),
    });
  });
  after(async () => {
    await test.server.close();
  });
  return test;
}

/** POSTs `body` (image bytes by default) and returns the response. */
export function post(server: RunningServer, path: string, body: Uint8Array<ArrayBuffer> | FormData | string, type = 'image/jpeg'): Promise<Response> {
  return fetch(`${server.url}${path}`, { method: 'POST', body, ...(body instanceof FormData ? {} : { headers: { 'content-type': type } }) });
}
