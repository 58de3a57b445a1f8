/**
 * `trainClassifier(dataset, options)`: teach a MobileNetV2 new classes. The frozen backbone embeds
 * each image once (cached), then a head is fitted on the embeddings: trained with AdamW
 * (`head`), imprinted from class means (`imprint`), or a k-NN index (`knn`, saved beside an
 * imprinted head). The result is an ordinary transformers checkpoint. Platform-independent: the
 * Node parts add folders, a disk cache and the CLI.
 */
import { check } from '../errors.js';
import type { ModelFiles } from '../hub/model_files.js';
import type { MobileNetV2ForImageClassification } from '../model/modeling_mobilenet_v2.js';
import { jsonFile } from '../model/saving.js';
import { ImageFeatureExtractionPipeline } from '../pipelines/image_feature_extraction.js';
import { createPipeline } from '../pipelines/pipeline.js';
import type { SessionOptions } from '../runtime/ort.js';
import { classifierWithHead, headOf } from './classifier.js';
import { checkTrainingSet, classNamesOf, stratifiedSplit, type LabeledImage } from './dataset.js';
import { embedDataset, itemName, type EmbedOptions, type EmbeddedSet } from './embeddings.js';
import { trainHead, HEAD_DEFAULTS, type EpochLog, type HeadOptions, type VectorSet } from './head.js';
import { appendClasses, imprintHead } from './imprint.js';
import { buildKnnIndex, DEFAULT_K, KNN_INDEX_FILE, knnScores, serializeKnnIndex, type KnnIndex } from './knn.js';
import { headLogits, topIndices, type LinearHead } from './linear.js';
import { ClassificationTally, type EvaluationResult } from './metrics.js';

/** How the new classes are learnt. */
export type TrainingMethod = 'head' | 'knn' | 'imprint';

/** Default share of each class held out for validation when no validation set is given. */
export const DEFAULT_VALIDATION_SPLIT = 0.15;

/** Images to train on, and optionally a separate validation set. */
export interface TrainingDataset {
  readonly train: readonly LabeledImage[];
  /** Validation images; default: a stratified `validationSplit` of `train`. */
  readonly val?: readonly LabeledImage[];
}

/** Options of {@link trainClassifier}. */
export interface TrainOptions extends HeadOptions, Omit<EmbedOptions, 'seed'> {
  /** The base model: a folder, hub id, ModelFiles, or a feature-extraction pipeline to reuse. */
  readonly model: string | ModelFiles | ImageFeatureExtractionPipeline;
  /** ONNX Runtime settings when `model` is loaded here. */
  readonly session?: SessionOptions;
  /** Images per backbone run (default 8). */
  readonly embedBatchSize?: number;
  /** `head` (default), `knn` or `imprint`. */
  readonly method?: TrainingMethod;
  /** Keep the base classifier's classes and append the new ones (not with `knn`). */
  readonly keepClasses?: boolean;
  /** Share of each class held out when `dataset.val` is absent (default 0.15). */
  readonly validationSplit?: number;
  /** Neighbours that vote with `knn` (default 5). */
  readonly k?: number;
  /** Called after each epoch of `head` training. */
  onEpoch?(log: EpochLog): void;
}

/** `training_report.json`. */
export interface TrainingReport {
  readonly method: TrainingMethod;
  readonly classes: string[];
  readonly keepClasses: boolean;
  readonly seed: number;
  readonly augment: number;
  readonly settings: Required<HeadOptions> | { k: number } | Record<string, never>;
  readonly images: { train: number; val: number; skipped: number; fromCache: number };
  readonly skipped: Array<{ image: string; reason: string }>;
  readonly epochs: EpochLog[];
  readonly bestEpoch: number | null;
  /** The validation set scored with the saved head (or the k-NN index). */
  readonly validation: EvaluationResult | null;
  readonly timings: { embeddingSeconds: number; imagesPerSecond: number; trainingSeconds: number; secondsPerEpoch: number | null };
  /** Peak resident memory of the process, where the platform can tell (Node). */
  peakRssBytes: number | null;
}

