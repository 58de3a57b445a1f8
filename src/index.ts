/**
 * mobilenet-v2 for Node.js: Hugging Face transformers' MobileNetV2 family on ONNX Runtime.
 * Importing this module registers onnxruntime-node and the Node file/hub services.
 */
import './node/setup.js';

export * from './core.js';
export { resolveModelFiles, type ResolveModelFilesOptions } from './hub/resolve_node.js';
export { writeFolder } from './node/write_folder.js';
export { convertTfliteFile } from './convert/tflite/convert_node.js';
export { loadImage, decodeImage, loadSegmentationMap, encodePng, writePng, type ImageSource } from './processing/image_io_node.js';
export { pipeline } from './pipelines/pipeline_node.js';
export { DEFAULT_MODELS, DEFAULT_CLASSIFIER, DEFAULT_SEGMENTER } from './pipelines/default_models_node.js';
export { trainFromFolder, saveTrained, evaluateFolder, evaluateSegmentationFolders, DiskEmbeddingCache, readImageFolder, type FolderTrainOptions, type FolderEvaluateOptions } from './training/index_node.js';
