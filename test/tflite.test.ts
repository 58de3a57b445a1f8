/** TFLite reader and importer: Google's five MobileNetV2 / DeepLabV3 files, and bad inputs. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Builder, ByteBuffer } from 'flatbuffers';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../src/errors.js';
import { parameterSpecs } from '../src/model/architecture.js';
import { MobileNetV2ImageProcessor } from '../src/processing/processor.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { checkpointFiles, importTflite, type TfliteImport } from '../src/convert/tflite/importer.js';
import { readQuantizationRecord } from '../src/quantization/record.js';
import { readTflite } from '../src/convert/tflite/reader.js';
import {
  Buffer as FbBuffer, BuiltinOperator, Model, Operator, OperatorCode, SubGraph, Tensor as FbTensor, TensorType,
} from '../src/convert/tflite/schema/schema_generated.js';
import { HF_FIXTURES, REAL_FIXTURES, requireFixtures } from './helpers.js';

const MODELS = join(REAL_FIXTURES, 'models');
/** Skips the tests on Google's TFLite files when they are missing. */
const REAL_MODELS = requireFixtures(MODELS);
const modelBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(join(MODELS, `${name}.tflite`)));

const cache = new Map<string, TfliteImport>();
/** Each model is converted once per test file. */
function convert(name: string): TfliteImport {
  if (!cache.has(name)) cache.set(name, importTflite(modelBytes(name), `${name}.tflite`));
  return cache.get(name)!;
}

/** `key\t[shape]\tdtype` lines, the format of the HF key tables. */
function keyTable(r: TfliteImport): string[] {
  return [...r.stateDict].map(([k, t]) => `${k}\t[${t.shape.join(', ')}]\t${t.dtype}`);
}

interface GraphSpec {
  tensors: Array<{ name: string; shape: number[]; type?: TensorType; data?: Uint8Array }>;
  ops: Array<{ op: BuiltinOperator; inputs: number[]; outputs: number[] }>;
  inputs: number[];
  outputs: number[];
}

/** Writes a TFLite flatbuffer with the generated builder API (buffer 0 is the empty sentinel). */
function buildTflite(spec: GraphSpec): Uint8Array {
  const b = new Builder(1024);
  const buffers = [FbBuffer.createBuffer(b, 0, 0n, 0n)];
  const tensors = spec.tensors.map((t) => {
    let buffer = 0;
    if (t.data) {
      buffers.push(FbBuffer.createBuffer(b, FbBuffer.createDataVector(b, t.data), 0n, 0n));
      buffer = buffers.length - 1;
    }
    const shape = FbTensor.createShapeVector(b, t.shape);
    const name = b.createString(t.name);
    FbTensor.startTensor(b);
    FbTensor.addShape(b, shape);
    FbTensor.addType(b, t.type ?? TensorType.FLOAT32);
    FbTensor.addBuffer(b, buffer);
    FbTensor.addName(b, name);
    return FbTensor.endTensor(b);
  });
  const opcodes = [...new Set(spec.ops.map((o) => o.op))];
  const operators = spec.ops.map((o) => {
    const inputs = Operator.createInputsVector(b, o.inputs);
    const outputs = Operator.createOutputsVector(b, o.outputs);
    Operator.startOperator(b);
    Operator.addOpcodeIndex(b, opcodes.indexOf(o.op));
    Operator.addInputs(b, inputs);
    Operator.addOutputs(b, outputs);
    return Operator.endOperator(b);
  });
  const subgraph = SubGraph.createSubGraph(
    b, SubGraph.createTensorsVector(b, tensors), SubGraph.createInputsVector(b, spec.inputs),
    SubGraph.createOutputsVector(b, spec.outputs), SubGraph.createOperatorsVector(b, operators), b.createString('main'), 0,
  );
  const codes = opcodes.map((op) => OperatorCode.createOperatorCode(b, Math.min(op, 127), 0, 1, op));
  const model = Model.createModel(
    b, 3, Model.createOperatorCodesVector(b, codes), Model.createSubgraphsVector(b, [subgraph]), b.createString('test'),
    Model.createBuffersVector(b, buffers), 0, 0, 0, 0, 0,
  );
  Model.finishModelBuffer(b, model);
  return b.asUint8Array();
}

