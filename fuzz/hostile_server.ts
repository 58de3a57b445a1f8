/**
 * A hostile hub for the hub target: a raw TCP server on 127.0.0.1 that answers each HTTP request
 * with the next scripted reply, whatever was asked: any status, any header (invalid values too,
 * which node:http would refuse to send), and bodies that are cut short, too long or dripped.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** How a reply's body is sent. */
export type BodyMode = 'full' | 'truncated' | 'overlong' | 'drip' | 'empty';

/** One scripted answer. Header values may use the placeholders listed at {@link expand}. */
export interface Reply {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: BodyMode;
  /** Index into the scenario's contents. */
  readonly content: number;
}

/** What the server saw that a client must never do. */
export interface Violation {
  readonly what: string;
}

/** A running hostile server. */
export interface HostileServer {
  /** `http://127.0.0.1:<port>`: the endpoint. `http://localhost:<port>` is the same server as another origin. */
  readonly url: string;
  /** Scripts the next requests: reply i answers request i (the last one repeats). */
  script(replies: readonly Reply[], contents: readonly Uint8Array[], root: string): void;
  /** Problems seen since the last {@link script}. */
  readonly violations: Violation[];
  close(): Promise<void>;
}

const DRIP_CHUNKS = 8;
const DRIP_GAP_MS = 30;

/** Starts the server; `token` is the bearer token that must never reach the other origin. */
export async function startHostileServer(token: string): Promise<HostileServer> {
  let replies: readonly Reply[] = [];
  let contents: readonly Uint8Array[] = [];
  let root = '';
  let count = 0;
  const violations: Violation[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let request = '';
    socket.on('data', (chunk) => {
      if (request.includes('\r\n\r\n')) return;
      request += chunk.toString('latin1');
      if (!request.includes('\r\n\r\n')) return;
      const head = request.slice(0, request.indexOf('\r\n\r\n')).toLowerCase();
      if (head.includes(`host: localhost:`) && head.includes(token.toLowerCase())) violations.push({ what: 'the token was sent to another origin' });
      const reply = replies[Math.min(count++, replies.length - 1)]!;
      answer(socket, reply, contents[reply.content % contents.length]!, head.startsWith('head '), { root, url: url() });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = () => `http://127.0.0.1:${port}`;
  return {
    url: url(),
    violations,
    script(r, c, rootDir) {
      replies = r;
      contents = c;
      root = rootDir;
      count = 0;
      violations.length = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Fills in a header value: {LEN} (body size), {LEN+1}, {SHA256} and {SHA1} (the body's sha256 and
 * git blob sha1), {ROOT} (the temp folder around the cache), {SELF} (this origin), {OTHER} (the
 * same server as `localhost`, another origin).
 */
function expand(value: string, body: Uint8Array, ctx: { root: string; url: string }): string {
  const sha1 = createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex');
  return value
    .replaceAll('{LEN}', String(body.length))
    .replaceAll('{LEN+1}', String(body.length + 1))
    .replaceAll('{SHA256}', createHash('sha256').update(body).digest('hex'))
    .replaceAll('{SHA1}', sha1)
    .replaceAll('{ROOT}', ctx.root)
    .replaceAll('{SELF}', ctx.url)
    .replaceAll('{OTHER}', ctx.url.replace('127.0.0.1', 'localhost'));
}

function answer(socket: Socket, reply: Reply, body: Uint8Array, head: boolean, ctx: { root: string; url: string }): void {
  const lines = [`HTTP/1.1 ${reply.status} Fuzz`, ...reply.headers.map(([k, v]) => `${k}: ${expand(v, body, ctx)}`), 'Connection: close'];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  if (head || reply.body === 'empty') {
    socket.end();
  } else if (reply.body === 'full') {
    socket.end(body);
  } else if (reply.body === 'overlong') {
    socket.end(Buffer.concat([body, Buffer.alloc(1000, 0x41)]));
  } else if (reply.body === 'truncated') {
    socket.write(body.subarray(0, body.length >> 1), () => socket.destroy());
  } else {
    const size = Math.ceil(body.length / DRIP_CHUNKS);
    const drip = (i: number) => {
      if (socket.destroyed) return;
      if (i >= DRIP_CHUNKS) socket.end();
      else socket.write(body.subarray(i * size, (i + 1) * size), () => setTimeout(() => drip(i + 1), DRIP_GAP_MS));
    };
    drip(0);
  }
}
