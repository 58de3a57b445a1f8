/**
 * Pipelines on the shipped default models and Google's real photos: classification against the
 * reference runtime's probabilities, segmentation against transformers' post-processing and the
 * ground-truth mask, feature extraction shapes, input kinds and errors.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import type { MobileNetV2ForImageClassification } from '../src/model/modeling_mobilenet_v2.js';
import { postProcessSemanticSegmentation } from '../src/model/post_processing.js';
import { MobileNetV2PreTrainedModel } from '../src/model/pretrained_model.js';
import { loadImage, loadSegmentationMap } from '../src/processing/image_io_node.js';
import { MobileNetV2ImageProcessor } from '../src/processing/processor.js';
import { createPipeline } from '../src/pipelines/pipeline.js';
import { DEFAULT_CLASSIFIER, DEFAULT_SEGMENTER } from '../src/pipelines/default_models_node.js';
import type { ImageClassificationPipeline } from '../src/pipelines/image_classification.js';
import type { ImageFeatureExtractionPipeline } from '../src/pipelines/image_feature_extraction.js';
import type { ImageSegmentationPipeline } from '../src/pipelines/image_segmentation.js';
import { pipeline } from '../src/pipelines/pipeline_node.js';
import { REAL_FIXTURES, requireFixtures } from './helpers.js';

const image = (name: string): string => join(REAL_FIXTURES, 'images', name);
const REFERENCE = join(REAL_FIXTURES, 'reference/classifier_reference.json');
/** Skips the tests on the shared photos when they are missing. */
const PHOTOS = requireFixtures(join(REAL_FIXTURES, 'images'), REFERENCE);

interface Reference { top5_index_1001: number[]; top5_prob: number[] }
const reference = () => JSON.parse(readFileSync(REFERENCE, 'utf8')) as {
  items: Record<string, Record<string, Reference>>;
};

describe('image-classification pipeline (shipped mobilenet_v2_1.0_224_quant)', PHOTOS, () => {
  let classifier: ImageClassificationPipeline;
  before(async () => {
    classifier = await pipeline('image-classification');
  });
  after(() => classifier.dispose());

  it('puts Egyptian cat (286) first on cat.bmp, as Google expects, with the label from id2label', async () => {
    const [best] = await classifier(image('cat.bmp'), { topK: 1 });
    assert.deepEqual([best!.index, best!.label], [286, 'Egyptian cat']);
    assert.ok(best!.score >= 0.7, `score ${best!.score}`);
  });

  it('returns one sorted top-k list per image for an array, and the same results as one at a time', async () => {
    const files = [image('cat.bmp'), image('grace_hopper.bmp'), image('bird.bmp')];
    const batched = await classifier(files, { topK: 3 });
    assert.equal(batched.length, 3);
    for (const [i, result] of batched.entries()) {
      assert.equal(result.length, 3);
      assert.ok(result[0]!.score >= result[1]!.score && result[1]!.score >= result[2]!.score);
      const single = await classifier(files[i]!, { topK: 3 });
      assert.deepEqual(single.map((r) => r.index), result.map((r) => r.index));
      assert.ok(Math.abs(single[0]!.score - result[0]!.score) < 1e-5);
    }
    // The processor's centre crop cuts Grace Hopper's uniform; it is still in the top 2.
    assert.ok(batched[1]!.slice(0, 2).some((r) => r.index === 653), JSON.stringify(batched[1]));
    assert.equal(batched[2]![0]!.index, 20); // chickadee
  });

  it('accepts a Buffer and decoded pixels as well as a path, with equal results', async () => {
    const bytes = readFileSync(image('cat.bmp'));
    const pixels = await loadImage(image('cat.bmp'));
    const [fromBytes, fromPixels] = await classifier([bytes, pixels], { topK: 2 });
    assert.deepEqual(fromBytes, fromPixels);
    assert.equal(fromBytes![0]!.index, 286);
  });

  it('defaults to the top 5 and caps topK at the number of classes', async () => {
    assert.equal((await classifier(image('cat.bmp'))).length, 5);
    assert.equal((await classifier(image('cat.bmp'), { topK: 5000 })).length, 1001);
  });

  it('rejects a bad topK and a non-image input with a MobileNetV2Error', async () => {
    await assert.rejects(classifier(image('cat.bmp'), { topK: 0 }), /topK must be a positive integer/);
    await assert.rejects(classifier(42 as never), (e: unknown) => e instanceof MobileNetV2Error && /image 0: expected decoded pixels/.test(e.message));
    await assert.rejects(classifier(image('nope.jpg')), /nope\.jpg: image file not found/);
  });
});

