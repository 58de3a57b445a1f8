/**
 * MobileNetV2ImageProcessor against transformers' own outputs (fixtures/hf/processor): every case
 * directory is run generically from its config.json and meta.json, so further cases in the same
 * format are picked up too.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decode } from 'fast-png';
import { MobileNetV2Error } from '../src/errors.js';
import { toRgb, type RawImage } from '../src/processing/image.js';
import { MobileNetV2FeatureExtractor, MobileNetV2ImageProcessor, type ProcessorImage, type SegmentationMapInput } from '../src/processing/processor.js';
import { optionsFromJson } from '../src/processing/processor_config.js';
import type { Tensor } from '../src/tensor.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { assertClose, HF_FIXTURES } from './helpers.js';

const PROCESSOR_FIXTURES = join(HF_FIXTURES, 'processor');
const IMAGES = join(PROCESSOR_FIXTURES, 'images');

/** Decodes a fixture PNG with fast-png (independent of the sharp-based loader under test elsewhere). */
function png(name: string): RawImage {
  const decoded = decode(readFileSync(join(IMAGES, name)));
  assert.equal(decoded.depth, 8, `${name}: 8-bit fixture expected`);
  return { data: decoded.data as Uint8Array, width: decoded.width, height: decoded.height, channels: decoded.channels as RawImage['channels'] };
}

/** The numpy array a fixture item describes: uint8 or float32 (value/255), HWC or CHW. */
function asArray(image: RawImage, dtype: string, layout: string): Tensor {
  const { width, height, channels } = image;
  const values = new Float32Array(image.data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const v = image.data[(y * width + x) * channels + c]!;
        const i = layout === 'CHW' ? (c * height + y) * width + x : (y * width + x) * channels + c;
        values[i] = dtype === 'float32' ? Math.fround(v / 255) : v;
      }
    }
  }
  const shape = layout === 'CHW' ? [channels, height, width] : [height, width, channels];
  return dtype === 'uint8' ? { dtype: 'uint8', shape, data: Uint8Array.from(values) } : { dtype: 'float32', shape, data: values };
}

interface Item {
  source: string;
  error?: string;
}

/** Turns a meta.json `source` description into the processor's inputs. */
function inputsOf(source: string): { image: ProcessorImage; map?: SegmentationMapInput } {
  let m = /^(\S+\.png) \+ (\S+\.png)$/.exec(source);
  if (m) return { image: png(m[1]!), map: png(m[2]!) };
  m = /^(\S+\.png)->convert\('RGB'\)$/.exec(source);
  if (m) return { image: toRgb(png(m[1]!)) };
  m = /^(\S+\.png) as uint8 (HWC|CHW)$/.exec(source);
  if (m) return { image: asArray(png(m[1]!), 'uint8', m[2]!) };
  m = /^(\S+\.png)\/255 float32 (HWC|CHW)$/.exec(source);
  if (m) return { image: asArray(png(m[1]!), 'float32', m[2]!) };
  assert.match(source, /^\S+\.png$/, `unknown fixture source format: ${source}`);
  return { image: png(source) };
}

const cases = readdirSync(PROCESSOR_FIXTURES).filter((name) => existsSync(join(PROCESSOR_FIXTURES, name, 'meta.json'))).sort();

describe('processor fixtures (transformers outputs)', () => {
  it('finds the fixture cases', () => assert.ok(cases.length >= 10, `only ${cases.length} cases`));

  for (const name of cases) {
    it(name, () => {
      const dir = join(PROCESSOR_FIXTURES, name);
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { init_kwargs: unknown; call_kwargs: unknown };
      const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { items: Item[] };
      const processor = MobileNetV2ImageProcessor.fromConfig(config.init_kwargs, `${name}/init_kwargs`);
      const { options } = optionsFromJson(config.call_kwargs, `${name}/call_kwargs`);
      const outputsPath = join(dir, 'outputs.safetensors');
      const outputs = existsSync(outputsPath) ? parseSafetensors(readFileSync(outputsPath), outputsPath).tensors : new Map<string, Tensor>();
      meta.items.forEach((item, i) => {
        const { image, map } = inputsOf(item.source);
        if (item.error !== undefined) {
          const expected = item.error.replace(/^ValueError: /, '');
          assert.throws(() => processor.preprocessImage(image, options), (err: Error) => err instanceof MobileNetV2Error && err.message.includes(expected), `item ${i}`);
          return;
        }
        const result = processor.preprocessImage(image, options, { keepResized: true });
        const ref = outputs.get(`pixel_values.${i}`)!;
        assert.deepEqual(result.pixelValues.shape, ref.shape, `item ${i} shape`);
        assertClose(result.pixelValues.data, ref.data as Float32Array, `${name} pixel_values.${i}`, 1e-6, 0);
        const resizedRef = outputs.get(`resized_u8.${i}`);
        if (resizedRef) {
          assert.deepEqual([result.resized!.height, result.resized!.width, result.resized!.channels], resizedRef.shape);
          assert.ok(Buffer.from(result.resized!.data).equals(Buffer.from(resizedRef.data as Uint8Array)), `${name} resized_u8.${i} differs`);
          // The crop-window fast path (no keepResized) must give the same pixels.
          assert.deepEqual(processor.preprocessImage(image, options).pixelValues.data, result.pixelValues.data);
        }
        const labelsRef = outputs.get(`labels.${i}`);
        if (labelsRef) {
          const labels = processor.preprocessSegmentationMap(map!, options);
          assert.deepEqual(labels.shape, labelsRef.shape);
          assert.deepEqual(labels.data, labelsRef.data, `${name} labels.${i}`);
          const batch = processor.preprocess([image], [map!], options);
          assert.deepEqual(batch.labels!.data, labelsRef.data);
          assert.deepEqual(batch.pixelValues.shape, [1, ...ref.shape]);
        }
      });
    });
  }
});

