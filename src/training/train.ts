/**
 * `trainClassifier(dataset, options)`: teach a MobileNetV2 new classes. The frozen backbone embeds
 * each image once (cached), then a head is fitted on the embeddings: trained with AdamW
 * (`head`), imprinted from class means (`imprint`), or a k-NN index (`knn`, saved beside an
 * imprinted head). With `fineTune: K` the backbone stops at the input of the last K blocks,
 * which then train with the head (train_finetune.ts). The result is an ordinary transformers
 * checkpoint. Platform-independent: the Node parts add folders, a disk cache and the CLI.
 */
import { check } from '../errors.js';
import type { ModelFiles } from '../hub/model_files.js';
import type { AnyMobileNetV2Model, MobileNetV2ForImageClassification } from '../model/modeling_mobilenet_v2.js';
import { jsonFile } from '../model/saving.js';
import { ImageFeatureExtractionPipeline } from '../pipelines/image_feature_extraction.js';
import { createPipeline } from '../pipelines/pipeline.js';
import type { SessionOptions } from '../runtime/ort.js';
import { classifierWithHead, headOf } from './classifier.js';
import { checkTrainingSet, classNamesOf, stratifiedSplit, type LabeledImage } from './dataset.js';
import { embedDataset, itemName, type EmbedOptions, type EmbeddedSet } from './embeddings.js';
import { FINE_TUNE_AUGMENT, fineTuneSettings, type FineTuneOptions } from './finetune.js';
import { trainHead, withDefaults, HEAD_DEFAULTS, type EpochLog, type HeadOptions } from './head.js';
import { appendClasses, imprintHead } from './imprint.js';
import { buildKnnIndex, DEFAULT_K, KNN_INDEX_FILE, knnScores, serializeKnnIndex, type KnnIndex } from './knn.js';
import { headLogits, type LinearHead } from './linear.js';
import type { EvaluationResult } from './metrics.js';
import { fitFineTuned } from './train_finetune.js';
import { toVectors, validate } from './vectors.js';

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
export interface TrainOptions extends HeadOptions, Omit<EmbedOptions, 'seed' | 'block'> {
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
  /** Augmented views per image besides the plain one (default 0; `FINE_TUNE_AUGMENT` with `fineTune`). */
  readonly augment?: number;
  /** Neighbours that vote with `knn` (default 5). */
  readonly k?: number;
  /**
   * Also train the last K inverted-residual blocks (1..15) and `conv_1x1` with the head, after
   * training the head alone (default 0: the head alone; `method` head only).
   */
  readonly fineTune?: number;
  /** Fine-tuning settings (defaults: `FINE_TUNE_DEFAULTS`). */
  readonly fineTuneOptions?: Omit<FineTuneOptions, 'blocks'>;
  /** Called after each epoch of `head` training. */
  onEpoch?(log: EpochLog): void;
  /** Called after each epoch of fine-tuning. */
  onFineTuneEpoch?(log: EpochLog): void;
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
  /**
   * Fine-tuning of the last blocks after the head (null: the head alone): the epochs of the run on
   * the training images, the validation loss and accuracy before it (the held-out head on the
   * pretrained blocks), and whether the saved model was fine-tuned again on every image (`refit`).
   */
  readonly fineTune: {
    blocks: number; settings: Required<FineTuneOptions>; epochs: EpochLog[]; before: { loss: number; accuracy: number } | null;
    refit: boolean; secondsPerEpoch: number | null;
  } | null;
  /** The validation set scored with the saved model (or the k-NN index). */
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
  const fineTuneBlocks = options.fineTune ?? 0;
  const augment = options.augment ?? (fineTuneBlocks > 0 ? FINE_TUNE_AUGMENT : 0);
  check(Number.isInteger(augment) && augment >= 0, `augment must be a whole number of views, got ${augment}`);
  const seed = options.seed ?? HEAD_DEFAULTS.seed;
  if (fineTuneBlocks !== 0) {
    check(method === 'head', `--fine-tune trains the blocks with a trained head: use it with --method head, not ${method}`);
    check(!options.keepClasses, "--keep-classes keeps the base model's blocks as they are; it cannot be combined with --fine-tune");
    fineTuneSettings({ ...options.fineTuneOptions, blocks: fineTuneBlocks });
  }
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
      ...options, seed, ...(fineTuneBlocks !== 0 ? { block: 15 - fineTuneBlocks } : {}),
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
    const fitStarted = performance.now();
    const fit = fineTuneBlocks > 0
      ? await fitFineTunedModel(extractor.model, trainSet, valSet, classes, options, seed)
      : await fitLinear(extractor.model, base, trainSet, valSet, classes, options, seed);
    const trainingSeconds = (performance.now() - fitStarted) / 1000;
    const embedded = trainSet.items.length + valSet.items.length;
    const { epochs } = fit;
    const report: TrainingReport = {
      method, classes, keepClasses: options.keepClasses ?? false, seed, augment, settings: fit.settings,
      images: { train: trainSet.items.length, val: valSet.items.length, skipped: skipped.length, fromCache: trainSet.cached + valSet.cached },
      skipped, epochs, bestEpoch: fit.bestEpoch, fineTune: fit.fineTune, validation: fit.validation,
      timings: {
        embeddingSeconds, imagesPerSecond: embedded / Math.max(embeddingSeconds, 1e-9), trainingSeconds, secondsPerEpoch: meanSeconds(epochs),
      },
      peakRssBytes: null,
    };
    return { model: fit.model, extractor, report, knn: fit.knn };
  } catch (err) {
    if (owned) await extractor.dispose();
    throw err;
  }
}

