/**
 * The server under pressure, made deterministic by holding the model: readiness false until the
 * models are loaded, 429 with Retry-After when --max-queue images are in flight, 504 for a request
 * past its deadline (dropped from the queue, never run), and 500 for a model failure without
 * harm to the next request.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { ForwardOptions } from '../src/model/modeling_mobilenet_v2.js';
import { loadServedModels } from '../src/serve/models_node.js';
import type { Float32Tensor } from '../src/tensor.js';
import { REPO_ROOT } from './helpers.js';
import { post, useServer } from './serve_server.js';

/** A gate that holds whoever waits on it until opened. */
class Gate {
  private opened = Promise.resolve();
  private release = (): void => undefined;

  close(): void {
    this.opened = new Promise((resolve) => (this.release = resolve));
  }

  open(): void {
    this.release();
  }

  wait(): Promise<void> {
    return this.opened;
  }
}

/** Polls `condition` every 10 ms (at most 20 s). */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition(), `timed out waiting until ${what}`);
}

describe('mobilenet-v2 serve under pressure', () => {
  const loading = new Gate();
  const model = new Gate();
  /** Rows handed to the model (held at the gate or not), and rows it ran past the gate. */
  const handed: number[] = [];
  const runs: number[] = [];
  let failNext = false;
  const rows = (list: number[]): number => list.reduce((a, b) => a + b, 0);
  loading.close();
  const t = useServer({ maxQueue: 3, timeoutMs: 1500 }, async (options) => {
    await loading.wait();
    const models = await loadServedModels(options);
    const classifier = models.classifier.pipeline.model;
    const forward = classifier.forward.bind(classifier);
    classifier.forward = async (pixelValues: Float32Tensor, forwardOptions?: ForwardOptions) => {
      handed.push(pixelValues.shape[0]!);
      await model.wait();
      runs.push(pixelValues.shape[0]!);
      if (failNext) {
        failNext = false;
        throw new Error('the model broke');
      }
      return forward(pixelValues, forwardOptions);
    };
    return models;
  });
  let cat: Uint8Array<ArrayBuffer>;
  before(async () => {
    cat = new Uint8Array(await readFile(join(REPO_ROOT, 'samples/cat.jpg')));
  });

  it('is live at once, ready only once the models are loaded; inference waits with 503 until then', async () => {
    assert.equal((await fetch(`${t.server.url}/v2/health/live`)).status, 200);
    const notReady = await fetch(`${t.server.url}/v2/health/ready`);
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), { ready: false });
    const early = await post(t.server, '/v1/classify', cat);
    assert.equal(early.status, 503);
    assert.equal(early.headers.get('retry-after'), '1');
    assert.equal(((await early.json()) as { code: string }).code, 'E_UNAVAILABLE');
    loading.open();
    await t.server.ready;
    assert.equal((await fetch(`${t.server.url}/v2/health/ready`)).status, 200);
    assert.equal((await post(t.server, '/v1/classify', cat)).status, 200); // also starts the decode worker
  });

  it('answers 429 with Retry-After while --max-queue images are in flight, then serves the held ones', async () => {
    model.close();
    handed.length = 0;
    const held = [1, 2, 3].map(() => post(t.server, '/v1/classify', cat));
    const { batcher } = t.models.classifier;
    // All three are past decoding: held in the model (two batches at most, IN_MODEL) or queued.
    await until(() => rows(handed) + batcher.waiting === 3, 'the held requests are in the model or queued');
    const refused = await post(t.server, '/v1/classify', cat);
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After in seconds');
    const body = (await refused.json()) as { code: string; error: string };
    assert.equal(body.code, 'E_OVERLOADED');
    assert.match(body.error, /at its limit of 3 \(--max-queue\)/);
    model.open();
    assert.deepEqual((await Promise.all(held)).map((r) => r.status), [200, 200, 200]);
  });

  it('answers 504 past the deadline and drops the queued request before it reaches the model', async () => {
    model.close();
    handed.length = 0;
    runs.length = 0;
    const { batcher } = t.models.classifier;
    // One at a time, so that they are two batches: the model is full (IN_MODEL).
    const inModel = [post(t.server, '/v1/classify', cat)];
    await until(() => batcher.running === 1, 'the first request is in the model');
    inModel.push(post(t.server, '/v1/classify', cat));
    await until(() => batcher.running === 2, 'the second request is in the model');
    const queued = post(t.server, '/v1/classify', cat);
    await until(() => batcher.waiting === 1, 'the third request waits in the queue');
    const answers = await Promise.all([...inModel, queued]);
    assert.deepEqual(answers.map((r) => r.status), [504, 504, 504]);
    const body = (await answers[2]!.json()) as { code: string; error: string };
    assert.equal(body.code, 'E_DEADLINE_EXCEEDED');
    assert.match(body.error, /within 1500 ms \(--timeout-ms\)/);
    assert.equal(batcher.waiting, 0, 'the expired request left the queue');
    model.open();
    await until(() => batcher.running === 0, 'the held batches finish');
    assert.equal(rows(runs), 2, 'the queued request never reached the model');
    assert.equal(rows(handed), 2);
    assert.equal((await post(t.server, '/v1/classify', cat)).status, 200);
  });

  it('answers 500 when the model fails, and the next request still succeeds', async () => {
    failNext = true;
    const broken = await post(t.server, '/v1/classify', cat);
    assert.equal(broken.status, 500);
    assert.deepEqual(await broken.json(), { error: 'internal error: the model broke', code: 'E_INTERNAL' });
    const after = await post(t.server, '/v1/classify', cat);
    assert.equal(after.status, 200);
    assert.equal(((await after.json()) as { predictions: Array<{ label: string }> }).predictions[0]!.label, 'Egyptian cat');
  });
});
