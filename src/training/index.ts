/** The platform-independent training API (re-exported by `core.ts`). */
export { trainClassifier, trainedFiles, DEFAULT_VALIDATION_SPLIT, type TrainOptions, type TrainResult, type TrainingDataset, type TrainingReport, type TrainingMethod } from './train.js';
export { evaluate, evaluateSegmentation, type EvaluateOptions, type SegmentationSample } from './evaluate.js';
export { stratifiedSplit, classNamesOf, type LabeledImage } from './dataset.js';
export { MemoryEmbeddingCache, embedDataset, type EmbeddingCache, type EmbedOptions, type ImageAccess } from './embeddings.js';
export { HEAD_DEFAULTS, trainHead, type HeadOptions, type EpochLog, type Schedule } from './head.js';
export { parseKnnIndex, knnScores, KNN_INDEX_FILE, type KnnIndex } from './knn.js';
export type { EvaluationResult, SegmentationEvaluation, ClassAccuracy, ClassIou } from './metrics.js';