const floats = (n: number): Uint8Array => new Uint8Array(new Float32Array(n).fill(0.1).buffer);

describe('TFLite reader', () => {
  it('reads the TF-slim quantized classifier: ops, input quantization, embedded label file', REAL_MODELS, () => {
    const model = readTflite(modelBytes('mobilenet_v2_1.0_224_quant'), 'cls');
    const counts: Record<string, number> = {};
    for (const op of model.operators) counts[op.op] = (counts[op.op] ?? 0) + 1;
    assert.deepEqual(counts, { CONV_2D: 36, DEPTHWISE_CONV_2D: 17, ADD: 10, AVERAGE_POOL_2D: 1, RESHAPE: 1, SOFTMAX: 1 });
    const input = model.tensors[model.inputs[0]!]!;
    assert.deepEqual(input.shape, [1, 224, 224, 3]);
    assert.equal(input.type, 'UINT8');
    assert.deepEqual(input.quantization, { scale: [0.0078125], zeroPoint: [128], quantizedDimension: 0 });
    assert.deepEqual([...model.associatedFiles.keys()], ['imagenet_labels.txt']);
    const conv = model.operators[0]!;
    assert.deepEqual(conv.options, { padding: 'SAME', strideH: 2, strideW: 2, dilationH: 1, dilationW: 1, activation: 'RELU6' });
  });

  it('reads per-channel int8 quantization and dilations', REAL_MODELS, () => {
    const keras = readTflite(modelBytes('tf2_mobilenet_v2_1.0_224_ptq'), 'keras');
    const weight = keras.tensors[keras.operators[1]!.inputs[1]!]!;
    assert.equal(weight.type, 'INT8');
    assert.equal(weight.quantization!.scale.length, 32);
    const deeplab = readTflite(modelBytes('deeplabv3_257_mv_gpu'), 'deeplab');
    const dilations = deeplab.operators.filter((op) => op.op === 'DEPTHWISE_CONV_2D').map((op) => op.options.dilationH);
    assert.deepEqual(dilations, [1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4]); // output stride 8
  });

  it('rejects a file that is not TFLite', () => {
    assert.throws(() => readTflite(new TextEncoder().encode('{"model_type": "mobilenet_v2"}'), 'config.json'),
      (e) => e instanceof MobileNetV2Error && /config\.json: not a TFLite file/.test(e.message));
    assert.throws(() => readTflite(new Uint8Array(3), 'tiny.tflite'), (e) => e instanceof MobileNetV2Error && /only 3 bytes/.test(e.message));
  });

  it('rejects truncated files with an error naming the file, never a crash or garbage', REAL_MODELS, () => {
    const bytes = modelBytes('deeplabv3_mnv2_dm05_pascal_quant');
    for (const fraction of [0.001, 0.05, 0.5, 0.9, 0.999]) {
      const cut = bytes.slice(0, Math.floor(bytes.length * fraction));
      assert.throws(() => importTflite(cut, 'cut.tflite'),
        (e) => e instanceof MobileNetV2Error && /^cut\.tflite: .*(truncated|corrupt|past the end)/.test(e.message), `cut at ${fraction}`);
    }
  });
});

