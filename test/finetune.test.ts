/**
 * Fine-tuning: one SGD step against an update computed independently (from transformers' own
 * outputs for the head, finite differences of the inference model's loss for the blocks),
 * BatchNorm in training and evaluation mode, and the saved checkpoint reloaded.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import '../src/index.js';
import { MobileNetV2ForImageClassification } from '../src/model/modeling_mobilenet_v2.js';
import { float32Tensor, numel, type Float32Tensor, type Tensor } from '../src/tensor.js';
import { encodeModel } from '../src/onnx/proto.js';
import { buildFineTuneGraph, fineTuneLayout, FT, type BatchNormMode, type FineTuneLayout } from '../src/training/finetune_graph.js';
import { FineTuner, type FineTuneBatch } from '../src/training/finetune_session.js';
import { seededRandom } from '../src/random.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { assertClose, VENDORED_HF_FIXTURES } from './helpers.js';
import { gaussian, randomBatch, randomModel, randomTensors, tinyConfig, TINY_INPUT } from './finetune_support.js';

const FIXTURE = join(VENDORED_HF_FIXTURES, 'h1_cls_025_losses');

async function fixtureTensors(name: string): Promise<Map<string, Tensor>> {
  return parseSafetensors(new Uint8Array(await readFile(join(FIXTURE, `${name}.safetensors`))), name).tensors;
}

const f32 = (t: Tensor) => t.data as Float32Array;

/** A batch of block inputs with one-hot targets and no dropout. */
function plainBatch(layout: FineTuneLayout, inputs: Float32Array, labels: readonly number[]): FineTuneBatch {
  const targets = new Float32Array(labels.length * layout.classes);
  labels.forEach((y, b) => (targets[b * layout.classes + y] = 1));
  return { inputs, size: labels.length, targets, dropoutMask: new Float32Array(labels.length * layout.channels).fill(1) };
}

