/**
 * The fine-tuning graphs' gradients against central finite differences, in float64 (the same
 * emitter builds both precisions), on a tiny config whose last four blocks hold a strided block
 * (TF padding's odd pixel included), two residual blocks and a plain one; and the graphs' forward
 * pass against the model's own inference graph.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import '../src/index.js';
import { encodeModel } from '../src/onnx/proto.js';
import { float32Tensor, numel } from '../src/tensor.js';
import { buildFineTuneGraph, fineTuneLayout, FT, type BatchNormMode } from '../src/training/finetune_graph.js';
import { seededRandom } from '../src/random.js';
import { assertClose } from './helpers.js';
import { gaussian, randomBatch, randomModel, randomTensors, tinyConfig } from './finetune_support.js';

import { TINY_INPUT as INPUT } from './finetune_support.js';
const EPS = 1e-6;

/** The training graph in `float` and feeds for it (random tensors, a batch of 3). */
async function trainingRun(bn: BatchNormMode, tfPadding: boolean, float: 'float32' | 'float64') {
  const config = tinyConfig(tfPadding);
  const layout = fineTuneLayout(config, 4, INPUT, 3);
  const session = await ort.InferenceSession.create(encodeModel(buildFineTuneGraph(config, layout, { mode: 'train', batchNorm: bn, float })));
  const values = new Map([...randomTensors(layout, 1), ...[...randomBatch(layout, 3, 2)].map(([k, v]) => [k, v.data] as const)]);
  const dims = new Map<string, readonly number[]>([...randomBatch(layout, 3, 2)].map(([k, v]) => [k, v.dims]));
  for (const p of layout.parameters) dims.set(p.key, p.shape);
  for (const n of layout.norms) for (const k of [n.runningMean, n.runningVar]) dims.set(k, [n.channels]);
  const inputs = session.inputNames;
  const run = async (names: string[] = [...session.outputNames]) => {
    const feeds = Object.fromEntries(inputs.map((name) => {
      const data = values.get(name)!;
      return [name, new ort.Tensor(float, float === 'float64' ? data : Float32Array.from(data), [...dims.get(name)!])];
    }));
    return session.run(feeds, names);
  };
  return { layout, values, run };
}

/** `|a − b| ≤ 1e-3 · max(|a|, |b|)`, with a floor far below any real gradient here for float64 rounding noise. */
function assertRelative(fd: number, analytic: number, what: string): void {
  const error = Math.abs(fd - analytic);
  assert.ok(error <= 1e-3 * Math.max(Math.abs(fd), Math.abs(analytic)) + 1e-8, `${what}: finite difference ${fd}, graph ${analytic} (error ${error.toExponential(2)})`);
}

/** Whether the gradient is zero by construction: with batch statistics, a shift before a 1×1 conv and BatchNorm cancels out. */
const shiftCancels = (bn: BatchNormMode, key: string) => bn === 'train' && /reduce_1x1\.normalization\.bias$/.test(key);

describe('fine-tuning gradients (float64 finite differences)', () => {
  for (const [bn, tfPadding] of [['train', true], ['frozen', true], ['train', false], ['frozen', false]] as const) {
    it(`every trained tensor, BatchNorm ${bn}, ${tfPadding ? 'TF' : 'PyTorch'} padding: relative error ≤ 1e-3 along a random direction and at two entries`, async () => {
      const { layout, values, run } = await trainingRun(bn, tfPadding, 'float64');
      const out = await run();
      const loss = async () => ((await run([FT.loss]))[FT.loss]!.data as Float64Array)[0]!;
      const normal = gaussian(seededRandom(3));
      assert.equal(layout.parameters.length, 4 * 9 + 3 + 2);
      for (const p of layout.parameters) {
        const weights = values.get(p.key)!;
        const grad = out[FT.grad(p.key)]!.data as Float64Array;
        assert.deepEqual(out[FT.grad(p.key)]!.dims, p.shape, p.key);
        const original = weights.slice();
        const along = async (direction: Float64Array) => {
          const at = async (sign: number) => {
            weights.forEach((_, i) => (weights[i] = original[i]! + sign * EPS * direction[i]!));
            return loss();
          };
          const fd = (await at(1) - await at(-1)) / (2 * EPS);
          weights.set(original);
          return { fd, analytic: grad.reduce((s, g, i) => s + g * direction[i]!, 0) };
        };
        const random = Float64Array.from(weights, () => normal());
        const { fd, analytic } = await along(random);
        assertRelative(fd, analytic, `${p.key} along a random direction`);
        if (shiftCancels(bn, p.key)) {
          assert.ok(Math.abs(analytic) < 1e-12, `${p.key}: a shift before BatchNorm in training mode has no gradient, got ${analytic}`);
          continue;
        }
        assert.ok(Math.abs(analytic) > 1e-6, `${p.key}: the check needs a gradient to check, got ${analytic}`);
        const largest = grad.reduce((best, g, i) => (Math.abs(g) > Math.abs(grad[best]!) ? i : best), 0);
        for (const i of new Set([largest, Math.floor(numel(p.shape) / 2)])) {
          const unit = new Float64Array(weights.length);
          unit[i] = 1;
          const entry = await along(unit);
          assertRelative(entry.fd, entry.analytic, `${p.key}[${i}]`);
        }
      }
    });
  }

  it('the float32 graph training runs gives the float64 graph\'s loss and gradients to float32 precision', async () => {
    for (const bn of ['train', 'frozen'] as const) {
      const double = await trainingRun(bn, true, 'float64');
      const single = await trainingRun(bn, true, 'float32');
      const [a, b] = [await double.run(), await single.run()];
      assertClose(b[FT.loss]!.data as Float32Array, a[FT.loss]!.data as Float64Array, `${bn}: loss`, 1e-5, 1e-5);
      for (const p of double.layout.parameters) {
        const g64 = a[FT.grad(p.key)]!.data as Float64Array;
        const scale = Math.max(...g64.map(Math.abs));
        assertClose(b[FT.grad(p.key)]!.data as Float32Array, g64, `${bn}: ${p.key}`, 1e-4 * scale + 1e-6, 1e-3);
      }
    }
  });
});

describe('fine-tuning graphs: forward pass', () => {
  for (const tfPadding of [true, false]) {
    it(`the evaluation graph on block 11's output gives the model's own logits (${tfPadding ? 'TF' : 'PyTorch'} padding, odd and even sizes)`, async () => {
      const config = tinyConfig(tfPadding);
      const model = await randomModel(config, 5);
      const pixels = float32Tensor(Float32Array.from({ length: 2 * 3 * 93 * 78 }, (_, i) => Math.sin(i * 0.37)), [2, 3, 93, 78]);
      const [blockInput] = await model.features(pixels, [11]);
      const expected = (await model.forward(pixels)).logits!;
      const layout = fineTuneLayout(config, 4, blockInput!.shape.slice(1) as [number, number, number], 3);
      const state = await model.getStateDict();
      const session = await ort.InferenceSession.create(encodeModel(buildFineTuneGraph(config, layout, { mode: 'eval', batchNorm: 'frozen' })));
      const feeds = Object.fromEntries(session.inputNames.map((name) => {
        const t = name === FT.input ? blockInput! : state.get(name)!;
        return [name, new ort.Tensor('float32', t.data as Float32Array, [...t.shape])];
      }));
      const out = await session.run(feeds);
      assert.deepEqual(blockInput!.shape.slice(2), [6, 5]);
      assertClose(out[FT.logits]!.data as Float32Array, expected.data, 'logits', 1e-4, 1e-4);
      await model.dispose();
    });
  }
});
