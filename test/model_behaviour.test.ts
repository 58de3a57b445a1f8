/** Model behaviour beyond the fixtures: padding, save/load, cross-class loading, features, TF pooling, bad input. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import '../src/node/setup.js';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../src/errors.js';
import { convLayer, type ConvLayerSpec } from '../src/model/layers.js';
import {
  loadPretrained, MobileNetV2ForImageClassification, MobileNetV2ForSemanticSegmentation, MobileNetV2Model,
} from '../src/model/modeling_mobilenet_v2.js';
import { GraphBuilder } from '../src/onnx/graph_builder.js';
import { encodeModel } from '../src/onnx/proto.js';
import { createSession, getOrtModule } from '../src/runtime/ort.js';
import type { Float32Tensor } from '../src/tensor.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { HF_FIXTURES } from './helpers.js';

function pixels(batch: number, height: number, width: number, seed = 1): Float32Tensor {
  const data = new Float32Array(batch * 3 * height * width);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = (s / 2147483648) * 2 - 1;
  }
  return { dtype: 'float32', shape: [batch, 3, height, width], data };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mnv2-model-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('TF "SAME" padding', () => {
  it('ONNX Conv reproduces every reference (size, kernel, stride, dilation) padding sample', async () => {
    const samples = JSON.parse(await readFile(join(HF_FIXTURES, 'tables/tf_padding_samples.json'), 'utf8')) as Array<{
      in_size: number; kernel: number; stride: number; dilation: number; pad_before: number; pad_after: number; out_size: number;
    }>;
    const ort = getOrtModule();
    for (const s of samples) {
      // All-ones input and kernel: each output counts the input pixels its window covers, which
      // reveals exactly how much padding sits before and after.
      const spec: ConvLayerSpec = { name: 'c', inChannels: 1, outChannels: 1, kernel: s.kernel, stride: s.stride, dilation: s.dilation, groups: 1, bnEps: null, activation: 'none' };
      const g = new GraphBuilder();
      const x = g.input('x', [1, 1, 1, 'w']);
      const weights = (key: string) => (key.endsWith('weight') ? new Float32Array(s.kernel * s.kernel).fill(1) : new Float32Array(1));
      g.output(g.rename(convLayer(g, x, spec, weights, true), 'y'), [1, 1, 'h', 'w']);
      const session = await createSession(encodeModel(g.build('pad')));
      const input = new ort.Tensor('float32', new Float32Array(s.in_size).fill(1), [1, 1, 1, s.in_size]);
      const y = (await session.run({ x: input }))['y']!;
      await session.release();
      // The input is one pixel high, so every window covers exactly one real row: outputs count columns.
      const row = Array.from(y.data as Float32Array);
      assert.equal(row.length, s.out_size, `out size for ${JSON.stringify(s)}`);
      const expected = Array.from({ length: s.out_size }, (_, o) => {
        let n = 0;
        for (let k = 0; k < s.kernel; k++) {
          const pos = o * s.stride + k * s.dilation - s.pad_before;
          if (pos >= 0 && pos < s.in_size) n++;
        }
        return n;
      });
      assert.deepEqual(row, expected, JSON.stringify(s));
    }
  });
});

describe('save and load', () => {
  for (const [arch, table] of [['MobileNetV2ForImageClassification', 'cls'], ['MobileNetV2Model', 'base'], ['MobileNetV2ForSemanticSegmentation', 'seg']] as const) {
    it(`${arch} 1.0: saved keys, shapes and dtypes match transformers' key table; reload is exact`, async () => {
      const config = new MobileNetV2Config({ numLabels: arch === 'MobileNetV2ForSemanticSegmentation' ? 21 : 1001, outputStride: table === 'seg' ? 8 : 32 });
      const Cls = { MobileNetV2ForImageClassification, MobileNetV2Model, MobileNetV2ForSemanticSegmentation }[arch];
      const model = Cls.fromConfig(config);
      const out = join(dir, table);
      await model.savePretrained(out);
      const saved = parseSafetensors(new Uint8Array(await readFile(join(out, 'model.safetensors'))), 'saved');
      const expected = (await readFile(join(HF_FIXTURES, `tables/keys_mobilenet_v2_1.0_${table}.txt`), 'utf8')).trim().split('\n');
      const actual = [...saved.tensors].map(([k, t]) => `${k}\t[${t.shape.join(', ')}]\t${t.dtype}`);
      assert.deepEqual([...actual].sort(), [...expected].map((l) => l.replace('\tint64', '\tint64')).sort());
      assert.equal(saved.metadata['format'], 'pt');
      const configJson = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
      assert.deepEqual(configJson.architectures, [arch]);
      const reloaded = await loadPretrained(out);
      assert.equal(reloaded.architecture, arch);
      const pv = pixels(1, 64, 48);
      const a = await model.forward(pv);
      const b = await reloaded.forward(pv);
      const key = arch === 'MobileNetV2Model' ? 'lastHiddenState' : 'logits';
      assert.deepEqual(b[key]!.data, a[key]!.data);
      await model.dispose();
      await reloaded.dispose();
    });
  }

  it('loads a bare backbone into a classifier (prefix added, fresh head reported) and back (prefix stripped)', async () => {
    const config = new MobileNetV2Config({ depthMultiplier: 0.35, numLabels: 7 });
    const base = MobileNetV2Model.fromConfig(config);
    const cls = MobileNetV2ForImageClassification.fromStateDict(config, await base.getStateDict());
    assert.deepEqual(cls.loadReport.missingKeys, ['classifier.weight', 'classifier.bias']);
    assert.deepEqual(cls.loadReport.unexpectedKeys, []);
    const back = MobileNetV2Model.fromStateDict(config, await cls.getStateDict());
    assert.deepEqual(back.loadReport.unexpectedKeys, ['classifier.weight', 'classifier.bias']);
    const pv = pixels(2, 40, 40);
    const [x, y] = [await base.forward(pv), await cls.forward(pv)];
    assert.deepEqual(y.poolerOutput!.data, x.poolerOutput!.data);
    assert.deepEqual(y.logits!.shape, [2, 7]);
    await Promise.all([base.dispose(), cls.dispose(), back.dispose()]);
  });
});

describe('features and early stopping', () => {
  const config = new MobileNetV2Config({ depthMultiplier: 0.5, numLabels: 5 });
  it('features(outIndices) equals the matching hidden states and reports channels and strides', async () => {
    const model = MobileNetV2ForImageClassification.fromConfig(config);
    const pv = pixels(2, 64, 64);
    const full = await model.forward(pv, { outputHiddenStates: true });
    const feats = await model.features(pv, [3, 7, 1]);
    assert.deepEqual(feats.map((f) => f.data), [3, 7, 1].map((i) => full.hiddenStates![i]!.data));
    const info = model.featureInfo();
    assert.deepEqual(info[3], { index: 3, module: 'layer.3', channels: 16, reduction: 8 });
    assert.deepEqual(feats[0]!.shape, [2, 16, 8, 8]);
    await assert.rejects(model.features(pv, [16]), /block index/);
    await model.dispose();
  });

  it('graphs stop after the last needed block; segmentation never computes conv_1x1', async () => {
    const has = (bytes: Uint8Array, s: string) => Buffer.from(bytes).includes(s);
    const model = MobileNetV2Model.fromConfig(config);
    const early = await model.exportOnnx({ head: false, hiddenStates: [3] });
    assert.ok(has(early, 'layer.3.reduce_1x1') && !has(early, 'layer.4.') && !has(early, 'conv_1x1'));
    const seg = MobileNetV2ForSemanticSegmentation.fromConfig(new MobileNetV2Config({ depthMultiplier: 0.5, outputStride: 8, numLabels: 3 }));
    const segGraph = await seg.exportOnnx();
    assert.ok(has(segGraph, 'layer.15.') && has(segGraph, 'segmentation_head') && !has(segGraph, 'conv_1x1'));
  });

  it('outputHiddenStates from the config returns all 16', async () => {
    const model = MobileNetV2Model.fromConfig(config.with({ outputHiddenStates: true }));
    const out = await model.forward(pixels(1, 32, 32));
    assert.equal(out.hiddenStates!.length, 16);
    await model.dispose();
  });
});

describe('original TF 7×7 pooling', () => {
  it('gives a spatial output on a large input, equal to 7×7 window means fed to the classifier', async () => {
    const model = MobileNetV2ForImageClassification.fromConfig(new MobileNetV2Config({ depthMultiplier: 0.35, numLabels: 3 }));
    const pv = pixels(1, 256, 288); // features 8×9 → 2×3 windows
    const out = await model.forward(pv, { pooling: 'tf' });
    assert.deepEqual(out.logits!.shape, [1, 3, 2, 3]);
    const hidden = out.lastHiddenState!;
    const [, c, h, w] = hidden.shape as number[];
    const stateDict = await model.getStateDict();
    const wt = stateDict.get('classifier.weight')!.data as Float32Array;
    const bias = stateDict.get('classifier.bias')!.data as Float32Array;
    for (const [oy, ox] of [[0, 0], [1, 2]] as const) {
      for (let k = 0; k < 3; k++) {
        let logit = bias[k]!;
        for (let ch = 0; ch < c!; ch++) {
          let sum = 0;
          for (let y = oy; y < oy + 7; y++) for (let x = ox; x < ox + 7; x++) sum += hidden.data[(ch * h! + y) * w! + x]!;
          logit += (sum / 49) * wt[k * c! + ch]!;
        }
        assert.ok(Math.abs(out.logits!.data[(k * 2 + oy) * 3 + ox]! - logit) < 1e-3, `logit ${k} at ${oy},${ox}`);
      }
    }
    const small = await model.forward(pixels(1, 96, 96), { pooling: 'tf' }); // 3×3 features: kernel shrinks to 3×3
    assert.deepEqual(small.logits!.shape, [1, 3, 1, 1]);
    await model.dispose();
  });
});

describe('bad input', () => {
  const config = new MobileNetV2Config({ depthMultiplier: 0.35, numLabels: 4 });
  it('rejects pixel values of the wrong rank, channel count, dtype or size', async () => {
    const model = MobileNetV2ForImageClassification.fromConfig(config);
    const cases: Array<[unknown, RegExp]> = [
      [{ dtype: 'float32', shape: [3, 32, 32], data: new Float32Array(3 * 32 * 32) }, /4 dimensions/],
      [{ dtype: 'float32', shape: [1, 4, 32, 32], data: new Float32Array(4 * 32 * 32) }, /4 channels but the model expects 3/],
      [{ dtype: 'float64', shape: [1, 3, 8, 8], data: new Float64Array(192) }, /float32/],
      [{ dtype: 'float32', shape: [1, 3, 0, 8], data: new Float32Array(0) }, /empty dimension/],
      [{ dtype: 'float32', shape: [1, 3, 8, 8], data: new Float32Array(10) }, /10 values/],
    ];
    for (const [pv, message] of cases) await assert.rejects(model.forward(pv as Float32Tensor), (e: Error) => e instanceof MobileNetV2Error && message.test(e.message));
    await model.dispose();
    await assert.rejects(model.forward(pixels(1, 32, 32)), /disposed/);
  });

  it('rejects a checkpoint with a wrong shape, naming the key', async () => {
    const good = await MobileNetV2Model.fromConfig(config).getStateDict();
    const bad = new Map(good);
    bad.set('conv_stem.first_conv.convolution.weight', { dtype: 'float32', shape: [8, 3, 3, 3], data: new Float32Array(216) });
    assert.throws(() => MobileNetV2Model.fromStateDict(config, bad), /"conv_stem.first_conv.convolution.weight" has shape \[8, 3, 3, 3\] but the config needs \[16, 3, 3, 3\]/);
  });

  it('rejects a checkpoint of another model', () => {
    const other = new Map([['encoder.layer.0.weight', { dtype: 'float32' as const, shape: [2], data: new Float32Array(2) }]]);
    assert.throws(() => MobileNetV2Model.fromStateDict(config, other), /none of the MobileNetV2 weights were found.*encoder.layer.0.weight/);
  });

  it('rejects missing folders, configs and weights, and corrupt files', async () => {
    const empty = join(dir, 'empty');
    await rm(empty, { recursive: true, force: true });
    await MobileNetV2Model.fromConfig(config).savePretrained(empty);
    await rm(join(empty, 'model.safetensors'));
    await assert.rejects(loadPretrained(empty), /no model.safetensors or pytorch_model.bin/);
    await writeFile(join(empty, 'model.safetensors'), new Uint8Array([1, 2, 3]));
    await assert.rejects(loadPretrained(empty), (e: Error) => e instanceof MobileNetV2Error && /model.safetensors/.test(e.message));
    await writeFile(join(empty, 'config.json'), '{ not json');
    await assert.rejects(loadPretrained(empty), /config.json is not valid JSON/);
    await rm(join(empty, 'config.json'));
    await assert.rejects(loadPretrained(empty), /no config.json/);
    await assert.rejects(loadPretrained(join(dir, 'does-not-exist')), MobileNetV2Error);
  });

  it('segmentation loss needs more than one label', async () => {
    const seg = MobileNetV2ForSemanticSegmentation.fromConfig(new MobileNetV2Config({ depthMultiplier: 0.35, numLabels: 1 }));
    const labels = { dtype: 'int64' as const, shape: [1, 32, 32], data: new BigInt64Array(32 * 32) };
    await assert.rejects(seg.forward(pixels(1, 32, 32), { labels }), /number of labels should be greater than one/);
    await seg.dispose();
  });
});