describe('one SGD step on the h1 fixture (transformers, width 0.25, 40 × 40, TF padding)', () => {
  it('gives transformers\' loss, and the head update computed by hand from transformers\' logits and pooled features', async () => {
    const model = await MobileNetV2ForImageClassification.fromPretrained(FIXTURE, { warnings: false });
    const [inputs, outputs, state] = [await fixtureTensors('inputs'), await fixtureTensors('outputs'), await model.getStateDict()];
    const labels = Array.from(inputs.get('labels_single')!.data as BigInt64Array, Number);
    const blockInput = outputs.get('hidden_states.11')!;
    const layout = fineTuneLayout(model.config, 4, blockInput.shape.slice(1) as [number, number, number], 5);
    const tuner = await FineTuner.create(model.config, layout, (k) => state.get(k)!, { batchNorm: 'frozen', momentum: 0.1 });
    const lr = 0.5;
    const before = new Map([...tuner.tensors].map(([k, v]) => [k, v.slice()]));
    const { loss } = await tuner.step(plainBatch(layout, f32(blockInput), labels), { lr, weightDecay: 0, optimizer: 'sgd' });
    assertClose([loss], f32(outputs.get('loss_single')!), 'loss against transformers\' loss_single', 1e-5, 1e-5);

    // The head by hand: dW = (softmax − onehot)ᵀ · pooled / B from transformers' logits and pooler_output.
    const [logits, pooled] = [f32(outputs.get('logits')!), f32(outputs.get('pooler_output')!)];
    const expected = before.get('classifier.weight')!.slice();
    labels.forEach((y, b) => {
      const row = Array.from(logits.subarray(b * 5, b * 5 + 5));
      const z = row.reduce((s, l) => s + Math.exp(l - Math.max(...row)), 0);
      row.forEach((l, c) => {
        const d = (Math.exp(l - Math.max(...row)) / z - (c === y ? 1 : 0)) / labels.length;
        for (let j = 0; j < layout.channels; j++) expected[c * layout.channels + j]! -= lr * d * pooled[b * layout.channels + j]!;
      });
    });
    assertClose(tuner.tensors.get('classifier.weight')!, expected, 'classifier.weight after the step', 1e-6, 1e-4);

    await Promise.all([tuner.release(), model.dispose()]);
  });

  it('on the fixture config with lively weights, moves every tensor by −lr × its gradient from central differences of the float64 graph\'s loss', async () => {
    const fixture = await MobileNetV2ForImageClassification.fromPretrained(FIXTURE, { warnings: false });
    const model = await randomModel(fixture.config, 8);
    const [inputs, state] = [await fixtureTensors('inputs'), await model.getStateDict()];
    const pixels = inputs.get('pixel_values')! as Float32Tensor;
    const labels = Array.from(inputs.get('labels_single')!.data as BigInt64Array, Number);
    const [blockInput] = await model.features(pixels, [11]);
    const layout = fineTuneLayout(model.config, 4, blockInput!.shape.slice(1) as [number, number, number], 5);
    const tuner = await FineTuner.create(model.config, layout, (k) => state.get(k)!, { batchNorm: 'frozen', momentum: 0.1 });
    const batch = plainBatch(layout, blockInput!.data, labels);
    // A large step keeps float32 rounding of w − lr·g far below the gradient.
    const lr = 1;
    const before = new Map([...tuner.tensors].map(([k, v]) => [k, Float64Array.from(v)]));
    await tuner.step(batch, { lr, weightDecay: 0, optimizer: 'sgd' });
    const session = await ort.InferenceSession.create(encodeModel(buildFineTuneGraph(model.config, layout, { mode: 'train', batchNorm: 'frozen', float: 'float64' })));
    const fixed = new Map<string, Float32Tensor>([
      [FT.input, blockInput!], [FT.targets, float32Tensor(batch.targets, [3, 5])], [FT.dropoutMask, float32Tensor(batch.dropoutMask, [3, layout.channels])],
    ]);
    const loss = async () => {
      const feeds = Object.fromEntries(session.inputNames.map((name) => {
        const t = fixed.get(name) ?? state.get(name)!;
        return [name, new ort.Tensor('float64', before.get(name) ?? Float64Array.from(t.data as Float32Array), [...t.shape])];
      }));
      return ((await session.run(feeds, [FT.loss]))[FT.loss]!.data as Float64Array)[0]!;
    };
    const normal = gaussian(seededRandom(9));
    for (const p of layout.parameters) {
      const w = before.get(p.key)!;
      const original = w.slice();
      const direction = Float64Array.from(w, () => normal());
      const moved = Float64Array.from(original, (x, i) => (x - tuner.tensors.get(p.key)![i]!) / lr).reduce((s, g, i) => s + g * direction[i]!, 0);
      const at = async (sign: number) => {
        w.forEach((_, i) => (w[i] = original[i]! + sign * 1e-6 * direction[i]!));
        return loss();
      };
      const fd = (await at(1) - await at(-1)) / 2e-6;
      w.set(original);
      assert.ok(Math.abs(fd - moved) <= 1e-3 * Math.abs(fd) + 1e-6, `${p.key}: the step moved it by ${moved}·lr along a direction, finite differences give ${fd}`);
    }
    await Promise.all([tuner.release(), model.dispose(), fixture.dispose()]);
  });
});

/** A float32 tuner on the tiny config's random tensors. */
async function tinyTuner(batchNorm: BatchNormMode, momentum = 0.1): Promise<FineTuner> {
  const config = tinyConfig(true);
  const layout = fineTuneLayout(config, 4, TINY_INPUT, 3);
  const values = randomTensors(layout, 4);
  const initial = (key: string): Tensor => (key.endsWith('num_batches_tracked')
    ? { dtype: 'int64', shape: [], data: BigInt64Array.of(7n) }
    : float32Tensor(Float32Array.from(values.get(key)!), [values.get(key)!.length]));
  return FineTuner.create(config, layout, initial, { batchNorm, momentum });
}

function tinyBatch(tuner: FineTuner, size: number, seed: number): FineTuneBatch {
  const batch = randomBatch(tuner.layout, size, seed);
  const inputs = Float32Array.from(batch.get('block_input')!.data);
  return { ...plainBatch(tuner.layout, inputs, Array.from({ length: size }, (_, i) => i % 3)) };
}

