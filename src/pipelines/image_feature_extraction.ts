/** The `image-feature-extraction` pipeline: one embedding per image, or a chosen block's features. */
import { check } from '../errors.js';
import { MobileNetV2ForSemanticSegmentation } from '../model/modeling_mobilenet_v2.js';
import type { RawImage } from '../processing/image.js';
import { concatFirstAxis, float32Tensor, type Float32Tensor } from '../tensor.js';
import { Pipeline, type PipelineImage } from './base.js';

/** Options of one feature-extraction call. */
export interface ImageFeatureExtractionOptions {
  /**
   * Average over the spatial positions, giving `[B, C]` (default true); false keeps the feature
   * map `[B, C, H, W]`.
   */
  pool?: boolean;
  /**
   * Take the output of block `outIndex` (0..15, see `model.featureInfo()`) instead of the last
   * layer (`conv_1x1`, 1280 channels at width 1.0; block 15 for a segmentation model, whose
   * `conv_1x1` is unused).
   */
  outIndex?: number;
}

export interface ImageFeatureExtractionPipeline {
  /** Features of one or more images, batched along the first axis: `[B, C]` or `[B, C, H, W]`. */
  (images: PipelineImage | readonly PipelineImage[], options?: ImageFeatureExtractionOptions): Promise<Float32Tensor>;
}

/** Spatial mean of each channel: `[B, C, H, W]` → `[B, C]`. */
export function globalAveragePool(x: Float32Tensor): Float32Tensor {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const plane = h * w;
  const out = new Float32Array(b * c);
  for (let i = 0; i < b * c; i++) {
    let sum = 0;
    for (let p = 0; p < plane; p++) sum += x.data[i * plane + p]!;
    out[i] = sum / plane;
  }
  return float32Tensor(out, [b, c]);
}

/**
 * Image embeddings from any MobileNetV2 checkpoint (bare, classifier or segmenter). The default is
 * the pooled last layer, transformers' `pooler_output`; `outIndex` stops the backbone after that
 * block, so later blocks are never computed.
 */
export class ImageFeatureExtractionPipeline extends Pipeline<Float32Tensor, ImageFeatureExtractionOptions> {
  /** The task name of this pipeline. */
  readonly task = 'image-feature-extraction';

  /** Features of all images as one tensor, whatever the batch size. */
  override async _call(images: PipelineImage | readonly PipelineImage[], options?: ImageFeatureExtractionOptions): Promise<Float32Tensor> {
    const parts: Float32Tensor[] = [];
    for await (const batch of this.batches(images)) parts.push(await this.features(batch, options));
    return concatFirstAxis(parts);
  }

  /** Features of decoded images in one model run: one `[1, …]` tensor per image. */
  async run(images: readonly RawImage[], options?: ImageFeatureExtractionOptions): Promise<Float32Tensor[]> {
    const features = await this.features(images, options);
    const size = features.data.length / images.length;
    return images.map((_, i) => float32Tensor(features.data.slice(i * size, (i + 1) * size), [1, ...features.shape.slice(1)]));
  }

  /** Features of decoded images in one model run, batched: `[B, C]` or `[B, C, H, W]`. */
  async features(images: readonly RawImage[], options: ImageFeatureExtractionOptions = {}): Promise<Float32Tensor> {
    const pool = options.pool ?? true;
    const { pixelValues } = this.prepare(images);
    const isSegmenter = this.model instanceof MobileNetV2ForSemanticSegmentation;
    const outIndex = options.outIndex ?? (isSegmenter ? 15 : undefined);
    if (outIndex !== undefined) {
      check(Number.isInteger(outIndex) && outIndex >= 0 && outIndex < 16, `outIndex must be a block index 0..15, got ${outIndex}`);
      const [map] = await this.model.features(pixelValues, [outIndex]);
      return pool ? globalAveragePool(map!) : map!;
    }
    const out = await this.model.forward(pixelValues);
    return pool ? out.poolerOutput! : out.lastHiddenState!;
  }
}
