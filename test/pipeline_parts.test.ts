/**
 * Building blocks of the pipelines, without models: the streamed class map against transformers'
 * post-processing, top-k ordering, the PASCAL VOC palette and overlay, MAC counts against
 * published figures.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { postProcessSemanticSegmentation } from '../src/model/post_processing.js';
import { topK } from '../src/pipelines/image_classification.js';
import { globalAveragePool } from '../src/pipelines/image_feature_extraction.js';
import { countMacs } from '../src/model/model_summary.js';
import { overlayLabelMap, overlayPalette, pascalVocPalette } from '../src/pipelines/palette.js';
import { labelMapFromLogits } from '../src/pipelines/segmentation_map.js';

/** Deterministic pseudo-random values in [-4, 4), some repeated to create exact ties. */
function logits(count: number, seed: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length: count }, (_, i) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return i % 7 === 0 ? 1 : (state / 2147483648) * 8 - 4;
  });
}

describe('labelMapFromLogits', () => {
  for (const [n, h, w, height, width] of [[21, 9, 9, 65, 65], [3, 33, 33, 513, 512], [5, 7, 5, 3, 4], [4, 6, 6, 6, 6], [2, 1, 1, 5, 3]] as const) {
    it(`equals post_process_semantic_segmentation for ${n} classes ${h}x${w} → ${height}x${width}`, () => {
      const data = logits(n * h * w, n * 1000 + height);
      const [expected] = postProcessSemanticSegmentation({ logits: { dtype: 'float32', shape: [1, n, h, w], data } }, [[height, width]]);
      const map = labelMapFromLogits(data, n, h, w, height, width);
      assert.deepEqual(Array.from(map.labels), Array.from(expected!.data, Number));
      assert.equal(map.pixels.reduce((a, b) => a + b, 0), height * width);
      for (let c = 0; c < n; c++) {
        assert.ok(map.probabilitySums[c]! <= map.pixels[c]! + 1e-9 && map.probabilitySums[c]! >= map.pixels[c]! / n - 1e-9);
      }
    });
  }

  it('gives probability 1/N on a pixel where all N logits are equal', () => {
    const map = labelMapFromLogits(new Float32Array(4).fill(2), 4, 1, 1, 1, 1);
    assert.equal(map.labels[0], 0);
    assert.ok(Math.abs(map.probabilitySums[0]! - 0.25) < 1e-12);
  });
});

describe('topK', () => {
  it('orders by score, lower index first on ties, and names missing labels LABEL_i', () => {
    const result = topK(Float32Array.from([0.1, 0.4, 0.4, 0.1]), 3, { 0: 'a', 1: 'b' });
    assert.deepEqual(result.map((r) => [r.index, r.label]), [[1, 'b'], [2, 'LABEL_2'], [0, 'a']]);
  });
});

describe('globalAveragePool', () => {
  it('averages each channel over its positions', () => {
    const pooled = globalAveragePool({ dtype: 'float32', shape: [1, 2, 1, 2], data: Float32Array.from([1, 3, 10, 20]) });
    assert.deepEqual([pooled.shape, Array.from(pooled.data)], [[1, 2], [2, 15]]);
  });
});

describe('PASCAL VOC palette and overlay', () => {
  it('has the published colours (background black, aeroplane, bird, person)', () => {
    const palette = pascalVocPalette(21);
    assert.deepEqual([palette[0], palette[1], palette[3], palette[15], palette[20]], [[0, 0, 0], [128, 0, 0], [128, 128, 0], [192, 128, 128], [0, 64, 128]]);
    assert.throws(() => pascalVocPalette(257), /1-256 colours/);
  });

  it('brightens the overlay colours (CLI and demo page alike) until a channel is 255, background black', () => {
    const overlay = overlayPalette(21);
    assert.deepEqual([overlay[0], overlay[8], overlay[15], overlay[20]], [[0, 0, 0], [255, 0, 0], [255, 170, 170], [0, 128, 255]]);
    assert.equal(overlay.length, 21);
  });

  it('blends class colours half and half and leaves background pixels alone', () => {
    const image = { data: Uint8Array.from([100, 100, 100, 100, 100, 100]), width: 2, height: 1, channels: 3 as const };
    const map = { width: 2, height: 1, labels: Uint8Array.from([0, 1]), pixels: new Float64Array(2), probabilitySums: new Float64Array(2) };
    const out = overlayLabelMap(image, map, pascalVocPalette(2));
    assert.deepEqual(Array.from(out.data), [100, 100, 100, 114, 50, 50]);
    assert.throws(() => overlayLabelMap({ ...image, width: 1, data: image.data.subarray(0, 3) }, map, pascalVocPalette(2)), /class map is 2x1 but the image is 1x1/);
  });
});

describe('countMacs', () => {
  const config = (init: ConstructorParameters<typeof MobileNetV2Config>[0]) => new MobileNetV2Config(init);
  it('gives torchvision\'s 300,774,272 for MobileNetV2 1.0 at 224 with 1000 classes', () => {
    assert.equal(countMacs(config({ numLabels: 1000 }), 'MobileNetV2ForImageClassification', 224, 224).total, 300_774_272);
  });

  it('matches Google\'s table for 1.4/224 (582 M) and 0.35/96 (11 M), and grows with the input size', () => {
    const wide = countMacs(config({ numLabels: 1001, depthMultiplier: 1.4 }), 'MobileNetV2ForImageClassification', 224, 224).total;
    const small = countMacs(config({ numLabels: 1001, depthMultiplier: 0.35 }), 'MobileNetV2ForImageClassification', 96, 96).total;
    assert.equal(Math.round(wide / 1e6), 582);
    assert.equal(Math.round(small / 1e6), 12); // Google rounds 11.9 down to 11
    const at224 = countMacs(config({}), 'MobileNetV2Model', 224, 224);
    const at225 = countMacs(config({}), 'MobileNetV2Model', 225, 225);
    assert.deepEqual(at225.layers.at(-1)!.output, [1280, 8, 8]); // ceil(225 / 32)
    assert.ok(at225.total > at224.total);
  });

  it('counts the DeepLabV3 head at feature resolution and skips the unused conv_1x1', () => {
    const seg = countMacs(config({ numLabels: 21, outputStride: 16 }), 'MobileNetV2ForSemanticSegmentation', 513, 513);
    assert.ok(!seg.layers.some((l) => l.name === 'conv_1x1'));
    const pool = seg.layers.find((l) => l.name === 'segmentation_head.conv_pool')!;
    assert.deepEqual([pool.output, pool.macs], [[256, 1, 1], 320 * 256]);
    const classifier = seg.layers.at(-1)!;
    assert.deepEqual([classifier.name, classifier.output, classifier.macs], ['segmentation_head.classifier', [21, 33, 33], 33 * 33 * 256 * 21]);
    assert.throws(() => countMacs(config({}), 'MobileNetV2Model', 0, 10), /positive integers/);
  });
});
