/**
 * The server's parts without a server: the batcher (batching across requests, its limits, deadlines,
 * a failing batch), the KServe v2 tensor parser, and the error for a missing optional package.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import { importPeers, missingPeerError } from '../src/node/optional_peer.js';
import { Batcher, untilAborted, type BatchOutputs } from '../src/serve/batcher.js';
import { inferResponse, modelMetadata, parseInferRequest } from '../src/serve/v2_protocol.js';
import { float32Tensor, type Float32Tensor } from '../src/tensor.js';

/** `[n, 1, 1, 1]` holding the values. */
function rows(...values: number[]): Float32Tensor {
  return float32Tensor(Float32Array.from(values), [values.length, 1, 1, 1]);
}

/** A model that doubles its input, recording each batch it runs; `failOn` fails batches holding that value. */
function doubler(failOn?: number): { run: (x: Float32Tensor) => Promise<BatchOutputs>; batches: number[][] } {
  const batches: number[][] = [];
  return {
    batches,
    run: async (x) => {
      batches.push(Array.from(x.data));
      if (failOn !== undefined && x.data.includes(failOn)) throw new MobileNetV2Error('bad row', { code: 'E_INVALID_ARGUMENT' });
      return { out: float32Tensor(x.data.map((v) => 2 * v), [x.shape[0]!, x.data.length / x.shape[0]!]) };
    },
  };
}

describe('Batcher', () => {
  it('runs requests that arrive within the delay together and gives each its own rows', async () => {
    const model = doubler();
    const batcher = new Batcher(model.run, { maxBatch: 8, maxDelayMs: 50 });
    const answers = await Promise.all([batcher.submit(rows(1)), batcher.submit(rows(2, 3)), batcher.submit(rows(4))]);
    assert.deepEqual(model.batches, [[1, 2, 3, 4]]);
    assert.deepEqual(answers.map((a) => Array.from(a.out!.data)), [[2], [4, 6], [8]]);
    assert.deepEqual(answers.map((a) => a.out!.shape), [[1, 1], [2, 1], [1, 1]]);
  });

  it('starts a full batch at once, never exceeds maxBatch rows, and batches only images of one size', async () => {
    const model = doubler();
    const patient = new Batcher(model.run, { maxBatch: 2, maxDelayMs: 60_000 });
    await Promise.all([patient.submit(rows(1)), patient.submit(rows(2))]); // would time out if it waited
    const batcher = new Batcher(model.run, { maxBatch: 2, maxDelayMs: 20 });
    const other = float32Tensor(new Float32Array(4), [1, 1, 2, 2]);
    await Promise.all([batcher.submit(rows(1)), batcher.submit(other), batcher.submit(rows(2)), batcher.submit(rows(3, 4, 5))]);
    assert.deepEqual(model.batches, [[1, 2], [1, 2], [0, 0, 0, 0], [3, 4, 5]]);
  });

  it('does not wait for others when none is coming', async () => {
    const model = doubler();
    let coming = 1;
    const batcher = new Batcher(model.run, { maxBatch: 8, maxDelayMs: 60_000, coming: () => coming });
    const first = batcher.submit(rows(1));
    const second = batcher.submit(rows(2)); // still one coming: both wait
    assert.equal(batcher.waiting, 2);
    coming = 0;
    const third = batcher.submit(rows(3)); // the last one: all go at once, not after a minute
    await Promise.all([first, second, third]);
    assert.deepEqual(model.batches, [[1, 2, 3]]);
  });

  it('drops a request whose signal aborts while it waits: it never reaches the model', async () => {
    const model = doubler();
    const batcher = new Batcher(model.run, { maxBatch: 8, maxDelayMs: 100 });
    const controller = new AbortController();
    const dropped = batcher.submit(rows(7), controller.signal);
    const kept = batcher.submit(rows(8));
    assert.equal(batcher.waiting, 2);
    controller.abort(new MobileNetV2Error('too late', { code: 'E_DEADLINE_EXCEEDED' }));
    await assert.rejects(dropped, { code: 'E_DEADLINE_EXCEEDED' });
    assert.equal(batcher.waiting, 1);
    assert.deepEqual(Array.from((await kept).out!.data), [16]);
    assert.deepEqual(model.batches, [[8]]);
  });

  it('when a batch fails, runs its requests one by one so only the bad one fails', async () => {
    const model = doubler(13);
    const batcher = new Batcher(model.run, { maxBatch: 8, maxDelayMs: 20 });
    const [good, bad] = await Promise.allSettled([batcher.submit(rows(1)), batcher.submit(rows(13))]);
    assert.equal(good.status, 'fulfilled');
    assert.equal(bad.status, 'rejected');
    assert.deepEqual(model.batches, [[1, 13], [1], [13]]);
  });

  it('untilAborted rejects with the reason as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const never = new Promise<number>(() => undefined);
    const waiting = untilAborted(never, controller.signal);
    controller.abort(new Error('deadline'));
    await assert.rejects(waiting, /deadline/);
    assert.equal(await untilAborted(Promise.resolve(5), new AbortController().signal), 5);
  });
});

