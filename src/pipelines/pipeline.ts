/**
 * `createPipeline(task, model)`: loads a checkpoint (folder, hub id or any ModelFiles) and its
 * `preprocessor_config.json` and wraps them in the task's pipeline. Platform-independent; the Node
 * entry point's `pipeline()` adds the built-in default models and an image reader.
 */
import type { Architecture } from '../config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../errors.js';
import type { ModelFiles } from '../hub/model_files.js';
import {
  loadPretrained, MobileNetV2ForImageClassification, MobileNetV2ForSemanticSegmentation, type AnyMobileNetV2Model, type LoadOptions,
} from '../model/modeling_mobilenet_v2.js';
import { getPlatform } from '../platform.js';
import { MobileNetV2ImageProcessor } from '../processing/processor.js';
import type { PipelineSettings } from './base.js';
import { ImageClassificationPipeline } from './image_classification.js';
import { ImageFeatureExtractionPipeline } from './image_feature_extraction.js';
import { ImageSegmentationPipeline } from './image_segmentation.js';

/** The tasks a pipeline can perform. */
export type PipelineTask = 'image-classification' | 'image-segmentation' | 'image-feature-extraction';

/** The pipeline class of each task. */
export interface PipelineOfTask {
  'image-classification': ImageClassificationPipeline;
  'image-segmentation': ImageSegmentationPipeline;
  'image-feature-extraction': ImageFeatureExtractionPipeline;
}

/** Options of `createPipeline`: where to find the model, how to run it, how to batch. */
export interface PipelineOptions extends LoadOptions, PipelineSettings {
  /** Use this processor instead of the model's `preprocessor_config.json`. */
  readonly processor?: MobileNetV2ImageProcessor;
}

interface TaskSpec {
  /** Class to load when the config names none. */
  readonly fallback: Architecture;
  /** The model class the task needs, or null when any will do. */
  readonly requires: typeof MobileNetV2ForImageClassification | typeof MobileNetV2ForSemanticSegmentation | null;
  readonly create: (model: AnyMobileNetV2Model, processor: MobileNetV2ImageProcessor, settings: PipelineSettings) => PipelineOfTask[PipelineTask];
}

const TASKS: Record<PipelineTask, TaskSpec> = {
  'image-classification': {
    fallback: 'MobileNetV2ForImageClassification',
    requires: MobileNetV2ForImageClassification,
    create: (m, p, s) => new ImageClassificationPipeline(m, p, s),
  },
  'image-segmentation': {
    fallback: 'MobileNetV2ForSemanticSegmentation',
    requires: MobileNetV2ForSemanticSegmentation,
    create: (m, p, s) => new ImageSegmentationPipeline(m, p, s),
  },
  'image-feature-extraction': {
    fallback: 'MobileNetV2Model',
    requires: null,
    create: (m, p, s) => new ImageFeatureExtractionPipeline(m, p, s),
  },
};

/** The task names, for help texts and argument checks. */
export const PIPELINE_TASKS = Object.keys(TASKS) as PipelineTask[];

/** The model's processor from its `preprocessor_config.json`, or transformers' defaults when it has none. */
export async function loadImageProcessor(files: ModelFiles): Promise<MobileNetV2ImageProcessor> {
  const bytes = await files.read('preprocessor_config.json');
  if (!bytes) return new MobileNetV2ImageProcessor();
  return MobileNetV2ImageProcessor.fromJsonText(new TextDecoder().decode(bytes), `${files.description}/preprocessor_config.json`);
}

/**
 * Builds the pipeline for `task` on `model` (a folder, a hub id, or ModelFiles). The checkpoint's
 * `architectures` must suit the task: classification needs a classifier, segmentation a segmenter;
 * feature extraction takes any.
 *
 * @throws MobileNetV2Error for an unknown task, a missing or unsuitable model, or a bad config.
 */
export async function createPipeline<T extends PipelineTask>(task: T, model: string | ModelFiles, options: PipelineOptions = {}): Promise<PipelineOfTask[T]> {
  const spec = TASKS[task];
  if (!spec) throw new MobileNetV2Error(`unknown task "${task}"; supported: ${PIPELINE_TASKS.join(', ')}`);
  const files = typeof model === 'string' ? await getPlatform().resolveModelFiles(model, options) : model;
  const loaded = await loadPretrained(files, options, spec.fallback);
  try {
    if (spec.requires && !(loaded instanceof spec.requires)) {
      throw new MobileNetV2Error(`${files.description}: ${task} needs a ${spec.requires.architecture} checkpoint, but this one is a ${loaded.architecture}`, { code: 'E_CHECKPOINT_MISMATCH' });
    }
    const processor = options.processor ?? (await loadImageProcessor(files));
    return spec.create(loaded, processor, options) as PipelineOfTask[T];
  } catch (err) {
    // The model is the caller's only through the pipeline: one not built is released here.
    await loaded.dispose();
    throw err;
  }
}
