/** `mobilenet-v2 convert`: TFLite file → checkpoint folder that `fromPretrained` loads; bad inputs. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../src/node/setup.js';
import {
  MobileNetV2ForImageClassification, MobileNetV2ForSemanticSegmentation,
} from '../src/model/modeling_mobilenet_v2.js';
import { openCheckpoint } from '../src/model/pretrained.js';
import { getPlatform } from '../src/platform.js';
import { importTflite } from '../src/convert/tflite/importer.js';
import { readQuantizationRecord } from '../src/quantization/record.js';
import { cli, REAL_FIXTURES, requireFixtures, useTempDir } from './helpers.js';

const model = (name: string): string => join(REAL_FIXTURES, 'models', `${name}.tflite`);

describe('mobilenet-v2 convert', requireFixtures(join(REAL_FIXTURES, 'models')), () => {
  const tempDir = useTempDir('convert');

  it('writes a quantized classifier checkpoint that fromPretrained loads unchanged', async () => {
    const out = join(tempDir(), 'cls');
    const r = cli('convert', model('mobilenet_v2_1.0_224_quant'), '--output', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /MobileNetV2ForImageClassification .*depth multiplier 1, output stride 32, 224×224 input, 1001 labels/);
    assert.deepEqual((await readdir(out)).sort(), ['config.json', 'model.safetensors', 'preprocessor_config.json']);

    const loaded = await MobileNetV2ForImageClassification.fromPretrained(out);
    const direct = importTflite(new Uint8Array(await readFile(model('mobilenet_v2_1.0_224_quant'))), 'x');
    assert.deepEqual(loaded.config.toJSON(), direct.config.toJSON());
    assert.deepEqual(loaded.loadReport, { missingKeys: [], unexpectedKeys: [] });
    const loadedStateDict = await loaded.getStateDict();
    assert.deepEqual([...loadedStateDict.keys()], [...direct.stateDict.keys()]);
    const key = 'mobilenet_v2.layer.7.expand_1x1.convolution.weight';
    assert.deepEqual(loadedStateDict.get(key)!.data, direct.stateDict.get(key)!.data);
    const record = readQuantizationRecord(loaded.checkpointMetadata, 'model.safetensors');
    assert.equal(record?.source, 'mobilenet_v2_1.0_224_quant.tflite');
    const processor = JSON.parse(await readFile(join(out, 'preprocessor_config.json'), 'utf8'));
    assert.deepEqual([processor.size, processor.crop_size], [{ shortest_edge: 256 }, { height: 224, width: 224 }]);
    await loaded.dispose();
  });

  it('writes a float DeepLab checkpoint without the conv_1x1 the file lacks, and loads it without a warning', async () => {
    const out = join(tempDir(), 'seg');
    const r = cli('convert', model('deeplabv3_257_mv_gpu'), '-o', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /conv_1x1 is absent from the file .* left out of the checkpoint/);
    assert.doesNotMatch(r.stdout, /quantization/);
    const loaded = await MobileNetV2ForSemanticSegmentation.fromPretrained(out);
    assert.deepEqual([loaded.config.depthMultiplier, loaded.config.depthDivisibleBy, loaded.config.outputStride], [0.5, 1, 8]);
    assert.deepEqual(loaded.loadReport.missingKeys, []);
    assert.equal(readQuantizationRecord(loaded.checkpointMetadata, 'm'), undefined);
    await loaded.dispose();
    const { tensors } = await openCheckpoint(await getPlatform().resolveModelFiles(out, {}));
    assert.equal(tensors.has('mobilenet_v2.conv_1x1.convolution.weight'), false);
    assert.ok(tensors.has('mobilenet_v2.layer.15.reduce_1x1.convolution.weight'));
    // The classifier does read conv_1x1: there its absence is a missing weight.
    const cls = await MobileNetV2ForImageClassification.fromPretrained(out, { warnings: false });
    assert.ok(cls.loadReport.missingKeys.includes('mobilenet_v2.conv_1x1.convolution.weight'));
    await cls.dispose();
  });

  it('refuses to write into a non-empty folder unless --overwrite is given', async () => {
    const out = join(tempDir(), 'busy');
    await rm(out, { recursive: true, force: true });
    assert.equal(cli('convert', model('deeplabv3_mnv2_dm05_pascal_quant'), '-o', out).status, 0);
    const before = (await stat(join(out, 'model.safetensors'))).mtimeMs;
    const again = cli('convert', model('deeplabv3_mnv2_dm05_pascal_quant'), '-o', out);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /^mobilenet-v2: output folder .*busy is not empty .*--overwrite/);
    assert.equal((await stat(join(out, 'model.safetensors'))).mtimeMs, before);
    assert.equal(cli('convert', model('deeplabv3_mnv2_dm05_pascal_quant'), '-o', out, '--overwrite').status, 0);
  });

  it('--dtype float16 writes half-precision weights that load as the exact float32 conversion', async () => {
    const name = 'deeplabv3_mnv2_dm05_pascal_quant';
    const out = join(tempDir(), 'half');
    const r = cli('convert', model(name), '-o', out, '--dtype', 'float16');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).dtype, 'float16');
    const { tensors } = await openCheckpoint(await getPlatform().resolveModelFiles(out, {}));
    const key = 'mobilenet_v2.layer.7.expand_1x1.convolution.weight';
    assert.deepEqual([tensors.get(key)!.dtype, tensors.get('mobilenet_v2.layer.7.expand_1x1.normalization.weight')!.dtype], ['float16', 'float32']);
    const loaded = await MobileNetV2ForSemanticSegmentation.fromPretrained(out);
    const direct = importTflite(new Uint8Array(await readFile(model(name))), 'x');
    assert.deepEqual((await loaded.getStateDict()).get(key)!.data, direct.stateDict.get(key)!.data);
    await loaded.dispose();

    const bad = cli('convert', model(name), '-o', join(tempDir(), 'never'), '--dtype', 'float64');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--dtype .*'float64' is invalid\. must be float32 or float16/);
  });

  it('fails with one line and writes nothing for a missing, non-TFLite or truncated file', async () => {
    const notTflite = join(tempDir(), 'config.tflite');
    await writeFile(notTflite, '{"model_type": "mobilenet_v2"}');
    const truncated = join(tempDir(), 'cut.tflite');
    await writeFile(truncated, (await readFile(model('deeplabv3_mnv2_dm05_pascal_quant'))).subarray(0, 300_000));
    const cases: Array<[string, RegExp]> = [
      [join(tempDir(), 'missing.tflite'), /^mobilenet-v2: cannot read .*missing\.tflite/],
      [notTflite, /^mobilenet-v2: config\.tflite: not a TFLite file/],
      [truncated, /^mobilenet-v2: cut\.tflite: .*(truncated|past the end)/],
    ];
    for (const [input, message] of cases) {
      const out = join(tempDir(), 'never');
      const r = cli('convert', input, '-o', out);
      assert.equal(r.status, 1, input);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.equal(existsSync(out), false);
    }
  });
});