describe('KServe v2 tensors', () => {
  const spec = { channels: 3, outputs: ['logits', 'pooler_output'] };
  const values = Array.from({ length: 12 }, (_, i) => i / 2);
  const nested = [[[values.slice(0, 2), values.slice(2, 4)], [values.slice(4, 6), values.slice(6, 8)], [values.slice(8, 10), values.slice(10, 12)]]];

  it('takes flat and nested data alike, and the outputs asked for', () => {
    const flat = parseInferRequest({ id: 'r1', inputs: [{ name: 'pixel_values', shape: [1, 3, 2, 2], datatype: 'FP32', data: values }] }, spec);
    const deep = parseInferRequest({ inputs: [{ name: 'pixel_values', shape: [1, 3, 2, 2], datatype: 'FP32', data: nested }], outputs: [{ name: 'logits' }] }, spec);
    assert.deepEqual(Array.from(flat.pixelValues.data), values);
    assert.deepEqual(deep.pixelValues, flat.pixelValues);
    assert.deepEqual(flat.outputs, ['logits', 'pooler_output']);
    assert.deepEqual(deep.outputs, ['logits']);
    const response = inferResponse('m', flat, { logits: float32Tensor(Float32Array.of(0.5, -1), [1, 2]), pooler_output: float32Tensor(Float32Array.of(2), [1, 1]) });
    assert.deepEqual(response, {
      model_name: 'm', model_version: '1', id: 'r1',
      outputs: [{ name: 'logits', shape: [1, 2], datatype: 'FP32', data: [0.5, -1] }, { name: 'pooler_output', shape: [1, 1], datatype: 'FP32', data: [2] }],
    });
  });

  it('refuses malformed requests with a message naming the field', () => {
    const input = { name: 'pixel_values', shape: [1, 3, 2, 2], datatype: 'FP32', data: values };
    const cases: Array<[unknown, RegExp]> = [
      [[], /JSON object/],
      [{ inputs: [{ ...input, name: 'x' }] }, /unknown input "x"/],
      [{ inputs: [{ ...input, datatype: 'INT64' }] }, /datatype must be FP32/],
      [{ inputs: [{ ...input, shape: [1, 3, 2] }] }, /shape must be \[N, C, H, W\]/],
      [{ inputs: [{ ...input, shape: [1, 1, 2, 6] }] }, /takes 3 channels/],
      [{ inputs: [{ ...input, shape: [1, 3, 1e6, 1e6] }] }, /expected 3000000000000 values/],
      [{ inputs: [{ ...input, data: [...values.slice(1), 'x'] }] }, /data\[11\]: expected a number/],
      [{ inputs: [{ ...input, data: [[[values.slice(0, 2), values.slice(2, 5)]]] }] }, /data\[0\]: expected 3 values/],
      [{ inputs: [input], outputs: [{ name: 'hidden' }] }, /unknown output "hidden"/],
    ];
    for (const [body, message] of cases) assert.throws(() => parseInferRequest(body, spec), (err: MobileNetV2Error) => err.code === 'E_INVALID_ARGUMENT' && message.test(err.message), String(message));
  });

  it('describes a model from its warm-up outputs: any batch, any size past the channels', () => {
    const meta = modelMetadata('seg', 3, { logits: float32Tensor(new Float32Array(21 * 4), [1, 21, 2, 2]) });
    assert.deepEqual(meta.outputs, [{ name: 'logits', datatype: 'FP32', shape: [-1, 21, -1, -1] }]);
    assert.deepEqual(meta.inputs, [{ name: 'pixel_values', datatype: 'FP32', shape: [-1, 3, -1, -1] }]);
  });
});

describe('optional peer packages', () => {
  it('a missing package becomes one line naming the npm install to run', async () => {
    const name = 'mobilenet-v2-no-such-package';
    await assert.rejects(importPeers('mobilenet-v2 serve', [name, 'prom-client'], () => import(name)), (err: MobileNetV2Error) =>
      err.code === 'E_MISSING_DEPENDENCY' && err.message === `mobilenet-v2 serve needs the optional packages ${name}, prom-client: npm install ${name} prom-client`);
    const other = new Error('boom');
    assert.equal(missingPeerError(other, 'x', ['y']), other, 'other failures pass through');
  });
});
