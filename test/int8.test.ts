/**
 * The int8 path: Google's quantized TFLite classifiers rebuilt as integer (QDQ) graphs, calibration
 * of a float checkpoint, and the fusion into ONNX Runtime's integer kernels that makes int8 fast.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import '../src/node/setup.js';
import { MobileNetV2Error } from '../src/errors.js';
import { softmaxRows } from '../src/model/functional.js';
import { MobileNetV2ForImageClassification, MobileNetV2ForSemanticSegmentation } from '../src/model/modeling_mobilenet_v2.js';
import { postProcessSemanticSegmentation } from '../src/model/post_processing.js';
import { decodeModel, OnnxDataType } from '../src/onnx/proto.js';
import { loadImage, loadSegmentationMap } from '../src/processing/image_io_node.js';
import { MobileNetV2ImageProcessor } from '../src/processing/processor.js';
import type { Float32Tensor } from '../src/tensor.js';
import { importTflite, type TfliteImport } from '../src/convert/tflite/importer.js';
import { cpuinfoHasVnni, signedInt8WeightsPay } from '../src/node/cpu_features.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { QUANTIZATION_METADATA_KEY, readQuantizationRecord } from '../src/quantization/record.js';
import { assertClose, REAL_FIXTURES, requireFixtures } from './helpers.js';

const fixture = (...parts: string[]): string => join(REAL_FIXTURES, ...parts);
const PHOTOS = ['bird.bmp', 'cat.bmp', 'dragonfly.bmp', 'grace_hopper.bmp', 'sunflower.bmp', 'bird_segmentation.bmp', 'cat_720p.jpg', 'pets.jpg'];

async function convert(name: string): Promise<TfliteImport> {
  return importTflite(new Uint8Array(await readFile(fixture('models', `${name}.tflite`))), `${name}.tflite`);
}

/** The converted model in fp32 and int8 (the int8 one carries the file's quantization record). */
function pair(r: TfliteImport): { fp32: MobileNetV2ForImageClassification; int8: MobileNetV2ForImageClassification } {
  const metadata = { [QUANTIZATION_METADATA_KEY]: JSON.stringify(r.quantization) };
  return {
    fp32: MobileNetV2ForImageClassification.fromStateDict(r.config, r.stateDict, { threads: 1 }),
    int8: MobileNetV2ForImageClassification.fromStateDict(r.config, r.stateDict, { threads: 1, dtype: 'int8' }, metadata),
  };
}

async function probabilities(model: MobileNetV2ForImageClassification, pixelValues: Float32Tensor): Promise<Float32Array> {
  const { logits } = await model.forward(pixelValues);
  return softmaxRows(logits!.data, logits!.shape[1]!);
}

const argmax = (p: Float32Array): number => p.indexOf(Math.max(...p));

