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
      [{ size: { shortest_edge: 0 } }, /cfg\.json: size\.shortest_edge must be a positive integer, got 0/],
      [{ size: { max_height: 5, max_width: 5 } }, /cfg\.json: size must have the keys \{shortest_edge\}/],
      [{ crop_size: { shortest_edge: 3 } }, /cfg\.json: crop_size must have the keys \{height, width\}/],
      [{ crop_size: [224] }, /cfg\.json: crop_size must be \[height, width\]/],
      [{ do_resize: 'yes' }, /cfg\.json: do_resize must be true or false, got "yes"/],
      [{ do_normalize: null }, /cfg\.json: do_normalize must not be null/],
      [{ resample: 9 }, /cfg\.json: resample must be a Pillow filter code 0-5/],
      [{ rescale_factor: '1/255' }, /cfg\.json: rescale_factor must be a number/],
      [{ image_mean: [] }, /cfg\.json: image_mean must be a number or a non-empty list of numbers/],
      [{ image_mean: ['0.5', 0.5, 0.5] }, /cfg\.json: image_mean must be a number or a non-empty list of numbers/],
      [{ image_std: [0.5, 0, 0.5] }, /cfg\.json: image_std must not contain 0/],
      [{ image_processor_type: 5 }, /cfg\.json: image_processor_type must be a string/],
      [[1, 2], /cfg\.json: expected a JSON object/],
    ];
    for (const [json, message] of bad) {
      assert.throws(() => MobileNetV2ImageProcessor.fromConfig(json, 'cfg.json'), (err: Error) => err instanceof MobileNetV2Error && message.test(err.message), JSON.stringify(json));
    }
    assert.throws(() => MobileNetV2ImageProcessor.fromJsonText('{"size": 256,', 'broken.json'), /broken\.json: not valid JSON/);
    assert.throws(() => new MobileNetV2ImageProcessor({ cropSize: -3 }), /options: cropSize must be a positive integer, got -3/);
    assert.throws(() => new MobileNetV2ImageProcessor({ imageSize: 3 } as never), /unknown image-processor option "imageSize"/);
  });
});