describe('image-classification on whole images resized to 224×224 (the reference runtime\'s input)', PHOTOS, () => {
  it('matches the reference probabilities of the TFLite model within 0.03 on three photos', async () => {
    const processor = new MobileNetV2ImageProcessor({ doCenterCrop: false, size: { height: 224, width: 224 } });
    const classifier = await createPipeline('image-classification', DEFAULT_CLASSIFIER, { processor, readImage: (s) => loadImage(s) });
    try {
      const names = ['cat', 'grace_hopper', 'bird'];
      const results = await classifier(names.map((n) => image(`${n}.bmp`)), { topK: 1 });
      for (const [i, name] of names.entries()) {
        const ref = reference().items['mobilenet_v2_1.0_224_quant']![name]!;
        assert.equal(results[i]![0]!.index, ref.top5_index_1001[0], name);
        assert.ok(Math.abs(results[i]![0]!.score - ref.top5_prob[0]!) < 0.03, `${name}: ${results[i]![0]!.score} vs ${ref.top5_prob[0]}`);
      }
    } finally {
      await classifier.dispose();
    }
  });
});

describe('image-segmentation pipeline (shipped deeplabv3_mnv2_pascal_quant)', PHOTOS, () => {
  let segmenter: ImageSegmentationPipeline;
  before(async () => {
    segmenter = await pipeline('image-segmentation');
  });
  after(() => segmenter.dispose());

  it('finds a bird on bird_segmentation.bmp, agreeing with the ground-truth mask (score > 0.9)', async () => {
    const segments = await segmenter(image('bird_segmentation.bmp'));
    assert.deepEqual(segments.map((s) => s.label), ['background', 'bird']);
    const bird = segments[1]!;
    assert.equal(bird.index, 3);
    assert.ok(bird.score > 0.5 && bird.score <= 1, `score ${bird.score}`);
    const truth = await loadSegmentationMap(image('bird_segmentation_mask.bmp'));
    assert.deepEqual([bird.mask.width, bird.mask.height], [truth.width, truth.height]);
    let agree = 0;
    let count = 0;
    for (let p = 0; p < truth.data.length; p++) {
      const cls = truth.data[p] === 255 ? 0 : truth.data[p]!;
      const predicted = bird.mask.data[p] === 255 ? 3 : 0;
      if (predicted === cls) agree++;
      if (bird.mask.data[p] === 255) count++;
    }
    assert.equal(count, bird.pixels);
    const n = truth.data.length;
    assert.ok(agree / (2 * n - agree) > 0.9, `Google's score ${agree / (2 * n - agree)}`);
  });

  it('gives the class map of post_process_semantic_segmentation at the image size, pixel for pixel', async () => {
    const photo = await loadImage(image('cat.bmp'));
    const [prediction] = await segmenter.predict([photo]);
    const { map, segments } = prediction!;
    assert.deepEqual([map.width, map.height], [photo.width, photo.height]);
    const crop = segmenter.processor.settings.cropSize;
    const pixelValues = segmenter.processor.preprocess(photo, undefined, { doCenterCrop: false, size: crop }).pixelValues;
    const logits = (await segmenter.model.forward(pixelValues)).logits!;
    const [expected] = postProcessSemanticSegmentation({ logits }, [[photo.height, photo.width]]);
    const mismatch = expected!.data.findIndex((v, i) => Number(v) !== map.labels[i]);
    assert.equal(mismatch, -1, `first different pixel ${mismatch}`);
    assert.equal(segments.reduce((n, s) => n + s.pixels, 0), photo.width * photo.height);
    assert.ok(segments.some((s) => s.label === 'cat'), JSON.stringify(segments));
    assert.ok(segments.every((s) => s.score > 1 / 21 && s.score <= 1));
  });

  it('returns one list of segments per image for an array input', async () => {
    const results = await segmenter([image('bird_segmentation.bmp'), image('cat.bmp')]);
    assert.equal(results.length, 2);
    assert.ok(results[0]!.some((s) => s.label === 'bird'));
    assert.ok(results[1]!.every((s) => s.mask.width === 512 && s.mask.data.length === 512 * s.mask.height));
  });
});