describe('TFLite importer: unsupported graphs', () => {
  it('names what it found in a model of another architecture', () => {
    // input → CONV_2D → MAX_POOL_2D → FULLY_CONNECTED → SOFTMAX
    const bytes = buildTflite({
      tensors: [
        { name: 'image', shape: [1, 8, 8, 3] },
        { name: 'tiny_cnn/conv1/kernel', shape: [4, 3, 3, 3], data: floats(108) },
        { name: 'tiny_cnn/conv1/out', shape: [1, 8, 8, 4] },
        { name: 'tiny_cnn/pool', shape: [1, 4, 4, 4] },
        { name: 'tiny_cnn/dense/kernel', shape: [10, 64], data: floats(640) },
        { name: 'tiny_cnn/dense/out', shape: [1, 10] },
        { name: 'probabilities', shape: [1, 10] },
      ],
      ops: [
        { op: BuiltinOperator.CONV_2D, inputs: [0, 1, -1], outputs: [2] },
        { op: BuiltinOperator.MAX_POOL_2D, inputs: [2], outputs: [3] },
        { op: BuiltinOperator.FULLY_CONNECTED, inputs: [3, 4, -1], outputs: [5] },
        { op: BuiltinOperator.SOFTMAX, inputs: [5], outputs: [6] },
      ],
      inputs: [0],
      outputs: [6],
    });
    assert.equal(readTflite(bytes, 'tiny').operators.length, 4); // a valid TFLite file…
    assert.throws(() => importTflite(bytes, 'tiny_cnn.tflite'), (e) => {
      assert.ok(e instanceof MobileNetV2Error);
      assert.match(e.message, /^tiny_cnn\.tflite: unsupported model: not a MobileNetV2 classifier or DeepLabV3/);
      assert.match(e.message, /CONV_2D ×1, MAX_POOL_2D ×1, FULLY_CONNECTED ×1, SOFTMAX ×1/);
      assert.match(e.message, /operators MobileNetV2 does not use: MAX_POOL_2D, FULLY_CONNECTED/);
      assert.match(e.message, /"tiny_cnn\/conv1\/kernel"/);
      return true;
    });
  });

  it('lists the missing layers of a graph that only starts like MobileNetV2', () => {
    const bytes = buildTflite({
      tensors: [
        { name: 'input', shape: [1, 8, 8, 3] },
        { name: 'MobilenetV2/Conv/weights', shape: [32, 3, 3, 3], data: floats(864) },
        { name: 'MobilenetV2/Conv/Relu6', shape: [1, 4, 4, 32] },
      ],
      ops: [{ op: BuiltinOperator.CONV_2D, inputs: [0, 1, -1], outputs: [2] }],
      inputs: [0],
      outputs: [2],
    });
    assert.throws(() => importTflite(bytes, 'stem.tflite'),
      (e) => e instanceof MobileNetV2Error && /unsupported model: .*missing layers: conv_stem\.conv_3x3, conv_stem\.reduce_1x1/.test(e.message));
  });
});

