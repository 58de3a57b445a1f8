/** The platform-independent public API, shared by the Node and browser entry points. */
export { MobileNetV2Error, ERROR_CODES, type MobileNetV2ErrorCode, type MobileNetV2ErrorOptions } from './errors.js';
export { LIMITS } from './config/limits.js';
export { numel, float32Tensor, type DType, type Tensor, type Float32Tensor } from './tensor.js';
export {
  MobileNetV2Config, type MobileNetV2ConfigInit, type ProblemType, type HiddenAct, type Architecture,
} from './config/configuration_mobilenet_v2.js';
export { makeDivisible, applyDepthMultiplier, backbonePlan, type BackbonePlan, type BlockSpec } from './config/channels.js';
export {
  MobileNetV2PreTrainedModel, MobileNetV2Model, MobileNetV2ForImageClassification, MobileNetV2ForSemanticSegmentation,
  loadPretrained, type AnyMobileNetV2Model, type LoadOptions, type ForwardOptions, type ModelOutput, type FeatureInfo,
} from './model/modeling_mobilenet_v2.js';
export { effectiveProblemType } from './model/losses.js';
export { setLogger, type Logger } from './model/logging.js';
export type { Pooling, GraphRequest } from './model/graph.js';
export type { StateDict, LoadReport } from './model/loading.js';
export { interpolateBilinear, softmaxRows } from './model/functional.js';
export { postProcessSemanticSegmentation } from './model/post_processing.js';
export type { ModelFiles, DownloadProgress, DownloadProgressCallback } from './hub/model_files.js';
export type { HubOptions } from './platform.js';
export type { SessionOptions } from './runtime/ort.js';
export { parseSafetensors, serializeSafetensors } from './weights/safetensors.js';
export { parseTorchCheckpoint } from './weights/pytorch.js';
export {
  importTflite, checkpointFiles, type TfliteImport,
} from './convert/tflite/importer.js';
export {
  readQuantizationRecord, QUANTIZATION_METADATA_KEY, type QuantizationRecord, type QuantParams, type ActivationQuant,
} from './quantization/record.js';
export {
  MobileNetV2ImageProcessor, MobileNetV2FeatureExtractor, resizeOutputSize,
  type ProcessorImage, type SegmentationMapInput,
} from './processing/processor.js';
export { Resample, pilResize, type ResampleCode } from './processing/pil_resample.js';
export type { ImageProcessorOptions, ImageProcessorSettings } from './processing/processor_config.js';
export { toRgb, type RawImage } from './processing/image.js';
export {
  DEFAULT_MAX_IMAGE_PIXELS,
  MAX_IMAGE_PIXELS_ENV,
  maxImagePixels,
  setMaxImagePixels,
  type ImageLimitOptions,
  type ImageReadOptions,
} from './processing/pixel_limit.js';
export {
  createPipeline, loadImageProcessor, PIPELINE_TASKS, type PipelineTask, type PipelineOfTask, type PipelineOptions,
} from './pipelines/pipeline.js';
export { Pipeline, DEFAULT_BATCH_SIZE, type PipelineImage, type ImageReader, type PipelineSettings } from './pipelines/base.js';
export {
  ImageClassificationPipeline, DEFAULT_TOP_K, type ClassificationResult, type ImageClassificationOptions,
} from './pipelines/image_classification.js';
export {
  ImageSegmentationPipeline, segmentMask, type SegmentationResult, type SegmentSummary, type SegmentMask, type SegmentationPrediction,
} from './pipelines/image_segmentation.js';
export { ImageFeatureExtractionPipeline, globalAveragePool, type ImageFeatureExtractionOptions } from './pipelines/image_feature_extraction.js';
export { labelMapFromLogits, type LabelMap } from './pipelines/segmentation_map.js';
export { pascalVocPalette, overlayPalette, overlayLabelMap, type Rgb } from './pipelines/palette.js';
export { countMacs, type MacCount, type LayerCost } from './model/model_summary.js';
export * from './training/index.js';