describe('MobileNetV2ImageProcessor', () => {
  const rgb = png('rgb_31x40.png');

  it('batches images processed one by one, and splits a leading batch axis', () => {
    const processor = new MobileNetV2ImageProcessor({ size: 32, cropSize: 30 });
    const single = processor.preprocessImage(rgb).pixelValues;
    const { pixelValues } = processor.preprocess([rgb, rgb]);
    assert.deepEqual(pixelValues.shape, [2, 3, 30, 30]);
    assert.deepEqual(pixelValues.data.subarray(single.data.length), single.data);
    const hwc = asArray(rgb, 'uint8', 'HWC');
    const batched = { dtype: 'uint8' as const, shape: [2, ...hwc.shape], data: new Uint8Array([...(hwc.data as Uint8Array), ...(hwc.data as Uint8Array)]) };
    assert.deepEqual(processor.preprocess(batched).pixelValues.data, pixelValues.data);
  });

  it('pads with zeros before normalizing when the crop is larger than the image', () => {
    // 2x4 image (not 3 rows: a [3, W, 3] array would be read as channels-first, as numpy's is),
    // crop 6x5: top = (4-6)//2 = -1, left = (2-5)//2 = -2 → image at rows 1..4, cols 2..3.
    const image: RawImage = { width: 2, height: 4, channels: 3, data: Uint8Array.from({ length: 24 }, (_, i) => 10 * i + 5) };
    const processor = new MobileNetV2ImageProcessor({ doResize: false, cropSize: { height: 6, width: 5 } });
    const { data, shape } = processor.preprocessImage(image).pixelValues;
    assert.deepEqual(shape, [3, 6, 5]);
    const at = (c: number, y: number, x: number) => data[(c * 6 + y) * 5 + x]!;
    const expected = (v: number) => Math.fround(Math.fround(Math.fround(v * (1 / 255)) - 0.5) / 0.5);
    assert.equal(at(0, 1, 2), expected(5));
    assert.equal(at(2, 4, 3), expected(image.data[(3 * 2 + 1) * 3 + 2]!));
    for (const [y, x] of [[0, 0], [0, 2], [1, 1], [1, 4], [5, 2], [5, 4]] as const) assert.equal(at(1, y, x), -1, `padding at ${y},${x}`);
  });

  it('pads segmentation maps with class 0, not 255', () => {
    const map: RawImage = { width: 2, height: 2, channels: 1, data: new Uint8Array([7, 7, 7, 7]) };
    const processor = new MobileNetV2ImageProcessor({ doResize: false, cropSize: 4 });
    const labels = processor.preprocessSegmentationMap(map);
    assert.deepEqual([...labels.data].map(Number), [0, 0, 0, 0, 0, 7, 7, 0, 0, 7, 7, 0, 0, 0, 0, 0]);
  });

  it('reduces labels before resizing: 0 → 255, k → k-1, 255 stays', () => {
    const map: Tensor = { dtype: 'uint8', shape: [1, 4], data: new Uint8Array([0, 1, 200, 255]) };
    const processor = new MobileNetV2ImageProcessor({ doResize: false, doCenterCrop: false, doReduceLabels: true });
    assert.deepEqual([...processor.preprocessSegmentationMap(map).data].map(Number), [255, 0, 199, 255]);
  });

  it('uses Pillow NEAREST accumulated coordinates for maps', () => {
    // 5 → 3: a = 5/3, x = a/2 + i*a → 0.83, 2.5, 4.17 → indices 0, 2, 4.
    const map: Tensor = { dtype: 'uint8', shape: [1, 5], data: new Uint8Array([10, 11, 12, 13, 14]) };
    const processor = new MobileNetV2ImageProcessor({ size: { height: 1, width: 3 }, doCenterCrop: false });
    assert.deepEqual([...processor.preprocessSegmentationMap(map).data].map(Number), [10, 12, 14]);
  });

  it('accepts float arrays of integral values as 8-bit and rejects out-of-range floats as transformers does', () => {
    const processor = new MobileNetV2ImageProcessor({ size: 32, cropSize: 30 });
    const hwc = asArray(rgb, 'uint8', 'HWC');
    const asFloat: Tensor = { dtype: 'float64', shape: hwc.shape, data: Float64Array.from(hwc.data as Uint8Array) };
    assert.deepEqual(processor.preprocessImage(asFloat).pixelValues.data, processor.preprocessImage(hwc).pixelValues.data);
    const bad: Tensor = { dtype: 'float32', shape: [2, 2, 3], data: new Float32Array(12).fill(1.5) };
    assert.throws(() => processor.preprocessImage(bad), /outside the range \[0, 1\], got \[1\.5, 1\.5\]/);
    const big: Tensor = { dtype: 'int32', shape: [2, 2, 3], data: new Int32Array(12).fill(300) };
    assert.throws(() => processor.preprocessImage(big), /outside the range \[0, 255\]/);
  });

  it('normalizes float64 arrays in float64 when nothing converts them to float32', () => {
    const value = 0.1234567890123;
    const image: Tensor = { dtype: 'float64', shape: [1, 1, 3], data: new Float64Array([value, value, value]) };
    const processor = new MobileNetV2ImageProcessor({ doResize: false, doCenterCrop: false, doRescale: false, imageMean: 0.1, imageStd: 0.3 });
    assert.equal(processor.preprocessImage(image).pixelValues.data[0], Math.fround((value - 0.1) / 0.3));
  });

  it('rejects what transformers rejects, naming the image', () => {
    const processor = new MobileNetV2ImageProcessor();
    const grey: RawImage = { width: 4, height: 5, channels: 1, data: new Uint8Array(20) };
    assert.throws(() => processor.preprocess([rgb, grey]), /image 1: Unsupported number of image dimensions: 2/);
    const rgba: RawImage = { width: 4, height: 5, channels: 4, data: new Uint8Array(80) };
    assert.throws(() => processor.preprocessImage(rgba), /Unable to infer channel dimension format/);
    assert.throws(() => processor.preprocessImage({ ...rgb, data: rgb.data.subarray(1) }), /pixel data has 3719 bytes but 31x40x3 needs 3720/);
    assert.throws(() => processor.preprocessImage({ width: 0, height: 5, channels: 3, data: new Uint8Array(0) }), /image size 0x5 is empty/);
    assert.throws(() => processor.preprocessImage({ dtype: 'uint8', shape: [0, 4, 3], data: new Uint8Array(0) }), /empty image/);
    assert.throws(() => processor.preprocessImage({ dtype: 'float16', shape: [2, 2, 3], data: new Uint16Array(12) }), /arrays of dtype float16 are not supported/);
    assert.throws(() => processor.preprocessImage(rgb, { imageMean: [0.5, 0.5] }), /image_mean must have 3 elements if it is an iterable, got 2/);
    assert.throws(() => processor.preprocess([rgb], [rgb]), /segmentation map 0: Unable to infer channel dimension format/);
    assert.throws(() => processor.preprocess([rgb, rgb], [{ dtype: 'uint8', shape: [3, 3], data: new Uint8Array(9) }]), /got 2 image\(s\) but 1 segmentation map/);
    const noCrop = new MobileNetV2ImageProcessor({ doCenterCrop: false, size: 16 });
    assert.throws(() => noCrop.preprocess([rgb, png('rgb_640x480.png')]), /cannot batch images of different sizes/);
  });

  it('applies call-time overrides without changing the processor', () => {
    const processor = new MobileNetV2ImageProcessor();
    const out = processor.preprocessImage(rgb, { doResize: false, doCenterCrop: false, doNormalize: false });
    assert.deepEqual(out.pixelValues.shape, [3, 40, 31]);
    assert.equal(out.pixelValues.data[0], Math.fround(rgb.data[0]! * (1 / 255)));
    assert.deepEqual(processor.preprocessImage(rgb).pixelValues.shape, [3, 224, 224]);
    assert.throws(() => processor.preprocessImage(rgb, { size: 'big' as never }), /size must be a number, \[height, width\] or an object, got "big"/);
  });

  it('resizes with every Pillow filter code without error and rejects unknown ones', () => {
    const processor = new MobileNetV2ImageProcessor({ size: { height: 17, width: 23 }, doCenterCrop: false });
    for (const resample of [0, 1, 2, 3, 4, 5] as const) {
      const { data } = processor.preprocessImage(rgb, { resample }).pixelValues;
      assert.ok(data.every((v) => v >= -1 && v <= 1), `resample ${resample} gives values in [-1, 1]`);
    }
    assert.throws(() => processor.preprocessImage(rgb, { resample: 7 as never }), /resample must be a Pillow filter code 0-5/);
  });

  it('keeps MobileNetV2FeatureExtractor as an alias with its own class name', () => {
    const fe = MobileNetV2FeatureExtractor.fromConfig({ size: 32 });
    assert.ok(fe instanceof MobileNetV2FeatureExtractor);
    assert.deepEqual(fe.settings.size, { shortestEdge: 32 });
    assert.match(fe.toJsonString(), /"image_processor_type": "MobileNetV2FeatureExtractor"/);
  });
});
