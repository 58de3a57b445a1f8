/** `mobilenet-v2 forward` on every HF fixture, and its errors. */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { assertOutputsMatch, explicitProblemTypes, modelFixtures } from './fixture_runner.js';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mnv2-forward-'));
after(() => rmSync(dir, { recursive: true, force: true }));


describe('mobilenet-v2 forward', () => {
  for (const fixture of modelFixtures()) {
    it(`${fixture.name}: every reference output`, () => {
      const out = join(dir, `${fixture.name}.safetensors`);
      const args = ['forward', '--model', fixture.dir, '--inputs', join(fixture.dir, 'inputs.safetensors'), '--output', out, '--hidden-states', '--debug'];
      const sizes = fixture.meta.post_process_target_sizes;
      if (sizes) args.push('--target-sizes', sizes.map(([h, w]) => `${h}x${w}`).join(','));
      for (const p of explicitProblemTypes(fixture)) args.push('--problem-type', p);
      const r = cli(...args);
      assert.equal(r.status, 0, r.stderr);
      assertOutputsMatch(fixture, parseSafetensors(new Uint8Array(readFileSync(out)), out).tensors);
    });
  }

  for (const fixture of modelFixtures().filter((f) => existsSync(join(f.dir, 'pytorch_model.bin')))) {
    it(`${fixture.name}: from a folder with only pytorch_model.bin`, () => {
      const model = join(dir, `${fixture.name}-bin`);
      mkdirSync(model);
      copyFileSync(join(fixture.dir, 'config_saved.json'), join(model, 'config.json'));
      copyFileSync(join(fixture.dir, 'pytorch_model.bin'), join(model, 'pytorch_model.bin'));
      const out = join(dir, `${fixture.name}-bin.safetensors`);
      const sizes = fixture.meta.post_process_target_sizes?.map(([h, w]) => `${h}x${w}`).join(',');
      const r = cli('forward', '--model', model, '--inputs', join(fixture.dir, 'inputs.safetensors'), '--output', out,
        '--hidden-states', '--debug', ...(sizes ? ['--target-sizes', sizes] : []));
      assert.equal(r.status, 0, r.stderr);
      assertOutputsMatch(fixture, parseSafetensors(new Uint8Array(readFileSync(out)), out).tensors);
    });
  }

  it('takes a differently named 3-D input with --input-name and tags outputs', () => {
    const fixture = modelFixtures().find((f) => f.name.startsWith('h3'))!;
    const pv = fixture.inputs.get('pixel_values')!;
    const one = { dtype: 'float32', shape: pv.shape.slice(1), data: Array.from((pv.data as Float32Array).subarray(0, pv.data.length / pv.shape[0]!)) };
    const header = JSON.stringify({ 'image@a': { dtype: 'F32', shape: one.shape, data_offsets: [0, one.data.length * 4] } });
    const padded = header.padEnd(Math.ceil(header.length / 8) * 8, ' ');
    const bytes = Buffer.alloc(8 + padded.length + one.data.length * 4);
    bytes.writeBigUInt64LE(BigInt(padded.length));
    bytes.write(padded, 8);
    Buffer.from(new Float32Array(one.data).buffer).copy(bytes, 8 + padded.length);
    const input = join(dir, 'named.safetensors');
    writeFileSync(input, bytes);
    const out = join(dir, 'named_out.safetensors');
    const r = cli(...['forward', '--model', fixture.dir, '--inputs', input, '--output', out, '--input-name', 'image']);
    assert.equal(r.status, 0, r.stderr);
    const got = parseSafetensors(new Uint8Array(readFileSync(out)), out).tensors;
    assert.deepEqual(got.get('logits@a')!.shape, [1, 320]);
    const ref = fixture.outputs.get('logits')!.data as Float32Array;
    assert.ok(Math.abs((got.get('logits@a')!.data as Float32Array)[5]! - ref[5]!) < 1e-3);
  });

  it('fails with one clear line and writes nothing on bad input', () => {
    const fixture = modelFixtures()[0]!;
    const out = join(dir, 'never.safetensors');
    const cases: Array<[string[], RegExp]> = [
      [['--inputs', join(dir, 'missing.safetensors')], /missing.safetensors: cannot read inputs/],
      [['--inputs', join(fixture.dir, 'config.json')], /config.json/],
      [['--inputs', join(fixture.dir, 'inputs.safetensors'), '--input-name', 'nope'], /no tensor named "nope"/],
      [['--inputs', join(fixture.dir, 'inputs.safetensors'), '--problem-type', 'x=ranking'], /--problem-type: "ranking"/],
    ];
    for (const [extra, message] of cases) {
      const r = cli(...['forward', '--model', fixture.dir, '--output', out, ...extra]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!r.stderr.includes('    at '), 'no stack trace');
      assert.ok(!existsSync(out));
    }
    const missingModel = cli(...['forward', '--model', join(dir, 'no-model'), '--inputs', join(fixture.dir, 'inputs.safetensors'), '--output', out]);
    assert.notEqual(missingModel.status, 0);
    assert.match(missingModel.stderr, /no-model/);
  });
});
