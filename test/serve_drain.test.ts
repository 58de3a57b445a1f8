/**
 * `mobilenet-v2 serve` as a process: one-line JSON logs, SIGTERM while a request is in flight
 * (the server stops accepting, answers it, exits 0), and a model that cannot load (exit 1, one
 * line on stderr).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { CLI, REPO_ROOT } from './helpers.js';

/** Polls `check` every 50 ms (at most 60 s). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting until ${what}`);
}

describe('mobilenet-v2 serve (process)', () => {
  it('on SIGTERM stops accepting, answers the request in flight, and exits 0', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--threads', '1', '--workers', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const logs: Array<{ msg: string }> = [];
    let url = '';
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg: string }; // every log line is one JSON object
      logs.push(entry);
      url ||= /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(entry.msg)?.[1] ?? '';
    });
    try {
      await until(async () => url !== '' && (await fetch(`${url}/v2/health/ready`)).status === 200, 'the server is ready');
      const cat = await readFile(join(REPO_ROOT, 'samples/cat.jpg'));
      // A request whose body is half sent: in flight when the signal comes.
      const req = request(`${url}/v1/classify?top_k=1`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'content-length': cat.length } });
      const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
        req.on('response', (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
      });
      req.write(cat.subarray(0, cat.length >> 1));
      await until(async () => /mobilenet_v2_images_in_flight 1\b/.test(await (await fetch(`${url}/metrics`)).text()), 'the request is in flight');
      child.kill('SIGTERM');
      await until(async () => logs.some((l) => l.msg.startsWith('shutting down')), 'the server starts shutting down');
      const late = await fetch(`${url}/v2/health/live`).then((r) => r.status, () => 'refused');
      assert.ok(late === 'refused' || late === 503, `a new request after SIGTERM is refused or 503, got ${late}`);
      req.end(cat.subarray(cat.length >> 1));
      const { status, body } = await answer;
      assert.equal(status, 200, body);
      assert.equal((JSON.parse(body) as { predictions: Array<{ label: string }> }).predictions[0]!.label, 'Egyptian cat');
      assert.equal(await exited, 0, stderr);
      assert.ok(logs.some((l) => l.msg === 'request'), 'one log line per request');
      assert.equal(logs.at(-1)!.msg, 'stopped');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a model that cannot be loaded ends the process with one line and exit 1', () => {
    const r = spawnSync(process.execPath, [CLI, 'serve', '--port', '0', '--model', join(REPO_ROOT, 'no/such/model')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^mobilenet-v2: .*no[/]such[/]model/);
  });
});
