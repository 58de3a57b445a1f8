/** MobileNetV2Config: JSON forms, defaults, validation and channel arithmetic (spec §1–2). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backbonePlan, makeDivisible, pythonRound } from '../src/config/channels.js';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../src/errors.js';
import { parameterSpecs } from '../src/model/architecture.js';
import { isBuffer } from '../src/model/layers.js';
import { modelFixtures } from './fixture_runner.js';
import { HF_FIXTURES } from './helpers.js';

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
    [{ num_channels: 'three' }, /num_channels.*number/],
    [{ tf_padding: 'yes' }, /tf_padding/],
    [{ problem_type: 'ranking' }, /problem_type/],
    [{ model_type: 'resnet' }, /model_type/],
    [{ architectures: ['ResNetModel'] }, /architectures.*ResNetModel/],
    [{ id2label: { zero: 'a' } }, /id2label/],
  ];
  for (const [json, message] of invalid) {
    it(`rejects ${JSON.stringify(json)} naming the field`, () => {
      assert.throws(() => MobileNetV2Config.fromJSON(json, 'my/config.json'), (err: Error) => err instanceof MobileNetV2Error && message.test(err.message) && err.message.startsWith('my/config.json'));
    });
  }
  it('rejects a config.json that is not an object', () => {
    assert.throws(() => MobileNetV2Config.fromJSON([1, 2]), /expected a JSON object/);
  });
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
