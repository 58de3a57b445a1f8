/**
 * `pipeline(task, model?)` for Node: like `createPipeline`, plus the built-in default model of each
 * task and an image reader for file paths and encoded bytes (Buffers).
 */
import '../node/setup.js';
import type { ModelFiles } from '../hub/model_files.js';
import { loadImage } from '../processing/image_io_node.js';
import { DEFAULT_MODELS } from './default_models_node.js';
import { createPipeline, type PipelineOfTask, type PipelineOptions, type PipelineTask } from './pipeline.js';

/**
 * Builds a pipeline, transformers.js style:
 *
 * ```ts
 * const classifier = await pipeline('image-classification');
 * const [best] = await classifier('cat.jpg', { topK: 1 });
 * ```
 *
 * @param model a folder, a hub id (`google/mobilenet_v2_1.0_224`) or ModelFiles; default: the
 *   model shipped with the package for the task (see `DEFAULT_MODELS`).
 * @throws MobileNetV2Error for an unknown task, a missing or unsuitable model.
 */
export async function pipeline<T extends PipelineTask>(task: T, model?: string | ModelFiles, options: PipelineOptions = {}): Promise<PipelineOfTask[T]> {
  return createPipeline(task, model ?? DEFAULT_MODELS[task], { readImage: (source) => loadImage(source), ...options });
}