const meanSeconds = (epochs: readonly EpochLog[]): number | null => (epochs.length ? epochs.reduce((n, e) => n + e.seconds, 0) / epochs.length : null);

/** What fitting produced, whatever the method. */
interface Fit {
  readonly model: MobileNetV2ForImageClassification;
  readonly validation: EvaluationResult | null;
  readonly epochs: EpochLog[];
  readonly bestEpoch: number | null;
  readonly settings: TrainingReport['settings'];
  readonly knn: KnnIndex | null;
  readonly fineTune: TrainingReport['fineTune'];
}

/** The head settings a report records: the options over the defaults, and the seed. */
function reportedHeadSettings(options: TrainOptions, seed: number): Required<HeadOptions> {
  return { ...withDefaults(HEAD_DEFAULTS, options), seed };
}

/** The head settings of a run: the reported ones, with dropout no higher than the config's. */
function headSettings(model: AnyMobileNetV2Model, options: TrainOptions, seed: number): Required<HeadOptions> {
  return { ...reportedHeadSettings(options, seed), dropout: options.dropout ?? Math.min(HEAD_DEFAULTS.dropout, model.config.classifierDropoutProb) };
}

/** A linear head (trained, imprinted, or imprinted beside a k-NN index) on the pooled embeddings. */
async function fitLinear(
  model: AnyMobileNetV2Model, base: LinearHead | null, trainSet: EmbeddedSet<LabeledImage>, valSet: EmbeddedSet<LabeledImage>,
  classes: readonly string[], options: TrainOptions, seed: number,
): Promise<Fit> {
  const method = options.method ?? 'head';
  const trainVectors = toVectors(trainSet, classes, 'weighted');
  const valVectors = toVectors(valSet, classes, 'plain');
  let head: LinearHead;
  let heldOut: LinearHead | null = null;
  let epochs: EpochLog[] = [];
  let bestEpoch: number | null = null;
  let knn: KnnIndex | null = null;
  let settings: TrainingReport['settings'] = {};
  if (method === 'head') {
    const result = trainHead(trainVectors, valVectors, classes.length, headSettings(model, options, seed));
    ({ head, epochs, bestEpoch } = result);
    heldOut = result.heldOutHead;
    epochs.forEach((e) => options.onEpoch?.(e));
    settings = reportedHeadSettings(options, seed);
  } else {
    head = imprintHead(trainVectors, classes.length);
    if (method === 'knn') {
      knn = buildKnnIndex(toVectors(trainSet, classes, 'all'), classes.length, options.k ?? DEFAULT_K);
      settings = { k: knn.k };
    }
  }
  const offset = options.keepClasses ? base!.classes : 0;
  if (options.keepClasses) head = appendClasses(base!, head, trainVectors);
  const index = knn;
  // Scored with the head as it was before any refit on the validation images, and without the base classes.
  const scored = heldOut && options.keepClasses ? appendClasses(base!, heldOut, trainVectors) : heldOut ?? head;
  const validation = validate(valVectors, classes, index ? (x) => knnScores(index, x) : (x) => headLogits(scored, x), offset);
  const labels = options.keepClasses
    ? [...Array.from({ length: base!.classes }, (_, i) => model.config.id2label[i] ?? `LABEL_${i}`), ...classes]
    : classes;
  return { model: await classifierWithHead(model, head, labels), validation, epochs, bestEpoch, settings, knn, fineTune: null };
}

/** The head, then the last blocks with it (train_finetune.ts). */
async function fitFineTunedModel(
  model: AnyMobileNetV2Model, trainSet: EmbeddedSet<LabeledImage>, valSet: EmbeddedSet<LabeledImage>, classes: readonly string[], options: TrainOptions, seed: number,
): Promise<Fit> {
  const tuned = await fitFineTuned(model, trainSet, valSet, classes, {
    fineTune: { ...options.fineTuneOptions, blocks: options.fineTune! }, head: headSettings(model, options, seed),
    ...(options.session ? { session: options.session } : {}), onFineTuneEpoch: (log) => options.onFineTuneEpoch?.(log),
  });
  tuned.head.epochs.forEach((e) => options.onEpoch?.(e));
  const { epochs, before } = tuned.log;
  return {
    model: tuned.model, validation: tuned.validation, epochs: tuned.head.epochs, bestEpoch: tuned.head.bestEpoch, knn: null,
    settings: reportedHeadSettings(options, seed),
    fineTune: { blocks: tuned.settings.blocks, settings: tuned.settings, epochs, before, refit: tuned.refit, secondsPerEpoch: meanSeconds(epochs) },
  };
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
