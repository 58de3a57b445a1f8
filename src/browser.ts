/**
 * mobilenet-v2 for browsers: the same API as the Node entry point, on onnxruntime-web. Importing
 * this module registers onnxruntime-web as the runtime and fetch-based model loading: a model is a
 * URL (absolute or relative to the page, e.g. `./models/x`) or a hub id, downloaded with progress
 * and kept in the browser's Cache Storage.
 */
import { MobileNetV2Error } from './errors.js';
import { resolveModelFilesInBrowser } from './hub/resolve_browser.js';
import type { ModelFiles } from './hub/model_files.js';
import { setPlatform } from './platform.js';
import { createPipeline, type PipelineOfTask, type PipelineOptions, type PipelineTask } from './pipelines/pipeline.js';
import type { RawImage } from './processing/image.js';
import { loadImageInBrowser } from './processing/image_io_browser.js';
import './runtime/ort_web.js';

setPlatform({
  resolveModelFiles: resolveModelFilesInBrowser,
  writeFolder: async (dir) => {
    throw new MobileNetV2Error(`cannot write ${dir}: saving and converting models is not supported in the browser (use the Node package)`, { code: 'E_FILE_WRITE' });
  },
});

export * from './core.js';
export { resolveModelFilesInBrowser as resolveModelFiles } from './hub/resolve_browser.js';
export {
  BrowserHubFiles, BrowserUrlFiles, browserModelFiles, type BrowserFetchOptions, type BrowserHubFilesOptions,
} from './hub/browser_files.js';
export { configureOrtWeb, hasWebGpu, preferredExecutionProviders, wasmThreads, type OrtWebOptions } from './runtime/ort_web.js';
export { loadImageInBrowser, type BrowserImageSource } from './processing/image_io_browser.js';

/**
 * Decodes an image given by URL (fetched) or as encoded bytes with the browser's decoder; the
 * image reader of browser pipelines. Other sources (canvases, Blobs…): {@link loadImageInBrowser}.
 */
export async function readImageInBrowser(source: string | Uint8Array): Promise<RawImage> {
  if (typeof source !== 'string') return loadImageInBrowser(source);
  let response: Response;
  try {
    response = await fetch(source);
  } catch (err) {
    throw new MobileNetV2Error(`cannot fetch image ${source}: ${(err as Error).message}`, { code: 'E_FILE_NOT_FOUND', cause: err });
  }
  if (!response.ok) throw new MobileNetV2Error(`cannot fetch image ${source}: HTTP ${response.status}`, { code: 'E_FILE_NOT_FOUND' });
  return loadImageInBrowser(await response.blob(), source);
}

/**
 * Builds a pipeline in the browser, transformers.js style:
 *
 * ```ts
 * const classifier = await pipeline('image-classification', './models/mobilenet_v2_1.0_224_quant');
 * const [best] = await classifier(await loadImageInBrowser(file), { topK: 1 });
 * ```
 *
 * Images may be decoded pixels, URLs or encoded bytes.
 *
 * @param model a URL of a model folder (absolute, or starting with `/`, `./`, `../`), a hub id or ModelFiles.
 * @throws MobileNetV2Error for an unknown task, a missing or unsuitable model.
 */
export async function pipeline<T extends PipelineTask>(task: T, model: string | ModelFiles, options: PipelineOptions = {}): Promise<PipelineOfTask[T]> {
  return createPipeline(task, model, { readImage: readImageInBrowser, ...options });
}
