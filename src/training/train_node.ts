/**
 * Training and evaluation from folders (Node): reads ImageFolder datasets, keeps embeddings in the
 * disk cache, writes the checkpoint folder with its training report.
 */
import '../node/setup.js';
import { readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { check, MobileNetV2Error } from '../errors.js';
import { DEFAULT_CLASSIFIER, DEFAULT_SEGMENTER } from '../pipelines/default_models_node.js';
import { collectImageFiles } from '../processing/image_files_node.js';
import { pipeline } from '../pipelines/pipeline_node.js';
import { getPlatform } from '../platform.js';
import { loadImage, loadSegmentationMap } from '../processing/image_io_node.js';
import type { SessionOptions } from '../runtime/ort.js';
import type { LabeledImage } from './dataset.js';
import { DiskEmbeddingCache } from './embedding_cache_node.js';
import type { EmbedOptions } from './embeddings.js';
import { evaluate, evaluateSegmentation, type SegmentationSample } from './evaluate.js';
import { nodeImageAccess, readImageFolder } from './folder_node.js';
import { KNN_INDEX_FILE, parseKnnIndex } from './knn.js';
import type { EvaluationResult, SegmentationEvaluation } from './metrics.js';
import { trainClassifier, trainedFiles, type TrainOptions, type TrainResult } from './train.js';

/** Where embeddings are cached: a folder, or false for none (memory only). */
export interface CacheOption {
  /** Embedding cache folder (default: the library's cache folder); false keeps them in memory only. */
  readonly cacheDir?: string | false;
}

/** Options of {@link trainFromFolder}. */
export interface FolderTrainOptions extends Omit<TrainOptions, 'model'>, CacheOption {
  /** Base model folder or hub id (default: the shipped ImageNet classifier). */
  readonly model?: TrainOptions['model'];
  /** A separate validation folder (same class subfolders). */
  readonly valDir?: string;
}

function cacheOf(options: CacheOption): EmbedOptions['cache'] {
  return options.cacheDir === false ? undefined : new DiskEmbeddingCache(options.cacheDir);
}

/** Peak resident memory of this process, in bytes. */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Trains a classifier on the class subfolders of `dir` (see `trainClassifier`). */
export async function trainFromFolder(dir: string, options: FolderTrainOptions = {}): Promise<TrainResult> {
  const train = await readImageFolder(dir);
  const val = options.valDir === undefined ? undefined : await readImageFolder(options.valDir);
  const result = await trainClassifier(val ? { train, val } : { train }, {
    ...nodeImageAccess, ...options, model: options.model ?? DEFAULT_CLASSIFIER, cache: options.cache ?? cacheOf(options),
    // The backbone in a worker thread, so the next images decode while it runs.
    session: { worker: true, ...options.session },
  });
  result.report.peakRssBytes = peakRss();
  return result;
}

/** Writes a trained classifier's folder (atomically) and releases its feature extractor. */
export async function saveTrained(result: TrainResult, dir: string): Promise<void> {
  result.report.peakRssBytes = peakRss();
  try {
    await getPlatform().writeFolder(dir, await trainedFiles(result));
  } finally {
    await result.extractor.dispose();
  }
}

/** Options of {@link evaluateFolder}. */
export interface FolderEvaluateOptions extends CacheOption, Pick<SessionOptions, 'threads' | 'dtype'> {
  /** Images per backbone run. */
  readonly batchSize?: number;
  /** Called for an image that cannot be read; it is skipped. */
  onSkip?(item: LabeledImage, error: unknown): void;
  onProgress?(done: number, total: number): void;
}

/**
 * Evaluates a classifier folder (using its `knn_index.safetensors` when it has one) on the class
 * subfolders of `dir`.
 */
export async function evaluateFolder(dir: string, model: string, options: FolderEvaluateOptions = {}): Promise<EvaluationResult> {
  const items = await readImageFolder(dir);
  const knnBytes = await readFile(join(model, KNN_INDEX_FILE)).catch(() => null);
  const knn = knnBytes ? parseKnnIndex(knnBytes, join(model, KNN_INDEX_FILE)) : null;
  const extractor = await pipeline('image-feature-extraction', model, {
    worker: true, ...(options.threads ? { threads: options.threads } : {}), ...(options.dtype ? { dtype: options.dtype } : {}), ...(options.batchSize ? { batchSize: options.batchSize } : {}),
  });
  try {
    return await evaluate(extractor, items, { ...nodeImageAccess, ...options, knn, cache: cacheOf(options) });
  } finally {
    await extractor.dispose();
  }
}

/** The images of `imagesDir` paired with the mask of the same base name in `masksDir` (`.png`, else any image extension). */
async function* segmentationSamples(files: readonly string[], masksDir: string): AsyncGenerator<SegmentationSample> {
  const masks = new Map((await collectImageFiles([masksDir])).files.map((f) => [basename(f, extname(f)), f]));
  for (const file of files) {
    const mask = masks.get(basename(file, extname(file)));
    if (!mask) throw new MobileNetV2Error(`${file}: no mask of the same name in ${masksDir}`, { code: 'E_FILE_NOT_FOUND' });
    yield { name: file, image: await loadImage(file), mask: await loadSegmentationMap(mask) };
  }
}

/** Evaluates a segmentation model on the images of `imagesDir` against the masks in `masksDir`. */
export async function evaluateSegmentationFolders(
  imagesDir: string, masksDir: string, model: string = DEFAULT_SEGMENTER, options: Pick<SessionOptions, 'threads' | 'dtype'> = {},
): Promise<SegmentationEvaluation> {
  const { files } = await collectImageFiles([imagesDir]);
  check(files.length > 0, `${imagesDir}: no image files`);
  const segmenter = await pipeline('image-segmentation', model, { ...options });
  try {
    return await evaluateSegmentation(segmenter, segmentationSamples(files, masksDir));
  } finally {
    await segmenter.dispose();
  }
}