describe('image-feature-extraction pipeline', PHOTOS, () => {
  let extractor: ImageFeatureExtractionPipeline;
  before(async () => {
    extractor = await pipeline('image-feature-extraction', undefined, { batchSize: 2 });
  });
  after(() => extractor.dispose());

  it('gives pooled 1280-d embeddings [B, 1280] across batches, equal to the classifier\'s pooler output', async () => {
    const files = [image('cat.bmp'), image('bird.bmp'), image('cat_720p.jpg')];
    const embeddings = await extractor(files);
    assert.deepEqual(embeddings.shape, [3, 1280]);
    const { pixelValues } = extractor.processor.preprocess(await loadImage(files[1]!));
    const pooled = (await (extractor.model as MobileNetV2ForImageClassification).forward(pixelValues)).poolerOutput!.data;
    for (let i = 0; i < 1280; i++) assert.ok(Math.abs(embeddings.data[1280 + i]! - pooled[i]!) < 1e-5);
    // The same cat at two resolutions is closer to itself than to the bird.
    const cosine = (a: number, b: number): number => {
      let dot = 0, na = 0, nb = 0;
      for (let i = 0; i < 1280; i++) {
        const x = embeddings.data[a * 1280 + i]!, y = embeddings.data[b * 1280 + i]!;
        dot += x * y; na += x * x; nb += y * y;
      }
      return dot / Math.sqrt(na * nb);
    };
    assert.ok(cosine(0, 2) > cosine(0, 1), `cat/cat ${cosine(0, 2)} vs cat/bird ${cosine(0, 1)}`);
  });

  it('takes a chosen block, pooled or as a feature map', async () => {
    assert.deepEqual((await extractor(image('cat.bmp'), { outIndex: 4 })).shape, [1, 32]);
    assert.deepEqual((await extractor(image('cat.bmp'), { outIndex: 4, pool: false })).shape, [1, 32, 28, 28]);
    assert.deepEqual((await extractor(image('cat.bmp'), { pool: false })).shape, [1, 1280, 7, 7]);
    await assert.rejects(extractor(image('cat.bmp'), { outIndex: 16 }), /outIndex must be a block index 0\.\.15/);
  });

  it('uses block 15 of a segmentation model (its conv_1x1 is unused)', async () => {
    const fromSegmenter = await pipeline('image-feature-extraction', DEFAULT_SEGMENTER);
    try {
      assert.deepEqual((await fromSegmenter(image('cat.bmp'))).shape, [1, 320]);
    } finally {
      await fromSegmenter.dispose();
    }
  });
});

describe('pipeline factory errors', () => {
  it('rejects an unknown task, a segmenter for classification and a missing model', async () => {
    await assert.rejects(pipeline('image-captioning' as never), /unknown task "image-captioning"/);
    await assert.rejects(pipeline('image-classification', DEFAULT_SEGMENTER), /needs a MobileNetV2ForImageClassification checkpoint, but this one is a MobileNetV2ForSemanticSegmentation/);
    await assert.rejects(pipeline('image-segmentation', '/nonexistent/model/folder'), /nonexistent\/model\/folder/);
  });

  it('releases the model it loaded when the checkpoint does not suit the task', async (t) => {
    const dispose = t.mock.method(MobileNetV2PreTrainedModel.prototype, 'dispose');
    await assert.rejects(pipeline('image-classification', DEFAULT_SEGMENTER), /needs a MobileNetV2ForImageClassification checkpoint/);
    assert.deepEqual(dispose.mock.calls.map((c) => (c.this as MobileNetV2PreTrainedModel).architecture), ['MobileNetV2ForSemanticSegmentation']);
  });

  it('without an image reader, asks for decoded pixels; a disposed pipeline cannot run', PHOTOS, async () => {
    const classifier = await createPipeline('image-classification', DEFAULT_CLASSIFIER);
    await assert.rejects(classifier('cat.jpg'), /no image reader; pass decoded pixels/);
    const pixels = await loadImage(image('cat.bmp'));
    assert.equal((await classifier(pixels, { topK: 1 }))[0]!.index, 286);
    await classifier.dispose();
    await assert.rejects(classifier(pixels), /disposed/);
  });
});
