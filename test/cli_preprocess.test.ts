/** `mobilenet-v2 preprocess`: image files in, transformers' pixel_values / labels out (fixtures p1 and p11). */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { assertClose, cli, HF_FIXTURES, useTempDir } from './helpers.js';

const FIXTURES = join(HF_FIXTURES, 'processor');
const IMAGES = join(FIXTURES, 'images');

const preprocess = (...args: string[]) => cli('preprocess', ...args);

function tensors(path: string) {
  return parseSafetensors(readFileSync(path), path).tensors;
}

describe('preprocess CLI', () => {
  const tempDir = useTempDir('preprocess');

  it('reproduces the default-config fixture from PNG files, resized images included', () => {
    const out = join(tempDir(), 'p1.safetensors');
    const run = preprocess('--processor', join(FIXTURES, 'processor_config_default.json'), join(IMAGES, 'rgb_640x480.png'), join(IMAGES, 'rgb_300x500.png'), join(IMAGES, 'rgb_31x40.png'), '--resized', '-o', out);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /pixel_values for 3 image\(s\) \(\[3, 224, 224\]\)/);
    const got = tensors(out);
    const ref = tensors(join(FIXTURES, 'p1_default/outputs.safetensors'));
    for (let i = 0; i < 3; i++) {
      assertClose(got.get(`pixel_values.${i}`)!.data as Float32Array, ref.get(`pixel_values.${i}`)!.data as Float32Array, `pixel_values.${i}`, 1e-6, 0);
      assert.deepEqual(got.get(`resized_u8.${i}`)!.data, ref.get(`resized_u8.${i}`)!.data);
    }
  });

  it('writes labels for segmentation maps, reading the config from --model <dir>', async () => {
    const config = JSON.parse(readFileSync(join(FIXTURES, 'p11_segmap/config.json'), 'utf8')) as { init_kwargs: unknown };
    await writeFile(join(tempDir(), 'preprocessor_config.json'), JSON.stringify(config.init_kwargs));
    const out = join(tempDir(), 'p11.safetensors');
    const run = preprocess('--model', tempDir(), join(IMAGES, 'rgb_150x100_seg_image.png'), '--segmentation-maps', join(IMAGES, 'seg_map_150x100.png'), '-o', out);
    assert.equal(run.status, 0, run.stderr);
    const got = tensors(out);
    const ref = tensors(join(FIXTURES, 'p11_segmap/outputs.safetensors'));
    assert.equal(got.get('labels.0')!.dtype, 'int64');
    assert.deepEqual(got.get('labels.0')!.data, ref.get('labels.0')!.data);
    assertClose(got.get('pixel_values.0')!.data as Float32Array, ref.get('pixel_values.0')!.data as Float32Array, 'pixel_values.0', 1e-6, 0);
  });

  it('fails with one line naming the bad file and leaves no output', () => {
    const out = join(tempDir(), 'bad.safetensors');
    const missing = preprocess('--processor', join(FIXTURES, 'processor_config_default.json'), join(IMAGES, 'rgb_31x40.png'), join(tempDir(), 'missing.jpg'), '-o', out);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^mobilenet-v2: .*missing\.jpg: image file not found\n$/);
    const mismatch = preprocess('--processor', join(FIXTURES, 'processor_config_default.json'), join(IMAGES, 'rgb_31x40.png'), '--segmentation-maps', join(IMAGES, 'seg_map_150x100.png'), join(IMAGES, 'seg_map_150x100.png'), '-o', out);
    assert.match(mismatch.stderr, /got 1 image\(s\) but 2 segmentation map\(s\)/);
    const both = preprocess('--processor', 'a.json', '--model', tempDir(), join(IMAGES, 'rgb_31x40.png'), '-o', out);
    assert.match(both.stderr, /give exactly one of --processor/);
    assert.ok(!existsSync(out));
    assert.deepEqual(readdirSync(tempDir()).filter((f) => f.startsWith('bad')), []);
  });
});
