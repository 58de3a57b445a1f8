/**
 * A hostile hub mirror for tests: one node:http server on 127.0.0.1 whose answers each test
 * scripts (traversal headers, drip-fed or endless bodies, lying lengths, redirect loops), and a
 * temp workspace whose cache sits a few folders deep, so that anything written outside the cache
 * can be found by walking the workspace.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen, origin } from './hub_mirror.js';

/** Answers one request: `file` is the part after `/{repo}/resolve/{revision}/`, or `''`. */
export type HostileHandler = (req: IncomingMessage, res: ServerResponse, file: string) => void;

/** A running hostile server. */
export interface Hostile {
  readonly url: string;
  /** Stops the server, cutting open connections (a drip-feed never ends on its own). */
  close(): Promise<void>;
}

/** Starts a server answering every request with `handler`. */
export async function startHostile(handler: HostileHandler): Promise<Hostile> {
  const server: Server = await listen((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    handler(req, res, /^\/[^/]+\/[^/]+\/resolve\/[^/]+\/(.+)$/.exec(path)?.[1] ?? '');
  });
  return {
    url: origin(server),
    close: () => {
      server.closeAllConnections();
      return new Promise((done) => server.close(() => done()));
    },
  };
}

/** Sends `body` (or headers only, for HEAD) with `headers`; no Content-Length unless given. */
export function answer(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>, body: string | Uint8Array = ''): void {
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Writes `chunk` every `ms` until the client goes away (a drip-feed or an endless body). */
export function drip(res: ServerResponse, chunk: Uint8Array, ms: number): void {
  const timer = setInterval(() => res.write(chunk), ms);
  res.on('close', () => clearInterval(timer));
}

/** The folder layout of one hostile case: `<root>/l1/l2/cache`, and the place an escape would land. */
export interface HostileWorkspace {
  readonly root: string;
  readonly cacheDir: string;
  cleanup(): Promise<void>;
}

/** A temp workspace whose hub cache is `<root>/l1/l2/cache`. */
export async function hostileWorkspace(): Promise<HostileWorkspace> {
  const root = await mkdtemp(join(tmpdir(), 'mnv2-hostile-'));
  const cacheDir = join(root, 'l1', 'l2', 'cache');
  await mkdir(cacheDir, { recursive: true });
  return { root, cacheDir, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Asserts that nothing but the cache (and its parents, and `allowed`) exists under the workspace. */
export async function assertNothingOutsideCache(ws: HostileWorkspace, allowed: string[] = []): Promise<void> {
  const entries = await readdir(ws.root, { recursive: true });
  const cache = join('l1', 'l2', 'cache');
  const outside = entries.filter(
    (entry) => !['l1', join('l1', 'l2'), cache].includes(entry) && !entry.startsWith(cache + '/') &&
      !allowed.some((path) => entry === path || path.startsWith(entry + '/')),
  );
  assert.deepEqual(outside, [], 'created outside the cache');
}
