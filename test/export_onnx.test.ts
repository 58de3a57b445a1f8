/**
 * `mobilenet-v2 export-onnx`: the written graph runs in bare ONNX Runtime and computes what the
 * library computes; `--dtype int8` writes the integer QDQ graph; failures leave no file behind.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import '../src/node/setup.js';
import { loadPretrained } from '../src/model/modeling_mobilenet_v2.js';
import { decodeModel } from '../src/onnx/proto.js';
import { float32Tensor } from '../src/tensor.js';
import { assertClose, cli, HF_FIXTURES, REPO_ROOT, requireFixtures } from './helpers.js';

const CLASSIFIER = join(REPO_ROOT, 'models/mobilenet_v2_1.0_224_quant');
const FLOAT_CHECKPOINT = join(HF_FIXTURES, 'a_cls_035_96');
const PHOTO = join(REPO_ROOT, 'samples/cat.jpg');

/** Deterministic pixel values in [-1, 1]. */
function input(size: number): Float32Array {
  return Float32Array.from({ length: 3 * size * size }, (_, i) => Math.sin(i * 0.37));
}

async function logitsOf(file: string, size: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  try {
    const out = await session.run({ pixel_values: new ort.Tensor('float32', input(size), [1, 3, size, size]) });
    return out.logits!.data as Float32Array;
  } finally {
    await session.release();
  }
}

const dir = await mkdtemp(join(tmpdir(), 'export-onnx-'));
after(() => rm(dir, { recursive: true, force: true }));

describe('export-onnx', () => {
  it('writes the float graph, which bare ONNX Runtime runs to the library\'s logits', async () => {
    const output = join(dir, 'model.onnx');
    const run = cli('export-onnx', '--model', CLASSIFIER, '--output', output);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /float32 graph/);
    const model = await loadPretrained(CLASSIFIER);
    try {
      const { logits } = await model.forward(float32Tensor(input(224), [1, 3, 224, 224]));
      assertClose(await logitsOf(output, 224), logits!.data, 'exported logits', 1e-5, 1e-5);
    } finally {
      await model.dispose();
    }
  });

  it('writes the integer QDQ graph with --dtype int8 (a quarter of the size, same top-1)', async () => {
    const [fp32, int8] = [join(dir, 'fp32.onnx'), join(dir, 'int8.onnx')];
    assert.equal(cli('export-onnx', '--model', CLASSIFIER, '--output', fp32).status, 0);
    const run = cli('export-onnx', '--model', CLASSIFIER, '--output', int8, '--dtype', 'int8');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /int8 QDQ graph, quantization from mobilenet_v2_1\.0_224_quant\.tflite/);
    const [fp32Bytes, int8Bytes] = [await readFile(fp32), await readFile(int8)];
    assert.ok(int8Bytes.length < fp32Bytes.length / 3, `${int8Bytes.length} vs ${fp32Bytes.length} bytes`);
    const ops = new Set(decodeModel(int8Bytes).graph.node.map((n) => n.opType));
    assert.ok(ops.has('QuantizeLinear') && ops.has('DequantizeLinear'), [...ops].join(', '));
    const argmax = (a: Float32Array): number => a.indexOf(Math.max(...a));
    assert.equal(argmax(await logitsOf(int8, 224)), argmax(await logitsOf(fp32, 224)));
  });

  it('refuses int8 for a float checkpoint without --calibrate, and calibrates with it', requireFixtures(FLOAT_CHECKPOINT), async () => {
    const output = join(dir, 'calibrated.onnx');
    const refused = cli('export-onnx', '--model', FLOAT_CHECKPOINT, '--output', output, '--dtype', 'int8');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^mobilenet-v2: int8 needs quantization parameters.*--calibrate/);
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.ok(!existsSync(output), 'no file written');
    const run = cli('export-onnx', '--model', FLOAT_CHECKPOINT, '--output', output, '--dtype', 'int8', '--calibrate', PHOTO);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /quantization from calibration on 1 images/);
    assert.equal((await logitsOf(output, 96)).length, 1001);
  });

  it('reports bad arguments in one line and leaves no partial file', async () => {
    await writeFile(join(dir, 'a-file'), 'not a folder');
    const underFile = join(dir, 'a-file/model.onnx');
    const run = cli('export-onnx', '--model', CLASSIFIER, '--output', underFile);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^mobilenet-v2: cannot write .*a-file\/model\.onnx.*a-file exists and is not a folder/);
    const dtype = cli('export-onnx', '--model', CLASSIFIER, '--output', join(dir, 'x.onnx'), '--dtype', 'int4');
    assert.equal(dtype.status, 1);
    assert.match(dtype.stderr, /--dtype.*must be fp32 or int8/);
    const calibrateFp32 = cli('export-onnx', '--model', CLASSIFIER, '--output', join(dir, 'y.onnx'), '--calibrate', PHOTO);
    assert.equal(calibrateFp32.status, 1);
    assert.match(calibrateFp32.stderr, /--calibrate only applies to --dtype int8/);
    assert.deepEqual((await readdir(dir)).filter((f) => f.includes('.tmp')), []);
  });
});