describe('TFLite importer: Google MobileNetV2 releases', REAL_MODELS, () => {
  const expectations = [
    { name: 'mobilenet_v2_1.0_224_quant', arch: 'MobileNetV2ForImageClassification', dm: 1, divisor: 8, os: 32, size: 224, labels: 1001, table: 'cls' },
    { name: 'tf2_mobilenet_v2_1.0_224_ptq', arch: 'MobileNetV2ForImageClassification', dm: 1, divisor: 8, os: 32, size: 224, labels: 1001, table: 'cls' },
    { name: 'deeplabv3_mnv2_pascal_quant', arch: 'MobileNetV2ForSemanticSegmentation', dm: 1, divisor: 8, os: 16, size: 513, labels: 21, table: 'seg' },
    { name: 'deeplabv3_mnv2_dm05_pascal_quant', arch: 'MobileNetV2ForSemanticSegmentation', dm: 0.5, divisor: 1, os: 16, size: 513, labels: 21 },
    { name: 'deeplabv3_257_mv_gpu', arch: 'MobileNetV2ForSemanticSegmentation', dm: 0.5, divisor: 1, os: 8, size: 257, labels: 21 },
  ];
  for (const e of expectations) {
    it(`${e.name}: config, keys, shapes and dtypes in transformers' layout`, () => {
      const r = convert(e.name);
      const c = r.config;
      assert.deepEqual(
        [c.architectures, c.depthMultiplier, c.depthDivisibleBy, c.outputStride, c.imageSize, c.numLabels, c.tfPadding, c.layerNormEps],
        [[e.arch], e.dm, e.divisor, e.os, e.size, e.labels, true, 0.001],
      );
      // Every parameter the model class owns, with the shapes the config implies (no more, no less).
      const specs = parameterSpecs(c, c.architectures![0]!);
      assert.deepEqual(keyTable(r), specs.map((s) => `${s.key}\t[${s.shape.join(', ')}]\t${s.key.endsWith('num_batches_tracked') ? 'int64' : 'float32'}`));
      if (e.table) {
        const table = readFileSync(join(HF_FIXTURES, `tables/keys_mobilenet_v2_1.0_${e.table}.txt`), 'utf8').trim().split('\n');
        assert.deepEqual(keyTable(r), table);
      }
      const conv1x1 = r.initialisedKeys.filter((k) => k.startsWith('mobilenet_v2.conv_1x1.'));
      assert.equal(conv1x1.length, e.arch.endsWith('Segmentation') ? 6 : 0);
      assert.deepEqual(r.initialisedKeys, conv1x1);
      assert.deepEqual(MobileNetV2Config.fromJSON(c.toJSON()).toJSON(), c.toJSON());
    });
  }

  it('labels look like the hub configs: ImageNet with background first, PASCAL VOC', () => {
    const cls = convert('mobilenet_v2_1.0_224_quant').config;
    assert.equal(cls.id2label[0], 'background');
    assert.equal(cls.id2label[1], 'tench, Tinca tinca');
    assert.equal(cls.id2label[286], 'Egyptian cat');
    assert.equal(cls.id2label[1000], 'toilet tissue, toilet paper, bathroom tissue');
    const seg = convert('deeplabv3_257_mv_gpu').config;
    assert.deepEqual([seg.id2label[0], seg.id2label[3], seg.id2label[20]], ['background', 'bird', 'tvmonitor']);
    assert.match(convert('tf2_mobilenet_v2_1.0_224_ptq').description, /labels from the embedded imagenet_labels\.txt/);
  });

  it('dequantizes and transposes weights and moves the folded bias into an identity BatchNorm', () => {
    const model = readTflite(modelBytes('mobilenet_v2_1.0_224_quant'), 'cls');
    const conv = model.operators[0]!;
    const w = model.tensors[conv.inputs[1]!]!; // OHWI uint8, per tensor
    const b = model.tensors[conv.inputs[2]!]!; // int32
    const sd = convert('mobilenet_v2_1.0_224_quant').stateDict;
    const weight = sd.get('mobilenet_v2.conv_stem.first_conv.convolution.weight')!;
    // OIHW [o=5, i=2, h=1, w=0] ← OHWI [5, 1, 0, 2]
    const q = w.data![((5 * 3 + 1) * 3 + 0) * 3 + 2]!;
    assert.equal(weight.data[((5 * 3 + 2) * 3 + 1) * 3 + 0], Math.fround(w.quantization!.scale[0]! * (q - w.quantization!.zeroPoint[0]!)));
    const bn = (k: string): number => sd.get(`mobilenet_v2.conv_stem.first_conv.normalization.${k}`)!.data[5] as number;
    const qb = new DataView(b.data!.buffer, b.data!.byteOffset).getInt32(5 * 4, true);
    assert.equal(bn('bias'), Math.fround(b.quantization!.scale[0]! * qb));
    assert.deepEqual([bn('running_mean'), bn('running_var'), bn('weight')], [0, 1, Math.fround(Math.sqrt(1.001))]);
    const dw = sd.get('mobilenet_v2.layer.0.conv_3x3.convolution.weight')!;
    assert.deepEqual(dw.shape, [96, 1, 3, 3]);
    assert.equal(sd.get('mobilenet_v2.layer.0.conv_3x3.normalization.num_batches_tracked')!.dtype, 'int64');
    const head = convert('deeplabv3_mnv2_pascal_quant').stateDict;
    assert.equal(head.get('segmentation_head.conv_pool.normalization.weight')!.data[0], Math.fround(Math.sqrt(1 + 1e-5)));
    assert.deepEqual(head.get('segmentation_head.classifier.convolution.weight')!.shape, [21, 256, 1, 1]);
  });

  it('records quantization that reproduces the stored integers from the saved float weights', () => {
    for (const name of ['mobilenet_v2_1.0_224_quant', 'tf2_mobilenet_v2_1.0_224_ptq', 'deeplabv3_mnv2_dm05_pascal_quant']) {
      const r = convert(name);
      const record = r.quantization!;
      assert.ok(record, name);
      const range = { uint8: [0, 255], int8: [-128, 127], int32: [-(2 ** 31), 2 ** 31 - 1] } as Record<string, [number, number]>;
      let checked = 0;
      for (const [key, p] of Object.entries(record.weights)) {
        const t = r.stateDict.get(key)!;
        const inner = t.data.length / t.shape[0]!;
        const [lo, hi] = range[p.dtype]!;
        for (let i = 0; i < t.data.length; i += 7) {
          const c = p.axis === null ? 0 : Math.floor(i / inner);
          const q = (t.data[i] as number) / p.scale[c]! + p.zero_point[c]!;
          // float32 keeps 24 bits: large int32 biases come back to within their float32 rounding
          const tolerance = 1e-3 + Math.abs(q) * 2 ** -23;
          assert.ok(Math.abs(q - Math.round(q)) < tolerance && q >= lo - 1e-3 && q <= hi + 1e-3, `${name} ${key}[${i}] → ${q}`);
          checked++;
        }
      }
      assert.ok(checked > 10000);
      // Every conv has input/output activation parameters; residual adds and pooling are recorded too.
      const convKeys = Object.keys(record.weights).filter((k) => k.endsWith('weight')).map((k) => k.replace(/\.(convolution\.)?weight$/, ''));
      for (const module of convKeys) assert.equal(record.activations[module]?.inputs.length, 1, `${name} ${module}`);
      assert.equal(record.activations['mobilenet_v2.layer.1']!.inputs.length, 2);
    }
    const slim = convert('mobilenet_v2_1.0_224_quant').quantization!;
    assert.deepEqual(slim.input, { dtype: 'uint8', scale: [0.0078125], zero_point: [128], axis: null });
    assert.deepEqual(slim.output, { dtype: 'uint8', scale: [0.00390625], zero_point: [0], axis: null });
    assert.ok(slim.activations['mobilenet_v2.pooler']);
    const keras = convert('tf2_mobilenet_v2_1.0_224_ptq').quantization!;
    assert.equal(keras.weights['mobilenet_v2.layer.0.conv_3x3.convolution.weight']!.axis, 0);
    assert.equal(keras.weights['classifier.weight']!.scale.length, 1001);
    assert.equal(keras.activations['mobilenet_v2.conv_stem.first_conv']!.inputs[0]!.dtype, 'int8');
    const seg = convert('deeplabv3_mnv2_pascal_quant').quantization!;
    assert.equal(seg.activations['segmentation_head.concat']!.inputs.length, 2);
    assert.equal(convert('deeplabv3_257_mv_gpu').quantization, undefined);
  });

  it('writes the checkpoint files transformers loads, with the record in the safetensors metadata', () => {
    const r = convert('deeplabv3_mnv2_dm05_pascal_quant');
    const files = checkpointFiles(r);
    assert.deepEqual(Object.keys(files).sort(), ['config.json', 'model.safetensors', 'preprocessor_config.json']);
    const parsed = parseSafetensors(files['model.safetensors']!, 'model.safetensors');
    assert.equal(parsed.metadata['format'], 'pt');
    assert.deepEqual(readQuantizationRecord(parsed.metadata, 'model.safetensors'), JSON.parse(JSON.stringify(r.quantization)));
    // Everything but the freshly initialised conv_1x1, which the file never had.
    assert.ok(r.initialisedKeys.length > 0 && r.initialisedKeys.every((k) => k.startsWith('mobilenet_v2.conv_1x1.')));
    assert.deepEqual([...parsed.tensors.keys()].sort(), [...r.stateDict.keys()].filter((k) => !r.initialisedKeys.includes(k)).sort());
    const config = JSON.parse(new TextDecoder().decode(files['config.json']));
    assert.equal(config['depth_divisible_by'], 1);
    assert.equal(config['id2label']['15'], 'person');
    assert.throws(() => readQuantizationRecord({ tflite_quantization: '{"format":"x"}' }, 'm.safetensors'), /not a version-1/);
  });

  it("writes preprocessor_config.json as transformers' conversion script does (size + 32, crop size)", () => {
    for (const [name, size] of [['mobilenet_v2_1.0_224_quant', 224], ['deeplabv3_mnv2_pascal_quant', 513], ['deeplabv3_257_mv_gpu', 257]] as const) {
      const json = convert(name).preprocessorConfig;
      assert.deepEqual(json['size'], { shortest_edge: size + 32 });
      assert.deepEqual(json['crop_size'], { height: size, width: size });
      const processor = MobileNetV2ImageProcessor.fromConfig(json);
      assert.deepEqual(JSON.parse(processor.toJsonString()), { ...json, do_reduce_labels: false });
    }
  });
});