describe('int8', requireFixtures(REAL_FIXTURES), () => {
  const disposables: Array<{ dispose(): Promise<void> }> = [];
  const photos = new Map<string, Float32Tensor>();
  after(async () => {
    for (const m of disposables) await m.dispose();
  });
  before(async () => {
    const processor = MobileNetV2ImageProcessor.fromConfig((await convert('mobilenet_v2_1.0_224_quant')).preprocessorConfig);
    for (const photo of PHOTOS) photos.set(photo, processor.preprocess(await loadImage(fixture('images', photo))).pixelValues);
  });

  for (const name of ['mobilenet_v2_1.0_224_quant', 'tf2_mobilenet_v2_1.0_224_ptq']) {
    it(`${name}: the integer graph keeps fp32's top-1 on every shared photo and tracks the TFLite integer runtime`, async () => {
      const { fp32, int8 } = pair(await convert(name));
      disposables.push(fp32, int8);
      for (const [photo, pixelValues] of photos) {
        const [f, q] = [await probabilities(fp32, pixelValues), await probabilities(int8, pixelValues)];
        assert.equal(argmax(q), argmax(f), `${photo}: int8 top-1 ${argmax(q)}, fp32 ${argmax(f)}`);
      }
      const processor = new MobileNetV2ImageProcessor();
      for (const image of ['bird', 'cat', 'grace_hopper']) {
        const input = await loadImage(fixture('reference', `cls224_input_${image}.png`));
        const q = await probabilities(int8, processor.preprocess(input, undefined, { doResize: false, doCenterCrop: false }).pixelValues);
        const reference = await readFile(fixture('reference', `${name}_output_u8_${image}.bin`));
        // The reference runtime's uint8 softmax: probability = q / 256.
        assertClose(q, Array.from(reference, (v) => v / 256), `${image} probabilities`, 0.06, 0);
      }
    });
  }

  it('ONNX Runtime fuses the QDQ graph into integer kernels (only the 3-channel stem conv stays float)', async () => {
    const { int8 } = pair(await convert('tf2_mobilenet_v2_1.0_224_ptq'));
    disposables.push(int8);
    const dir = await mkdtemp(join(tmpdir(), 'int8-'));
    try {
      const optimized = join(dir, 'optimized.onnx');
      const session = await ort.InferenceSession.create(await int8.exportOnnx(), { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized });
      await session.release();
      const ops = new Map<string, number>();
      for (const node of decodeModel(await readFile(optimized)).graph.node) ops.set(node.opType, (ops.get(node.opType) ?? 0) + 1);
      assert.equal(ops.get('QLinearConv'), 51, `op counts: ${JSON.stringify([...ops])}`);
      assert.equal(ops.get('QLinearAdd'), 10);
      assert.equal(ops.get('QGemm'), 1, JSON.stringify([...ops]));
      assert.ok(!ops.has('Clip'), 'every ReLU6 folded into its integer convolution');
      // Unsigned weights: U8S8 kernels saturate on CPUs without VNNI (see qdq_graph.ts).
      const model = decodeModel(await int8.exportOnnx());
      const weightTypes = new Set(model.graph.initializer.filter((t) => t.name.endsWith('.weight.quantized')).map((t) => t.dataType));
      assert.deepEqual([...weightTypes], [OnnxDataType.UINT8]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('signed weights (U8S8 kernels, chosen where the CPU has VNNI) give the very logits of unsigned ones', async (t) => {
    const r = await convert('mobilenet_v2_1.0_224_quant');
    const { int8 } = pair(r);
    disposables.push(int8);
    const signedGraph = decodeModel(await int8.exportOnnx({}, 'int8', { signedWeights: true }));
    const types = new Set(signedGraph.graph.initializer.filter((w) => w.name.endsWith('.weight.quantized')).map((w) => w.dataType));
    assert.deepEqual([...types], [OnnxDataType.INT8]);
    if (!signedInt8WeightsPay({})) {
      t.skip('this CPU has no VNNI, where signed int8 weights may saturate: nothing to compare');
      return;
    }
    const unsigned = await ort.InferenceSession.create(await int8.exportOnnx({}, 'int8'), { intraOpNumThreads: 1 });
    const signed = await ort.InferenceSession.create(await int8.exportOnnx({}, 'int8', { signedWeights: true }), { intraOpNumThreads: 1 });
    try {
      for (const [photo, pixelValues] of photos) {
        const input = { pixel_values: new ort.Tensor('float32', pixelValues.data, [...pixelValues.shape]) };
        const [u, s] = [(await unsigned.run(input)).logits!, (await signed.run(input)).logits!];
        assert.deepEqual(s.data, u.data, photo);
      }
    } finally {
      await unsigned.release();
      await signed.release();
    }
  });

  it('reads VNNI from cpuinfo flags, and MOBILENET_V2_INT8_WEIGHTS overrides it', () => {
    assert.equal(cpuinfoHasVnni('processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n'), true);
    assert.equal(cpuinfoHasVnni('flags\t\t: fpu avx2 avx_vnni\n'), true);
    assert.equal(cpuinfoHasVnni('flags\t\t: fpu avx2 avx512f avx512bw\n'), false);
    assert.equal(cpuinfoHasVnni(''), false);
    assert.equal(signedInt8WeightsPay({ MOBILENET_V2_INT8_WEIGHTS: 'uint8' }), false);
    assert.equal(signedInt8WeightsPay({ MOBILENET_V2_INT8_WEIGHTS: 'int8' }), true);
  });

  it('a float checkpoint needs calibration, then runs int8 with the same top-1', async () => {
    const r = await convert('tf2_mobilenet_v2_1.0_224_ptq');
    const fp32 = MobileNetV2ForImageClassification.fromStateDict(r.config, r.stateDict, { threads: 1 });
    const int8 = MobileNetV2ForImageClassification.fromStateDict(r.config, r.stateDict, { threads: 1, dtype: 'int8' });
    disposables.push(fp32, int8);
    const cat = photos.get('cat.bmp')!;
    await assert.rejects(int8.forward(cat), (err: Error) => err instanceof MobileNetV2Error && /calibrate/.test(err.message));
    const record = await int8.calibrate([photos.get('bird.bmp')!, photos.get('dragonfly.bmp')!, photos.get('pets.jpg')!], { source: 'three photos' });
    assert.equal(record.source, 'calibration on three photos (minmax)');
    assert.deepEqual(record.activations['mobilenet_v2.layer.3.expand_1x1']!.output.zero_point, [0], 'ReLU6 outputs start at 0');
    for (const [photo, pixelValues] of photos) {
      assert.equal(argmax(await probabilities(int8, pixelValues)), argmax(await probabilities(fp32, pixelValues)), photo);
    }
    // The ranges travel with the checkpoint.
    const saved = parseSafetensors((await int8.toPretrainedFiles())['model.safetensors']!, 'saved');
    assert.deepEqual(readQuantizationRecord(saved.metadata, 'saved'), record);
  });

  it('quantized DeepLabV3 (depth 0.5) segments the bird photo as integers (score > 0.9)', async () => {
    const r = await convert('deeplabv3_mnv2_dm05_pascal_quant');
    const model = MobileNetV2ForSemanticSegmentation.fromStateDict(
      r.config, r.stateDict, { threads: 1, dtype: 'int8' }, { [QUANTIZATION_METADATA_KEY]: JSON.stringify(r.quantization) },
    );
    disposables.push(model);
    const image = await loadImage(fixture('images', 'bird_segmentation.bmp'));
    const mask = await loadSegmentationMap(fixture('images', 'bird_segmentation_mask.bmp'));
    const processor = MobileNetV2ImageProcessor.fromConfig(r.preprocessorConfig);
    const { pixelValues } = processor.preprocess(image, undefined, { size: { height: 513, width: 513 }, doCenterCrop: false });
    const [segmentation] = postProcessSemanticSegmentation(await model.forward(pixelValues), [[mask.height, mask.width]]);
    let agree = 0;
    const n = mask.width * mask.height;
    for (let i = 0; i < n; i++) {
      const truth = mask.data[i * mask.channels]!;
      if (Number(segmentation!.data[i]) === (truth === 255 ? 0 : truth)) agree++;
    }
    const score = agree / (2 * n - agree);
    assert.ok(score > 0.9, `score ${score}`);
  });

  it('rejects an unknown dtype', async () => {
    const r = await convert('mobilenet_v2_1.0_224_quant');
    assert.throws(
      () => MobileNetV2ForImageClassification.fromStateDict(r.config, r.stateDict, { dtype: 'int4' as 'int8' }),
      (err: Error) => err instanceof MobileNetV2Error && /dtype must be "fp32" or "int8", got "int4"/.test(err.message),
    );
  });
});