/** A trained classifier. */
export interface TrainResult {
  /** The new classification model (backbone of the base, new classifier). */
  readonly model: MobileNetV2ForImageClassification;
  readonly extractor: ImageFeatureExtractionPipeline;
  readonly report: TrainingReport;
  /** The k-NN index (`knn` only). */
  readonly knn: KnnIndex | null;
}

/**
 * The labelled vectors of an embedded set: the plain views only, every view, or every view with
 * the plain one repeated once per augmented view (`weighted`, for fitting a head). Images are
 * classified from their plain view, so there it weighs as much as all the augmented views
 * together: the crops and flips regularise the head without pulling it towards views it will
 * never see (with equal weights, `--augment` scored below the plain head on the flowers split; see
 * bench/README.md). A k-NN index takes every view once, so copies do not crowd out neighbours.
 */
const toVectors = (set: EmbeddedSet<LabeledImage>, classes: readonly string[], views: 'plain' | 'all' | 'weighted'): VectorSet => {
  const vectors: Float32Array[] = [];
  const labels: number[] = [];
  set.views.forEach(([plain, ...augmented], i) => {
    const label = classes.indexOf(set.items[i]!.label);
    const copies = views === 'weighted' ? Math.max(1, augmented.length) : 1;
    for (const v of [...Array<Float32Array>(copies).fill(plain!), ...(views === 'plain' ? [] : augmented)]) {
      vectors.push(v);
      labels.push(label);
    }
  });
  return { vectors, labels };
};

/** Scores validation vectors with a head (offset: index of the first new class) or a k-NN index. */
function validate(val: VectorSet, classes: readonly string[], score: (x: Float32Array) => ArrayLike<number>, offset: number): EvaluationResult | null {
  if (val.vectors.length === 0) return null;
  const tally = new ClassificationTally(classes, offset > 0);
  val.vectors.forEach((v, i) => {
    const ranked = topIndices(score(v), 5).map((c) => (c >= offset && c - offset < classes.length ? c - offset : -1));
    tally.add(val.labels[i]!, ranked);
  });
  return tally.result();
}

async function loadExtractor(options: TrainOptions): Promise<{ extractor: ImageFeatureExtractionPipeline; owned: boolean }> {
  if (options.model instanceof ImageFeatureExtractionPipeline) return { extractor: options.model, owned: false };
  const batchSize = options.embedBatchSize;
  const extractor = await createPipeline('image-feature-extraction', options.model, { ...options.session, ...(batchSize ? { batchSize } : {}) });
  return { extractor, owned: true };
}

/**
 * Trains a classifier for the classes of `dataset` (class names sorted) on a base model's frozen
 * backbone.
 *
 * @throws MobileNetV2Error for a dataset that cannot train a classifier (one class, a class with
 *   one image when splitting, every image unreadable) or bad settings.
 */
