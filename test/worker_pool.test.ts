/** The small worker-thread pool behind the decode pool: order, crashes, idle exit, close. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { before, describe, it } from 'node:test';
import { WorkerPool } from '../src/runtime/worker_pool_node.js';
import { useTempDir } from './helpers.js';

// Doubles numbers after `delay` ms; throws (uncaught, ending the worker) for 'crash'.
const WORKER = `
import { parentPort } from 'node:worker_threads';
parentPort.on('message', ({ value, delay }) => {
  if (value === 'crash') throw new Error('boom');
  setTimeout(() => parentPort.postMessage(value * 2), delay);
});`;

describe('WorkerPool', () => {
  const dir = useTempDir('worker-pool');
  let module: URL;
  before(async () => {
    module = pathToFileURL(join(dir(), 'double.mjs'));
    await writeFile(module, WORKER);
  });

  it('runs tasks on up to maxWorkers threads, each reply to its own task', async () => {
    const pool = new WorkerPool(module, 2, 1000);
    const replies = await Promise.all([30, 0, 10, 0].map((delay, i) => pool.run({ value: i, delay })));
    assert.deepEqual(replies, [0, 2, 4, 6]);
    await pool.close();
  });

  it('a crashing task fails alone; the pool goes on with a new worker', async () => {
    const pool = new WorkerPool(module, 1, 1000);
    await assert.rejects(pool.run({ value: 'crash', delay: 0 }), /boom/);
    assert.equal(await pool.run({ value: 21, delay: 0 }), 42);
    await pool.close();
  });

  it('close() fails queued tasks and refuses new ones', async () => {
    const pool = new WorkerPool(module, 1, 1000);
    const running = assert.rejects(pool.run({ value: 1, delay: 200 }), /exited/);
    const queued = assert.rejects(pool.run({ value: 2, delay: 0 }), /closed/);
    await pool.close();
    await Promise.all([running, queued]);
    await assert.rejects(pool.run({ value: 3, delay: 0 }), /closed/);
  });
});