describe('BatchNorm while fine-tuning', () => {
  it('frozen: training computes the evaluation logits, and running statistics and num_batches_tracked stay', async () => {
    // lr 0: the step changes nothing it trains, so only BatchNorm could change what it computes.
    const tuner = await tinyTuner('frozen');
    const batch = tinyBatch(tuner, 4, 1);
    const stats = new Map([...tuner.tensors].map(([k, v]) => [k, v.slice()]));
    const evalLogits = (await tuner.logits(batch.inputs, 4)).logits;
    const { logits } = await tuner.step(batch, { lr: 0, weightDecay: 0 });
    assertClose(logits, evalLogits, 'training vs evaluation logits', 1e-5, 1e-5);
    for (const n of tuner.layout.norms) {
      assert.deepEqual(tuner.tensors.get(n.runningMean), stats.get(n.runningMean));
      assert.equal(tuner.batchesTracked.get(n.prefix), 7n);
    }
    await tuner.release();
  });

  it('train: batch statistics in training (logits depend on the batch), running ones in evaluation (they do not), PyTorch\'s running update', async () => {
    const tuner = await tinyTuner('train', 0.25);
    const batch = tinyBatch(tuner, 4, 1);
    const other = tinyBatch(tuner, 4, 2);
    other.inputs.set(batch.inputs.subarray(0, numel(TINY_INPUT)));
    const evalAlone = (await tuner.logits(batch.inputs.slice(0, numel(TINY_INPUT)), 1)).logits;
    assertClose((await tuner.logits(other.inputs, 4)).logits.subarray(0, 3), evalAlone, 'evaluation: an image\'s logits whatever the batch', 1e-5, 1e-5);
    const first = tuner.layout.norms[0]!;
    const [mean0, var0] = [tuner.tensors.get(first.runningMean)!.slice(), tuner.tensors.get(first.runningVar)!.slice()];
    const a = (await tuner.step(batch, { lr: 0, weightDecay: 0 })).logits;
    const b = (await tuner.step(other, { lr: 0, weightDecay: 0 })).logits;
    assert.ok(Math.max(...a.subarray(0, 3).map((x, i) => Math.abs(x - b[i]!))) > 1e-3, 'training: the same image, another batch, other logits');
    assert.equal(tuner.batchesTracked.get(first.prefix), 9n);
    // The first BatchNorm normalises W·x of the block input: its batch statistics by hand.
    const w = tuner.tensors.get(tuner.layout.parameters[0]!.key)!;
    const [cin, h, wd] = TINY_INPUT;
    const cout = first.channels;
    let [m, v] = [mean0, var0];
    for (const x of [batch.inputs, other.inputs]) {
      const y = Array.from({ length: cout }, () => [] as number[]);
      for (let n = 0; n < 4; n++) for (let p = 0; p < h * wd; p++) for (let o = 0; o < cout; o++) {
        let s = 0;
        for (let i = 0; i < cin; i++) s += w[o * cin + i]! * x[(n * cin + i) * h * wd + p]!;
        y[o]!.push(s);
      }
      const mu = y.map((ys) => ys.reduce((s, q) => s + q, 0) / ys.length);
      const unbiased = y.map((ys, o) => ys.reduce((s, q) => s + (q - mu[o]!) ** 2, 0) / (ys.length - 1));
      m = Float32Array.from(m, (r, o) => 0.75 * r + 0.25 * mu[o]!);
      v = Float32Array.from(v, (r, o) => 0.75 * r + 0.25 * unbiased[o]!);
    }
    assertClose(tuner.tensors.get(first.runningMean)!, m, 'running_mean', 1e-5, 1e-4);
    assertClose(tuner.tensors.get(first.runningVar)!, v, 'running_var', 1e-5, 1e-4);
    await tuner.release();
  });

  it('train: recalibration keeps the evaluation logits and makes batch statistics on the same images match the running ones', async () => {
    const tuner = await tinyTuner('train');
    const batch = tinyBatch(tuner, 6, 3);
    const before = (await tuner.logits(batch.inputs, 6)).logits;
    await tuner.recalibrate([{ inputs: batch.inputs, size: 6 }]);
    assertClose((await tuner.logits(batch.inputs, 6)).logits, before, 'evaluation logits after recalibrating', 1e-4, 1e-4);
    assertClose((await tuner.step(batch, { lr: 0, weightDecay: 0 })).logits, before, 'training logits on the calibration batch', 1e-3, 1e-3);
    await tuner.release();
  });
});