export async function trainClassifier(dataset: TrainingDataset, options: TrainOptions): Promise<TrainResult> {
  const method = options.method ?? 'head';
  check(['head', 'knn', 'imprint'].includes(method), `method must be head, knn or imprint, got ${JSON.stringify(method)}`);
  check(!(options.keepClasses && method === 'knn'), '--keep-classes needs a linear head (method head or imprint), not knn');
  const augment = options.augment ?? 0;
  check(Number.isInteger(augment) && augment >= 0, `augment must be a whole number of views, got ${augment}`);
  const seed = options.seed ?? HEAD_DEFAULTS.seed;
  checkTrainingSet(dataset.train, dataset.val === undefined);
  const { train, val } = dataset.val === undefined
    ? stratifiedSplit(dataset.train, options.validationSplit ?? DEFAULT_VALIDATION_SPLIT, seed)
    : { train: [...dataset.train], val: [...dataset.val] };
  const classes = classNamesOf(train);
  const unknown = classNamesOf(val).filter((c) => !classes.includes(c));
  check(unknown.length === 0, () => `the validation set has classes the training set lacks: ${unknown.join(', ')}`);

  const { extractor, owned } = await loadExtractor(options);
  try {
    const base = await headOf(extractor.model);
    check(!options.keepClasses || base, () => `--keep-classes needs a classification model as the base, this one is a ${extractor.model.architecture}`);
    const skipped: TrainingReport['skipped'] = [];
    const embedOptions: EmbedOptions = {
      ...options, seed,
      onSkip: (item, error) => {
        skipped.push({ image: itemName(item, 0), reason: error instanceof Error ? error.message : String(error) });
        options.onSkip?.(item, error);
      },
    };
    const started = performance.now();
    const trainSet = await embedDataset(extractor, train, { ...embedOptions, augment });
    const valSet = await embedDataset(extractor, val, { ...embedOptions, augment: 0 });
    const embeddingSeconds = (performance.now() - started) / 1000;
    checkTrainingSet(trainSet.items, false, 'the readable training images');
    const trainVectors = toVectors(trainSet, classes, 'weighted');
    const valVectors = toVectors(valSet, classes, 'plain');

    const fitStarted = performance.now();
    let head: LinearHead;
    let heldOut: LinearHead | null = null;
    let epochs: EpochLog[] = [];
    let bestEpoch: number | null = null;
    let knn: KnnIndex | null = null;
    let settings: TrainingReport['settings'] = {};
    if (method === 'head') {
      const result = trainHead(trainVectors, valVectors, classes.length, {
        ...options, seed, dropout: options.dropout ?? Math.min(HEAD_DEFAULTS.dropout, extractor.model.config.classifierDropoutProb),
      });
      ({ head, epochs, bestEpoch } = result);
      heldOut = result.heldOutHead;
      epochs.forEach((e) => options.onEpoch?.(e));
      settings = { ...HEAD_DEFAULTS, ...definedOf(options), seed };
    } else {
      head = imprintHead(trainVectors, classes.length);
      if (method === 'knn') {
        knn = buildKnnIndex(toVectors(trainSet, classes, 'all'), classes.length, options.k ?? DEFAULT_K);
        settings = { k: knn.k };
      }
    }
    const offset = options.keepClasses ? base!.classes : 0;
    if (options.keepClasses) head = appendClasses(base!, head, trainVectors);
    const trainingSeconds = (performance.now() - fitStarted) / 1000;
    const index = knn;
    // Scored with the head as it was before any refit on the validation images, and without the base classes.
    const scored = heldOut && options.keepClasses ? appendClasses(base!, heldOut, trainVectors) : heldOut ?? head;
    const validation = validate(valVectors, classes, index ? (x) => knnScores(index, x) : (x) => headLogits(scored, x), offset);
    const labels = options.keepClasses
      ? [...Array.from({ length: base!.classes }, (_, i) => extractor.model.config.id2label[i] ?? `LABEL_${i}`), ...classes]
      : classes;
    const model = await classifierWithHead(extractor.model, head, labels);
    const embedded = trainSet.items.length + valSet.items.length;
    const report: TrainingReport = {
      method, classes, keepClasses: options.keepClasses ?? false, seed, augment, settings,
      images: { train: trainSet.items.length, val: valSet.items.length, skipped: skipped.length, fromCache: trainSet.cached + valSet.cached },
      skipped, epochs, bestEpoch, validation,
      timings: {
        embeddingSeconds, imagesPerSecond: embedded / Math.max(embeddingSeconds, 1e-9), trainingSeconds,
        secondsPerEpoch: epochs.length ? epochs.reduce((n, e) => n + e.seconds, 0) / epochs.length : null,
      },
      peakRssBytes: null,
    };
    return { model, extractor, report, knn };
  } catch (err) {
    if (owned) await extractor.dispose();
    throw err;
  }
}

function definedOf(options: HeadOptions): HeadOptions {
  const keys = Object.keys(HEAD_DEFAULTS) as Array<keyof HeadOptions>;
  return Object.fromEntries(keys.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
}

/**
 * The files of a trained classifier's folder: `config.json`, `model.safetensors`,
 * `preprocessor_config.json`, `training_report.json`, and `knn_index.safetensors` for k-NN.
 */
export async function trainedFiles(result: TrainResult): Promise<Record<string, Uint8Array>> {
  const files = await result.model.toPretrainedFiles();
  files['preprocessor_config.json'] = new TextEncoder().encode(result.extractor.processor.toJsonString());
  files['training_report.json'] = jsonFile(result.report);
  if (result.knn) files[KNN_INDEX_FILE] = serializeKnnIndex(result.knn);
  return files;
}
