/**
 * `evaluate(model, dataset)`: top-1/top-5, per-class accuracy and the confusion matrix of a
 * classifier (or its k-NN index) on labelled images; and pixel accuracy and IoU of a segmenter on
 * images with ground-truth masks. Platform-independent.
 */
import { check } from '../errors.js';
import type { RawImage } from '../processing/image.js';
import type { ImageClassificationPipeline } from '../pipelines/image_classification.js';
import { ImageFeatureExtractionPipeline } from '../pipelines/image_feature_extraction.js';
import type { ImageSegmentationPipeline } from '../pipelines/image_segmentation.js';
import { headOf } from './classifier.js';
import { classNamesOf, type LabeledImage } from './dataset.js';
import { embedDataset, type EmbedOptions } from './embeddings.js';
import { knnScores, type KnnIndex } from './knn.js';
import { headLogits, topIndices } from './linear.js';
import { ClassificationTally, SegmentationTally, type EvaluationResult, type SegmentationEvaluation } from './metrics.js';

/** Options of {@link evaluate}. */
export interface EvaluateOptions extends Omit<EmbedOptions, 'augment' | 'seed'> {
  /** Classify with this k-NN index (saved by `train --method knn`) instead of the linear head. */
  readonly knn?: KnnIndex | null;
}

/**
 * Scores a classifier on labelled images. Every class name must be a label of the model.
 *
 * @throws MobileNetV2Error naming the classes that are not labels of the model.
 */
export async function evaluate(
  model: ImageClassificationPipeline | ImageFeatureExtractionPipeline, items: readonly LabeledImage[], options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const extractor = model instanceof ImageFeatureExtractionPipeline ? model : new ImageFeatureExtractionPipeline(model.model, model.processor, { batchSize: model.batchSize });
  const config = extractor.model.config;
  const classes = classNamesOf(items);
  check(classes.length > 0, 'no images to evaluate');
  const label2id = config.label2id;
  const missing = classes.filter((c) => !(c in label2id));
  check(missing.length === 0, () => `class${missing.length > 1 ? 'es' : ''} ${missing.map((c) => `"${c}"`).join(', ')} ${missing.length > 1 ? 'are not labels' : 'is not a label'} of the model (its labels: ${labelSample(Object.keys(label2id))})`);
  const head = options.knn ? null : await headOf(extractor.model);
  check(options.knn || head, () => `evaluating needs a classification model or a k-NN index; this is a ${extractor.model.architecture}`);
  const classOfModelIndex = new Map(classes.map((c, i) => [label2id[c]!, i]));
  const tally = new ClassificationTally(classes, config.numLabels > classes.length);
  const embedded = await embedDataset(extractor, items, options);
  embedded.views.forEach(([vector], i) => {
    const scores = options.knn ? knnScores(options.knn, vector!) : headLogits(head!, vector!);
    tally.add(classes.indexOf(embedded.items[i]!.label), topIndices(scores, 5).map((m) => classOfModelIndex.get(m) ?? -1));
  });
  return tally.result();
}

function labelSample(labels: string[]): string {
  return labels.length <= 8 ? labels.join(', ') : `${labels.slice(0, 8).join(', ')}, … ${labels.length} in all`;
}

/** An image and its ground-truth class map (one channel of class indices, 255 = ignore). */
export interface SegmentationSample {
  readonly name: string;
  readonly image: RawImage;
  readonly mask: RawImage;
}

/**
 * Scores a segmenter on images with ground-truth masks (VOC convention: palette indices, 255
 * ignored), one image at a time.
 *
 * @throws MobileNetV2Error when a mask's size differs from its image's.
 */
export async function evaluateSegmentation(
  segmenter: ImageSegmentationPipeline, samples: AsyncIterable<SegmentationSample> | Iterable<SegmentationSample>,
): Promise<SegmentationEvaluation> {
  const config = segmenter.model.config;
  const tally = new SegmentationTally(Array.from({ length: config.numLabels }, (_, i) => config.id2label[i] ?? `LABEL_${i}`), config.semanticLossIgnoreIndex);
  for await (const { name, image, mask } of samples) {
    check(mask.channels === 1 && mask.width === image.width && mask.height === image.height,
      () => `${name}: the mask is ${mask.width}x${mask.height}x${mask.channels} but the image is ${image.width}x${image.height}; a mask needs one channel at the image's size`);
    const [prediction] = await segmenter.predict([image]);
    tally.add(mask.data, prediction!.map.labels);
  }
  return tally.result();
}
