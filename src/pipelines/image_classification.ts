/** The `image-classification` pipeline: top-k labels and scores per image. */
import { check } from '../errors.js';
import { softmaxRows } from '../model/functional.js';
import { MobileNetV2ForImageClassification } from '../model/modeling_mobilenet_v2.js';
import type { RawImage } from '../processing/image.js';
import type { Float32Tensor } from '../tensor.js';
import { Pipeline, type PipelineImage } from './base.js';

/** One predicted class. */
export interface ClassificationResult {
  /** The class name from the model's `id2label`. */
  label: string;
  /** Softmax probability (sigmoid for multi-label and regression models). */
  score: number;
  /** The model's class index (for ImageNet checkpoints with 1001 classes, 0 is "background"). */
  index: number;
}

/** Options of one classification call. */
export interface ImageClassificationOptions {
  /** Number of classes to return per image, best first (default 5; capped at the number of labels). */
  topK?: number;
}

/** Default number of classes returned per image. */
export const DEFAULT_TOP_K = 5;

/** Sigmoid of each value. */
function sigmoid(values: Float32Array): Float32Array {
  return values.map((v) => 1 / (1 + Math.exp(-v)));
}

/** The `topK` largest scores of one row, best first (ties: lower index first). */
export function topK(scores: Float32Array, k: number, id2label: Readonly<Record<number, string>>): ClassificationResult[] {
  const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order.slice(0, k).map((index) => ({ label: id2label[index] ?? `LABEL_${index}`, score: scores[index]!, index }));
}

export interface ImageClassificationPipeline {
  /** Classifies one image. */
  (image: PipelineImage, options?: ImageClassificationOptions): Promise<ClassificationResult[]>;
  /** Classifies several images (one list of results per image). */
  (images: readonly PipelineImage[], options?: ImageClassificationOptions): Promise<ClassificationResult[][]>;
}

/**
 * Classifies images as transformers' `ImageClassificationPipeline` does: the processor's resize and
 * centre crop, the model's logits, softmax — or sigmoid when the model is multi-label
 * (`problem_type`) or has a single output — then the `topK` best classes.
 */
export class ImageClassificationPipeline extends Pipeline<ClassificationResult[], ImageClassificationOptions> {
  /** The task name of this pipeline. */
  readonly task = 'image-classification';

  /** Classifies decoded images in one model run. */
  async run(images: readonly RawImage[], options: ImageClassificationOptions = {}): Promise<ClassificationResult[][]> {
    const { logits } = await (this.model as MobileNetV2ForImageClassification).forward(this.prepare(images).pixelValues);
    return this.classesFromLogits(logits!, options);
  }

  /**
   * The best classes of each row of `[B, N]` logits (from this pipeline's model, run elsewhere:
   * the server batches requests into one `forward`).
   */
  classesFromLogits(logits: Float32Tensor, options: ImageClassificationOptions = {}): ClassificationResult[][] {
    const k = options.topK ?? DEFAULT_TOP_K;
    check(Number.isInteger(k) && k > 0, `topK must be a positive integer, got ${k}`);
    const [batch, n] = logits.shape as [number, number];
    const config = this.model.config;
    const multiLabel = config.problemType === 'multi_label_classification' || n === 1;
    const scores = multiLabel ? sigmoid(logits.data) : softmaxRows(logits.data, n);
    return Array.from({ length: batch }, (_, b) => topK(scores.subarray(b * n, (b + 1) * n), k, config.id2label));
  }
}
