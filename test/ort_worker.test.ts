/**
 * Sessions in a worker thread (`worker: true`): the same outputs as an in-thread session, the
 * event loop free during inference, errors reported as MobileNetV2Error.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import '../src/node/setup.js';
import { MobileNetV2Error } from '../src/errors.js';
import { loadPretrained } from '../src/model/modeling_mobilenet_v2.js';
import { createWorkerSession } from '../src/runtime/ort_worker_node.js';
import { float32Tensor } from '../src/tensor.js';
import { REPO_ROOT } from './helpers.js';

const CLASSIFIER = join(REPO_ROOT, 'models/mobilenet_v2_1.0_224_quant');
const input = (seed: number) => float32Tensor(Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i * seed)), [1, 3, 224, 224]);

describe('worker-thread sessions', async () => {
  const [inThread, inWorker] = await Promise.all([loadPretrained(CLASSIFIER, { threads: 1 }), loadPretrained(CLASSIFIER, { threads: 1, worker: true })]);
  after(async () => {
    await inThread.dispose();
    await inWorker.dispose();
  });

  it('computes what the in-thread session computes, for concurrent calls too', async () => {
    const inputs = [input(0.1), input(0.2), input(0.3)];
    const expected: Float32Array[] = [];
    for (const x of inputs) expected.push((await inThread.forward(x)).logits!.data);
    const got = await Promise.all(inputs.map((x) => inWorker.forward(x)));
    got.forEach((out, i) => assert.deepEqual(out.logits!.data, expected[i], `call ${i}`));
    assert.deepEqual(got[0]!.lastHiddenState!.shape, [1, 1280, 7, 7]);
    assert.equal(inputs[0]!.data.length, 3 * 224 * 224, 'the caller keeps its input');
  });

  it('leaves the event loop free while the model runs', async () => {
    const x = input(0.5);
    const utilization = async (model: typeof inThread): Promise<number> => {
      const start = performance.eventLoopUtilization();
      for (let i = 0; i < 5; i++) await model.forward(x);
      return performance.eventLoopUtilization(start).utilization;
    };
    const [worker, thread] = [await utilization(inWorker), await utilization(inThread)];
    assert.ok(worker < 0.5 && worker < thread, `event loop busy ${worker} of the time with the worker, ${thread} without`);
  });

  it('reports runtime errors as MobileNetV2Error', async () => {
    const session = await createWorkerSession(await inThread.exportOnnx(), { intraOpNumThreads: 1 });
    try {
      const wrong = { not_an_input: new ort.Tensor('float32', new Float32Array(4), [1, 4]) };
      await assert.rejects(session.run(wrong), (err: Error) => err instanceof MobileNetV2Error && /worker thread/.test(err.message));
    } finally {
      await session.release();
    }
  });
});