/** A fresh copy of the dm0.5 DeepLab file and the generated accessors over it, to patch through their views. */
function patchable(): { bytes: Uint8Array; graph: SubGraph; model: Model } {
  const bytes = modelBytes('deeplabv3_mnv2_dm05_pascal_quant');
  const model = Model.getRootAsModel(new ByteBuffer(bytes));
  return { bytes, graph: model.subgraphs(0)!, model };
}

/** File position of a table's field (`vtableSlot` as in the generated accessor), found through the flatbuffer's vtable. */
function fieldPosition(table: { bb: ByteBuffer | null; bb_pos: number }, vtableSlot: number): number {
  const offset = table.bb!.__offset(table.bb_pos, vtableSlot);
  assert.ok(offset > 0, 'the field is present');
  return table.bb_pos + offset;
}

/** Asserts that importing `bytes` fails within seconds with `code` and a one-line message matching `message`. */
function failsQuickly(bytes: Uint8Array, code: string, message: RegExp): void {
  const start = performance.now();
  assert.throws(() => importTflite(bytes, 'hostile.tflite'),
    (e) => e instanceof MobileNetV2Error && e.code === code && message.test(e.message) && !e.message.includes('\n'));
  assert.ok(performance.now() - start < 5000, `took ${performance.now() - start} ms`);
}

