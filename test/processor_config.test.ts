/** preprocessor_config.json: reading transformers' files (current and legacy), writing them back, bad values. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import { MobileNetV2ImageProcessor } from '../src/processing/processor.js';
import { DEFAULT_SETTINGS, pythonFloatRepr } from '../src/processing/processor_config.js';
import { HF_FIXTURES } from './helpers.js';

// What transformers' save_pretrained writes for MobileNetV2ImageProcessor() (sort_keys, indent 2).
const DEFAULT_JSON = `{
  "crop_size": {
    "height": 224,
    "width": 224
  },
  "do_center_crop": true,
  "do_normalize": true,
  "do_reduce_labels": false,
  "do_rescale": true,
  "do_resize": true,
  "image_mean": [
    0.5,
    0.5,
    0.5
  ],
  "image_processor_type": "MobileNetV2ImageProcessor",
  "image_std": [
    0.5,
    0.5,
    0.5
  ],
  "resample": 2,
  "rescale_factor": 0.00392156862745098,
  "size": {
    "shortest_edge": 256
  }
}
`;

describe('preprocessor_config.json', () => {
  it('reads the fixtures\' default config as transformers\' defaults', () => {
    const text = readFileSync(join(HF_FIXTURES, 'processor/processor_config_default.json'), 'utf8');
    assert.deepEqual(MobileNetV2ImageProcessor.fromJsonText(text).settings, DEFAULT_SETTINGS);
    assert.deepEqual(new MobileNetV2ImageProcessor().settings, DEFAULT_SETTINGS);
  });

  it('writes what save_pretrained writes, and reads it back', () => {
    const processor = new MobileNetV2ImageProcessor();
    assert.equal(processor.toJsonString(), DEFAULT_JSON);
    assert.deepEqual(MobileNetV2ImageProcessor.fromJsonText(processor.toJsonString()).settings, processor.settings);
  });

  it('reads legacy feature-extractor configs (int sizes) and keeps unknown keys', () => {
    const legacy = {
      feature_extractor_type: 'MobileNetV2FeatureExtractor',
      crop_pct: 0.875,
      size: 256,
      crop_size: 224,
      resample: 3,
      image_mean: [0.485, 0.456, 0.406],
      image_std: 1,
    };
    const processor = MobileNetV2ImageProcessor.fromConfig(legacy, 'legacy.json');
    assert.deepEqual(processor.settings.size, { shortestEdge: 256 });
    assert.deepEqual(processor.settings.cropSize, { height: 224, width: 224 });
    assert.equal(processor.settings.resample, 3);
    const saved = JSON.parse(processor.toJsonString()) as Record<string, unknown>;
    assert.equal(saved.feature_extractor_type, undefined);
    assert.equal(saved.image_processor_type, 'MobileNetV2ImageProcessor');
    assert.equal(saved.crop_pct, 0.875);
    assert.deepEqual(saved.size, { shortest_edge: 256 });
    assert.match(processor.toJsonString(), /"image_std": 1\.0,/);
  });

  it('accepts [h, w] lists, shortest_edge with longest_edge, and null for defaulted keys', () => {
    const processor = MobileNetV2ImageProcessor.fromConfig({ size: [50, 70], crop_size: null, image_mean: null });
    assert.deepEqual(processor.settings.size, { height: 50, width: 70 });
    assert.deepEqual(processor.settings.cropSize, DEFAULT_SETTINGS.cropSize);
    const withLongest = MobileNetV2ImageProcessor.fromConfig({ size: { shortest_edge: 64, longest_edge: 100 } });
    assert.deepEqual(withLongest.settings.size, { shortestEdge: 64, longestEdge: 100 });
    assert.match(withLongest.toJsonString(), /"longest_edge": 100,\n {4}"shortest_edge": 64/);
  });

  it('formats floats like Python\'s repr', () => {
    const cases: Array<[number, string]> = [[1, '1.0'], [0.5, '0.5'], [1e-5, '1e-05'], [0.0001, '0.0001'], [1 / 255, '0.00392156862745098'],
      [1e16, '1e+16'], [123456789.5, '123456789.5'], [-2.5e-7, '-2.5e-07'], [-0, '-0.0']];
    for (const [value, text] of cases) assert.equal(pythonFloatRepr(value), text, String(value));
  });

  it('rejects wrong types with an error naming the file and the key', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ size: 'big' }, /cfg\.json: size must be a number, \[height, width\] or an object, got "big"/],
      [{ size: { shortest_edge: 0 } }, /cfg\.json: size\.shortest_edge must be an integer from 1 to 16384, got 0/],
      [{ size: { max_height: 5, max_width: 5 } }, /cfg\.json: size must have the keys \{shortest_edge\}/],
      [{ crop_size: { shortest_edge: 3 } }, /cfg\.json: crop_size must have the keys \{height, width\}/],
      [{ crop_size: [224] }, /cfg\.json: crop_size must be \[height, width\]/],
      [{ do_resize: 'yes' }, /cfg\.json: do_resize must be true or false, got "yes"/],
      [{ do_normalize: null }, /cfg\.json: do_normalize must not be null/],
      [{ resample: 9 }, /cfg\.json: resample must be a Pillow filter code 0-5/],
      [{ rescale_factor: '1/255' }, /cfg\.json: rescale_factor must be a finite number/],
      [{ image_mean: [] }, /cfg\.json: image_mean must be a finite number or a list of 1 to 4/],
      [{ image_mean: ['0.5', 0.5, 0.5] }, /cfg\.json: image_mean must be a finite number or a list of 1 to 4/],
      [{ image_std: [0.5, 0, 0.5] }, /cfg\.json: image_std must not contain 0/],
      [{ image_processor_type: 5 }, /cfg\.json: image_processor_type must be a string/],
      [[1, 2], /cfg\.json: expected a JSON object/],
    ];
    for (const [json, message] of bad) {
      assert.throws(() => MobileNetV2ImageProcessor.fromConfig(json, 'cfg.json'), (err: Error) => err instanceof MobileNetV2Error && err.code === 'E_CONFIG_INVALID' && message.test(err.message), JSON.stringify(json));
    }
    assert.throws(() => MobileNetV2ImageProcessor.fromJsonText('{"size": 256,', 'broken.json'), /broken\.json is not valid JSON/);
    assert.throws(() => new MobileNetV2ImageProcessor({ cropSize: -3 }), /options: cropSize must be an integer from 1 to 16384, got -3/);
    assert.throws(() => new MobileNetV2ImageProcessor({ imageSize: 3 } as never), /unknown image-processor option "imageSize"/);
  });

  /** Expects parsing `json` to fail fast with E_CONFIG_INVALID and a message matching `message`. */
  function rejectsQuickly(json: unknown, message: RegExp): void {
    const start = performance.now();
    assert.throws(() => MobileNetV2ImageProcessor.fromConfig(json, 'hostile.json'),
      (err: Error) => err instanceof MobileNetV2Error && err.code === 'E_CONFIG_INVALID' && message.test(err.message) && !err.message.includes('\n'),
      describeJson(json));
    assert.ok(performance.now() - start < 1000, `${describeJson(json)} took ${performance.now() - start} ms`);
  }
  // Keys only: stringifying the deeply nested cases would overflow the stack.
  const describeJson = (json: unknown): string => Object.keys(json as object).join(', ');

  it('bounds every size: huge crops and resize targets are refused before any pixel is allocated', () => {
    rejectsQuickly({ crop_size: { height: 30000, width: 30000 } }, /crop_size\.height must be an integer from 1 to 16384, got 30000/);
    rejectsQuickly({ crop_size: 100000 }, /crop_size must be an integer from 1 to 16384, got 100000/);
    rejectsQuickly({ size: { height: 1, width: 1e9 } }, /size\.width must be an integer from 1 to 16384, got 1000000000/);
    rejectsQuickly({ size: [16384, 16384] }, /size is 16384×16384 = 268435456 pixels, above the limit of 67108864/);
    rejectsQuickly({ crop_size: 10000 }, /crop_size is 10000×10000 = 100000000 pixels, above the limit/);
    rejectsQuickly({ size: { shortest_edge: 9000 } }, /size\.shortest_edge is 9000×9000 .* above the limit/);
    rejectsQuickly({ size: { shortest_edge: 256, longest_edge: 1e6 } }, /size\.longest_edge must be an integer from 1 to 16384/);
    rejectsQuickly({ size: 2.5 }, /size must be an integer from 1 to 16384, got 2\.5/);
  });

  it('refuses non-finite numbers (1e999 parses to Infinity), naming them', () => {
    const parsed = JSON.parse('{"rescale_factor": 1e999, "image_mean": [0.5, -1e999, 0.5], "crop_size": 1e999}') as Record<string, unknown>;
    rejectsQuickly({ rescale_factor: parsed.rescale_factor }, /rescale_factor must be a finite number, got Infinity/);
    rejectsQuickly({ image_mean: parsed.image_mean }, /image_mean must be a finite number or a list.*-Infinity/);
    rejectsQuickly({ image_std: NaN }, /image_std must be a finite number .*got NaN/);
    rejectsQuickly({ crop_size: parsed.crop_size }, /crop_size must be an integer from 1 to 16384, got Infinity/);
  });

  it('wants one mean/std per channel (at most 4), a Pillow filter code, and shallow JSON', () => {
    rejectsQuickly({ image_std: Array.from({ length: 1000 }, () => 0.5) }, /image_std must be .* list of 1 to 4 .*got a list of 1000 items/);
    rejectsQuickly({ resample: 6 }, /resample must be a Pillow filter code 0-5/);
    rejectsQuickly({ resample: -1 }, /resample must be a Pillow filter code 0-5/);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    rejectsQuickly({ crop_pct: deep }, /hostile\.json nests objects or lists more than 64 levels deep/);
    rejectsQuickly({ size: { height: deep, width: 5 } }, /hostile\.json nests objects/);
  });
});
