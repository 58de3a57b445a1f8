/** MobileNetV2Config: JSON forms, defaults, validation and channel arithmetic (spec §1–2). */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backbonePlan, makeDivisible, pythonRound } from '../src/config/channels.js';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../src/errors.js';
import { parameterSpecs } from '../src/model/architecture.js';
import { isBuffer } from '../src/model/layers.js';
import { modelFixtures } from './fixture_runner.js';
import { cli, HF_FIXTURES, useTempDir } from './helpers.js';

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('MobileNetV2Config', () => {
  it('has transformers defaults', () => {
    const c = new MobileNetV2Config();
    assert.equal(c.depthMultiplier, 1.0);
    assert.equal(c.outputStride, 32);
    assert.equal(c.layerNormEps, 0.001);
    assert.equal(c.classifierDropoutProb, 0.8);
    assert.equal(c.hiddenAct, 'relu6');
    assert.equal(c.tfPadding, true);
    assert.equal(c.numLabels, 2);
    assert.deepEqual(c.id2label, { 0: 'LABEL_0', 1: 'LABEL_1' });
  });

  for (const fixture of modelFixtures()) {
    it(`${fixture.name}: full and diff config.json load to the same config and are written back exactly`, () => {
      const full = readJson(join(fixture.dir, 'config.json'));
      const saved = readJson(join(fixture.dir, 'config_saved.json'));
      const a = MobileNetV2Config.fromJSON(full);
      const b = MobileNetV2Config.fromJSON(saved);
      assert.deepEqual(a.toJSON({ diff: true }), saved);
      assert.deepEqual(b.toJSON({ diff: true }), saved);
      assert.deepEqual(a.toJSON({ diff: false }), full);
      assert.deepEqual(b.toJSON({ diff: false }), full);
    });
  }

  it('accepts a minimal hub-style config with torch_dtype and string id2label keys', () => {
    const c = MobileNetV2Config.fromJSON({ model_type: 'mobilenet_v2', depth_multiplier: 0.35, torch_dtype: 'float32', id2label: { '0': 'background', '1': 'cat' } });
    assert.equal(c.depthMultiplier, 0.35);
    assert.equal(c.numLabels, 2);
    assert.equal(c.id2label[1], 'cat');
    assert.deepEqual(c.label2id, { background: 0, cat: 1 });
    assert.equal(c.toJSON()['torch_dtype'], 'float32');
  });

  const invalid: Array<[Record<string, unknown>, RegExp]> = [
    [{ depth_multiplier: 0 }, /depth_multiplier/],
    [{ depth_multiplier: -1 }, /depth_multiplier/],
    [{ hidden_act: 'mish' }, /hidden_act.*mish/],
    [{ output_stride: 12 }, /output_stride.*power of two/],
    [{ output_stride: 128 }, /output_stride.*power of two up to 64, got 128/],
    [{ num_labels: 1e9 }, /num_labels.*from 0 to 100000, got 1000000000/],
    [{ num_labels: -1 }, /num_labels/],
    [{ num_channels: 5 }, /num_channels.*from 1 to 4, got 5/],
    [{ num_channels: 0 }, /num_channels/],
    [{ image_size: 8193 }, /image_size.*from 1 to 8192/],
    [{ depth_multiplier: 10.5 }, /depth_multiplier" must be in \(0, 10\], got 10.5/],
    [{ min_depth: 1e6 }, /min_depth.*from 1 to 1024/],
    [{ depth_divisible_by: 0 }, /depth_divisible_by/],
    [{ expand_ratio: 1000 }, /expand_ratio/],
    [{ layer_norm_eps: -1e-5 }, /layer_norm_eps" must be in \[0, 1\]/],
    [{ classifier_dropout_prob: 1.5 }, /classifier_dropout_prob" must be in \[0, 1\]/],
    [{ semantic_loss_ignore_index: 2 ** 40 }, /semantic_loss_ignore_index/],
    [{ semantic_loss_ignore_index: 0.5 }, /semantic_loss_ignore_index/],
    [{ id2label: { 0: 'a', 2: 'c' } }, /id2label" must have the keys 0\.\.1, but has "2"/],
    [{ id2label: { 1: 'b' } }, /id2label" must have the keys 0\.\.0, but has "1"/],
    [{ id2label: { 0: { name: 'a' } } }, /id2label" maps 0 to \{"name":"a"\}, not a name/],
    [{ id2label: Object.fromEntries(Array.from({ length: 100_001 }, (_, i) => [i, `c${i}`])) }, /id2label" has 100001 labels, more than the limit of 100000/],
    [{ architectures: 'MobileNetV2Model' }, /architectures.*list/],
    [{ num_channels: 'three' }, /num_channels.*number/],
    [{ tf_padding: 'yes' }, /tf_padding/],
    [{ problem_type: 'ranking' }, /problem_type/],
    [{ model_type: 'resnet' }, /model_type/],
    [{ architectures: ['ResNetModel'] }, /architectures.*ResNetModel/],
    [{ id2label: { zero: 'a' } }, /id2label/],
  ];
  for (const [json, message] of invalid) {
    it(`rejects ${JSON.stringify(json)} naming the field`, () => {
      assert.throws(() => MobileNetV2Config.fromJSON(json, 'my/config.json'),
        (err: Error) => err instanceof MobileNetV2Error && err.code === 'E_CONFIG_INVALID' && message.test(err.message) && err.message.startsWith('my/config.json'));
    });
  }
  it('rejects a config.json that is not an object', () => {
    assert.throws(() => MobileNetV2Config.fromJSON([1, 2]), /expected a JSON object/);
  });

  it('refuses non-finite numbers (1e999 parses to Infinity) and wrong types, naming the field', () => {
    const huge = JSON.parse('{"image_size": 1e999, "layer_norm_eps": -1e999}') as Record<string, unknown>;
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ image_size: huge.image_size }, /image_size.*got Infinity/],
      [{ layer_norm_eps: huge.layer_norm_eps }, /layer_norm_eps.*got -Infinity/],
      [{ num_labels: huge.image_size }, /num_labels.*got Infinity/],
      [{ depth_multiplier: '1.0' }, /field "depth_multiplier" must be a number, got "1.0"/],
      [{ num_labels: [3] }, /field "num_labels" must be a number, got \[3\]/],
    ];
    for (const [json, message] of cases) {
      assert.throws(() => MobileNetV2Config.fromJSON(json, 'c.json'),
        (err: Error) => err instanceof MobileNetV2Error && err.code === 'E_CONFIG_INVALID' && message.test(err.message), JSON.stringify(json));
    }
  });

  it('refuses deeply nested values (which would crash JSON.stringify) within a second', () => {
    const depth = 1_000_000;
    const json = JSON.parse(`{"num_labels": 3, "task_specific_params": ${'['.repeat(depth)}${']'.repeat(depth)}}`) as unknown;
    const start = performance.now();
    assert.throws(() => MobileNetV2Config.fromJSON(json, 'deep.json'),
      (err: Error) => err instanceof MobileNetV2Error && err.code === 'E_CONFIG_INVALID' && /^deep\.json: the JSON nests objects or lists more than 64 levels deep$/.test(err.message));
    assert.ok(performance.now() - start < 1000);
  });

  it('num_labels: 1e9 fails at once instead of building a billion labels', () => {
    const start = performance.now();
    assert.throws(() => MobileNetV2Config.fromJSON({ num_labels: 1e9 }), (err: Error) => err instanceof MobileNetV2Error && err.code === 'E_CONFIG_INVALID');
    assert.throws(() => new MobileNetV2Config({ numLabels: 1e9 }), (err: Error) => err instanceof MobileNetV2Error && err.code === 'E_CONFIG_INVALID');
    assert.ok(performance.now() - start < 1000);
    assert.equal(MobileNetV2Config.fromJSON({ num_labels: 100_000 }).numLabels, 100_000);
  });
});

describe('mobilenet-v2 info with a hostile config.json', () => {
  const dir = useTempDir('hostile-config');
  const hostile: Array<[string, string]> = [
    ['num-labels', '{"model_type": "mobilenet_v2", "num_labels": 1e9}'],
    ['infinite', '{"model_type": "mobilenet_v2", "image_size": 1e999}'],
    ['deep', `{"model_type": "mobilenet_v2", "prefix": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
  ];
  for (const [name, text] of hostile) {
    it(`${name}: prints one line naming the file and exits non-zero`, () => {
      const model = join(dir(), name);
      mkdirSync(model);
      writeFileSync(join(model, 'config.json'), text);
      const r = cli('info', '--model', model);
      assert.notEqual(r.status, 0);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /config\.json: .*(num_labels|image_size|nests)/);
      assert.doesNotMatch(r.stderr, /RangeError|at .*\.js/);
    });
  }
});

describe('channel arithmetic', () => {
  it('pythonRound rounds half to even', () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, 2.4, 2.6].map(pythonRound), [0, 2, 2, -0, 2, 3]);
  });

  it('makeDivisible matches every reference sample', () => {
    const table = readJson(join(HF_FIXTURES, 'tables/make_divisible_samples.json')) as { rows: Array<[number, number, number | null, number]> };
    assert.ok(table.rows.length > 20);
    for (const [value, divisor, min, expected] of table.rows) {
      assert.equal(makeDivisible(value, divisor, min), expected, `make_divisible(${value}, ${divisor}, ${min})`);
    }
  });

  it('backbonePlan reproduces every reference channel/stride/dilation table', () => {
    const tables = readJson(join(HF_FIXTURES, 'tables/channel_tables.json')) as Record<string, {
      stem: { first_conv_out: number; reduce_out: number };
      layers: Array<{ in_ch: number; expanded: number; out_ch: number; stride: number; dilation: number; residual: boolean }>;
      conv_1x1_out?: number;
      num_parameters_base?: number;
    }>;
    for (const [key, table] of Object.entries(tables)) {
      const m = /^dm=([\d.]+),finegrained_output=(True|False)$/.exec(key);
      const kwargs = m ? { depth_multiplier: Number(m[1]), finegrained_output: m[2] === 'True' } : JSON.parse(key);
      const plan = backbonePlan(MobileNetV2Config.fromJSON(kwargs));
      assert.equal(plan.stemChannels, table.stem.first_conv_out, `${key} stem`);
      assert.equal(plan.stemOutChannels, table.stem.reduce_out, `${key} stem reduce`);
      table.layers.forEach((l, i) => {
        const b = plan.blocks[i]!;
        assert.deepEqual([b.inChannels, b.expandedChannels, b.outChannels, b.stride, b.dilation, b.residual],
          [l.in_ch, l.expanded, l.out_ch, l.stride, l.dilation, l.residual], `${key} layer ${i}`);
      });
      if (table.conv_1x1_out !== undefined) assert.equal(plan.lastChannels, table.conv_1x1_out, `${key} conv_1x1`);
      if (table.num_parameters_base !== undefined) {
        const specs = parameterSpecs(MobileNetV2Config.fromJSON(kwargs), 'MobileNetV2Model').filter((p) => !isBuffer(p.key));
        assert.equal(specs.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0), table.num_parameters_base, `${key} parameters`);
      }
    }
  });

  it('1.0 and 1.4 widths are as documented', () => {
    assert.equal(backbonePlan(new MobileNetV2Config()).lastChannels, 1280);
    const wide = backbonePlan(new MobileNetV2Config({ depthMultiplier: 1.4 }));
    assert.deepEqual([wide.stemChannels, wide.blocks[15]!.outChannels, wide.lastChannels], [48, 448, 1792]);
    assert.equal(backbonePlan(new MobileNetV2Config({ depthMultiplier: 0.35 })).stemChannels, 16);
  });
});