describe('TFLite importer: corrupt files end in E_CHECKPOINT_CORRUPT, never a hang or a RangeError', REAL_MODELS, () => {
  const ops = readTflite(modelBytes('deeplabv3_mnv2_dm05_pascal_quant'), 'dm05').operators;
  for (const kind of ['QUANTIZE', 'CONV_2D', 'ADD']) {
    it(`an operator (${kind}) that reads its own output`, () => {
      const index = ops.find((op) => op.op === kind)!.index;
      const { bytes, graph } = patchable();
      const op = graph.operators(index)!;
      op.inputsArray()![0] = op.outputs(0)!; // the view writes into `bytes`
      failsQuickly(bytes, 'E_CHECKPOINT_CORRUPT', new RegExp(`operator ${index} \\(${kind}\\) reads tensor \\d+ .*which it writes itself \\(a cycle`));
    });
  }

  it('an operator that reads what a later operator writes', () => {
    const { bytes, graph } = patchable();
    const last = graph.operators(graph.operatorsLength() - 1)!;
    graph.operators(0)!.inputsArray()![0] = last.outputs(0)!;
    failsQuickly(bytes, 'E_CHECKPOINT_CORRUPT', /operator 0 \(CONV_2D\) reads tensor .*which the later operator \d+ writes/);
  });

  it('a tensor whose buffer index is out of range', () => {
    const { bytes, graph } = patchable();
    const weight = graph.tensors(ops[0]!.inputs[1]!)!;
    new DataView(bytes.buffer).setUint32(fieldPosition(weight, 8), 0x00ffffff, true);
    failsQuickly(bytes, 'E_CHECKPOINT_CORRUPT', /tensor \d+ ".*" uses buffer 16777215, but the file has \d+/);
  });

  it('a vector length of 2³¹ − 1 and a table offset past the end of the file', () => {
    const huge = patchable();
    const inputs = huge.graph.operators(0)!.inputsArray()!;
    new DataView(huge.bytes.buffer).setInt32(inputs.byteOffset - 4, 0x7fffffff, true);
    failsQuickly(huge.bytes, 'E_CHECKPOINT_CORRUPT', /truncated or corrupt TFLite file \(read of 2147483647 bytes/);
    const far = patchable();
    new DataView(far.bytes.buffer).setInt32(fieldPosition(far.graph.tensors(0)!, 4), 0x7ffffff0, true);
    failsQuickly(far.bytes, 'E_CHECKPOINT_CORRUPT', /truncated or corrupt TFLite file \(read of 4 bytes at offset \d+/);
  });

  it('negative sizes, overflowing shapes and buffers shorter than their shape', () => {
    const negative = patchable();
    negative.graph.tensors(ops[0]!.inputs[1]!)!.shapeArray()![0] = -3;
    failsQuickly(negative.bytes, 'E_CHECKPOINT_CORRUPT', /tensor \d+ ".*": shape \[-3, .*not a non-negative integer \(-3\)/);
    const overflow = patchable();
    overflow.graph.tensors(overflow.graph.inputs(0)!)!.shapeArray()!.set([65536, 65536, 65536, 3]);
    failsQuickly(overflow.bytes, 'E_CHECKPOINT_CORRUPT', /shape \[65536, 65536, 65536, 3\] has more than 2147483647 elements/);
    const short = patchable();
    const shape = short.graph.tensors(ops[0]!.inputs[1]!)!.shapeArray()!;
    shape[0] = shape[0]! + 1;
    failsQuickly(short.bytes, 'E_CHECKPOINT_CORRUPT', /: \d+ bytes of data, but shape \[\d+, 3, 3, 3\] of UINT8 needs \d+/);
  });

  it('a graph input that is the omitted-tensor marker -1', () => {
    const { bytes, graph } = patchable();
    graph.inputsArray()![0] = -1;
    failsQuickly(bytes, 'E_CHECKPOINT_CORRUPT', /graph input refers to tensor -1/);
  });

  it('an input tensor too large for the config is an unsupported model, not a crash', () => {
    const { bytes, graph } = patchable();
    graph.tensors(graph.inputs(0)!)!.shapeArray()!.set([1, 9000, 9000, 3]);
    failsQuickly(bytes, 'E_CHECKPOINT_MISMATCH', /unsupported model: config field "image_size" must be an integer from 1 to 8192, got 9000/);
  });

  it('a convolution without weights is an unsupported model', () => {
    const bytes = buildTflite({
      tensors: [{ name: 'input', shape: [1, 8, 8, 3] }, { name: 'out', shape: [1, 8, 8, 3] }],
      ops: [{ op: BuiltinOperator.CONV_2D, inputs: [0], outputs: [1] }],
      inputs: [0],
      outputs: [1],
    });
    failsQuickly(bytes, 'E_CHECKPOINT_MISMATCH', /unsupported model: CONV_2D #0 has 1 inputs and 1 outputs/);
  });
});
