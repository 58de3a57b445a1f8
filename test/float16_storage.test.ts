/**
 * Float16 checkpoints: saving (`savePretrained`/`toPretrainedFiles`/`checkpointFiles` with
 * `dtype: 'float16'`), loading them back, and the built-in models, which are stored in float16 and
 * must load as exactly the float32 weights the converter computes (so int8 picks the same integers).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../src/node/setup.js';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../src/errors.js';
import { loadPretrained, MobileNetV2ForImageClassification } from '../src/model/modeling_mobilenet_v2.js';
import type { StateDict } from '../src/model/loading.js';
import { DEFAULT_CLASSIFIER, DEFAULT_SEGMENTER } from '../src/pipelines/default_models_node.js';
import { restoreQuantizedWeights } from '../src/quantization/grid.js';
import { readQuantizationRecord, type QuantizationRecord } from '../src/quantization/record.js';
import type { Tensor } from '../src/tensor.js';
import { float16ToFloat32, float32ToFloat16, toFloat16, toFloat32 } from '../src/weights/dtype.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { importTflite } from '../src/convert/tflite/importer.js';
import { REAL_FIXTURES, requireFixtures, useTempDir } from './helpers.js';

const half = (x: number): number => float16ToFloat32(float32ToFloat16(x));
const isCode = (code: string, pattern: RegExp) => (e: unknown): boolean => e instanceof MobileNetV2Error && e.code === code && pattern.test(e.message);

async function readFolder(dir: string): Promise<{ config: Record<string, unknown>; tensors: StateDict; metadata: Record<string, string> }> {
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const { tensors, metadata } = parseSafetensors(new Uint8Array(await readFile(join(dir, 'model.safetensors'))), dir);
  return { config, tensors, metadata };
}

describe('toFloat16', () => {
  it('rounds to nearest even like torch .half() and refuses values beyond float16', () => {
    const t = toFloat16({ dtype: 'float32', shape: [4], data: Float32Array.of(1 + 2 ** -11, 1 + 3 * 2 ** -11, -65504, 0.1) }, 'w');
    assert.deepEqual([...t.data], [0x3c00, 0x3c02, 0xfbff, 0x2e66]);
    assert.equal(t.dtype, 'float16');
    // Infinity stays infinite (torch too); a finite 70000 would silently become infinite.
    assert.equal(toFloat16({ dtype: 'float32', shape: [1], data: Float32Array.of(-Infinity) }, 'w').data[0], 0xfc00);
    assert.throws(() => toFloat16({ dtype: 'float32', shape: [2], data: Float32Array.of(1, 70000) }, 'layer.0.weight'),
      isCode('E_INVALID_ARGUMENT', /^tensor "layer\.0\.weight" holds 70000, beyond float16's range/));
  });
});

describe('savePretrained with dtype float16', () => {
  const tempDir = useTempDir('fp16');
  const config = new MobileNetV2Config({ depthMultiplier: 0.35, numLabels: 5, extra: { torch_dtype: 'float32' } });

  it('stores conv and linear weights as F16, inexact 1-D tensors as F32, counters as I64; loads back upcast', async () => {
    // A fresh model's BatchNorms (1, 0, 0, 1) are exact in float16; make some like a converted model's.
    const fresh = await MobileNetV2ForImageClassification.fromConfig(config).getStateDict();
    const inexact = (key: string): boolean => /layer\.[0-4]\.expand_1x1\.normalization\.(weight|bias)$/.test(key);
    const original: StateDict = new Map([...fresh].map(([key, t]) => [key, inexact(key)
      ? { ...t, data: (t.data as Float32Array).map((_, i) => (key.endsWith('weight') ? Math.sqrt(1.001) : 0.1 * i)) }
      : t]));
    const model = MobileNetV2ForImageClassification.fromStateDict(config, original);
    const dir = join(tempDir(), 'half');
    await model.savePretrained(dir, { dtype: 'float16' });
    const saved = await readFolder(dir);
    assert.equal([...saved.tensors.keys()].filter(inexact).length, 10);
    for (const [key, t] of saved.tensors) {
      const expected = key.endsWith('num_batches_tracked') ? 'int64' : inexact(key) ? 'float32' : 'float16';
      assert.equal(t.dtype, expected, key);
    }
    assert.equal(saved.config['dtype'], 'float16');
    assert.equal('torch_dtype' in saved.config, false, 'dtype replaces the deprecated torch_dtype');

    const reloaded = await loadPretrained(dir);
    const weights = await reloaded.getStateDict();
    assert.deepEqual([...weights.keys()], [...original.keys()]);
    for (const [key, t] of original) {
      const got = weights.get(key)!;
      if (t.dtype !== 'float32') continue;
      assert.equal(got.dtype, 'float32', key);
      const want = inexact(key) ? t.data : Float32Array.from(t.data as Float32Array, half);
      assert.deepEqual(got.data, want, key);
    }
    await reloaded.dispose();
  });

  it('halves the file and saving a float16-loaded model as float32 says dtype float32', async () => {
    const model = MobileNetV2ForImageClassification.fromConfig(config);
    const full = await model.toPretrainedFiles();
    const halfFiles = await model.toPretrainedFiles({ dtype: 'float16' });
    const ratio = halfFiles['model.safetensors']!.length / full['model.safetensors']!.length;
    assert.ok(ratio > 0.5 && ratio < 0.56, `float16 file is ${ratio} of the float32 one`);
    const dir = join(tempDir(), 'again');
    await model.savePretrained(join(dir, 'half'), { dtype: 'float16' });
    const loaded = await loadPretrained(join(dir, 'half'));
    await loaded.savePretrained(join(dir, 'full'));
    const resaved = await readFolder(join(dir, 'full'));
    assert.equal(resaved.config['dtype'], 'float32');
    assert.ok([...resaved.tensors.values()].every((t) => t.dtype === 'float32' || t.dtype === 'int64'));
    await loaded.dispose();
  });

  it('leaves config.json without a dtype when saving float32 a config that named none', async () => {
    const model = MobileNetV2ForImageClassification.fromConfig(new MobileNetV2Config({ depthMultiplier: 0.35, numLabels: 5 }));
    const files = await model.toPretrainedFiles({ dtype: 'float32' });
    assert.equal('dtype' in JSON.parse(new TextDecoder().decode(files['config.json'])), false);
  });

  it('rejects an unknown dtype with a one-line error', async () => {
    const model = MobileNetV2ForImageClassification.fromConfig(config);
    await assert.rejects(model.toPretrainedFiles({ dtype: 'bfloat16' as never }), isCode('E_INVALID_ARGUMENT', /^dtype must be "float32" or "float16", got "bfloat16"$/));
  });
});

describe('restoreQuantizedWeights', () => {
  // Per-channel uint8 weights, 3 output channels, like a converted TFLite conv.
  const scale = [0.0123, 0.00071, 0.25];
  const zeroPoint = [128, 3, 250];
  const q = Array.from({ length: 3 * 40 }, (_, i) => (i * 37 + 11) % 256);
  const exact = Float32Array.from(q, (v, i) => scale[Math.floor(i / 40)]! * (v - zeroPoint[Math.floor(i / 40)]!));
  const record = {
    weights: { w: { dtype: 'uint8', scale, zero_point: zeroPoint, axis: 0 } },
  } as unknown as QuantizationRecord;
  const stored = (data: Float32Array): Tensor => toFloat16({ dtype: 'float32', shape: [3, 40], data }, 'w');

  it('gives back the exact float32 values of float16-rounded weights', () => {
    const halfWeights = stored(exact);
    assert.notDeepEqual(toFloat32(halfWeights), exact, 'float16 has rounded some values');
    const restored = restoreQuantizedWeights(new Map([['w', halfWeights]]), record).get('w')!;
    assert.equal(restored.dtype, 'float32');
    assert.deepEqual(restored.data, exact);
  });

  it('leaves weights off the grid, float32 weights and keys without a record as they are', () => {
    const moved = Float32Array.from(exact);
    moved[5] = moved[5]! + 0.4 * scale[0]!; // changed by training: not the record's integers any more
    const offGrid = stored(moved);
    const other = stored(exact);
    const full: Tensor = { dtype: 'float32', shape: [3, 40], data: exact };
    const out = restoreQuantizedWeights(new Map([['w', offGrid], ['x', other]]), record);
    assert.equal(out.get('w'), offGrid);
    assert.equal(out.get('x'), other);
    assert.equal(restoreQuantizedWeights(new Map([['w', full]]), record).get('w'), full);
    assert.equal(restoreQuantizedWeights(new Map([['w', other]]), undefined).get('w'), other);
  });
});

describe('built-in models in float16', () => {
  for (const folder of [DEFAULT_CLASSIFIER, DEFAULT_SEGMENTER]) {
    const name = folder.split('/').at(-1)!;
    const tflite = join(REAL_FIXTURES, 'models', `${name}.tflite`);

    it(`${name}: every quantized weight keeps its integers (round(w / scale)) in float16`, requireFixtures(tflite), async () => {
      const { config, tensors, metadata } = await readFolder(folder);
      assert.equal(config['dtype'], 'float16');
      const record = readQuantizationRecord(metadata, name)!;
      const converted = importTflite(new Uint8Array(await readFile(tflite)), `${name}.tflite`);
      const keys = Object.keys(record.weights).filter((k) => k.endsWith('.weight'));
      assert.ok(keys.length >= 50, `${keys.length} quantized weights`);
      for (const key of keys) {
        const stored = tensors.get(key)!;
        assert.equal(stored.dtype, 'float16', key);
        const { scale } = record.weights[key]!;
        const perChannel = stored.data.length / scale.length;
        const w16 = toFloat32(stored);
        const w32 = converted.stateDict.get(key)!.data as Float32Array;
        for (let i = 0; i < w16.length; i++) {
          const s = scale[Math.floor(i / perChannel)]!;
          if (Math.round(w16[i]! / s) !== Math.round(w32[i]! / s)) assert.fail(`${key}[${i}]: ${w16[i]} / ${s} rounds differently from ${w32[i]}`);
        }
      }
    });

    it(`${name}: loads as the float32 conversion's weights bit for bit`, requireFixtures(tflite), async () => {
      const converted = importTflite(new Uint8Array(await readFile(tflite)), `${name}.tflite`);
      const model = await loadPretrained(folder);
      const weights = await model.getStateDict();
      for (const [key, t] of converted.stateDict) {
        // DeepLab's conv_1x1 is not in the file (fresh and unused), so nothing can restore it.
        if (converted.initialisedKeys.includes(key)) continue;
        assert.deepEqual(weights.get(key)!.data, t.data, key);
      }
      await model.dispose();
    });
  }
});
