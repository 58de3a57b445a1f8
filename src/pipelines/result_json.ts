/**
 * The JSON objects of classification, segmentation and embedding results, one home for every
 * program that prints, serves or queues them: `classify --json` / `segment --json` / `embed
 * --format json` (with the file in front), the server's `/v1/classify` and `/v1/segment`, and the
 * results of `mobilenet-v2 worker`. No Node APIs.
 */
import type { ClassificationResult } from './image_classification.js';
import type { SegmentationPrediction } from './image_segmentation.js';

/** `{"predictions":[{"index","label","score"}]}`, best class first. */
export function classificationJson(predictions: readonly ClassificationResult[]): { predictions: Array<Pick<ClassificationResult, 'index' | 'label' | 'score'>> } {
  return { predictions: predictions.map(({ index, label, score }) => ({ index, label, score })) };
}

/** A class's share of the segmented image, in [0, 1]. */
export function segmentFraction(pixels: number, p: SegmentationPrediction): number {
  return pixels / (p.map.width * p.map.height);
}

/** The JSON object of one segmented image. */
export interface SegmentationJson {
  width: number;
  height: number;
  segments: Array<{ index: number; label: string; pixels: number; fraction: number }>;
}

/** `{"width","height","segments":[{"index","label","pixels","fraction"}]}`, classes by index. */
export function segmentationJson(p: SegmentationPrediction): SegmentationJson {
  const segments = p.segments.map(({ index, label, pixels }) => ({ index, label, pixels, fraction: segmentFraction(pixels, p) }));
  return { width: p.map.width, height: p.map.height, segments };
}

/** `{"embedding":[...]}`: one image's embedding as plain numbers. */
export function embeddingJson(vector: Float32Array): { embedding: number[] } {
  return { embedding: Array.from(vector) };
}
