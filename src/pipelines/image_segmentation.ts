/** The `image-segmentation` pipeline: per class, its mask, pixel count and mean probability. */
import type { MobileNetV2ForSemanticSegmentation } from '../model/modeling_mobilenet_v2.js';
import type { RawImage } from '../processing/image.js';
import type { ImageProcessorOptions } from '../processing/processor_config.js';
import type { Float32Tensor } from '../tensor.js';
import { Pipeline, type PipelineImage } from './base.js';
import { labelMapFromLogits, type LabelMap } from './segmentation_map.js';

/** A binary mask: 255 where the pixel belongs to the segment, 0 elsewhere (a grey image). */
export interface SegmentMask extends RawImage {
  channels: 1;
}

/** Summary of one class present in an image. */
export interface SegmentSummary {
  /** The model's class index. */
  index: number;
  /** The class name from `id2label`. */
  label: string;
  /**
   * Mean, over the pixels assigned to this class, of the class's softmax probability at the
   * pixel: how confident the model is in this segment (1 = certain everywhere).
   */
  score: number;
  /** Number of pixels assigned to this class. */
  pixels: number;
}

/** One segment as the pipeline returns it (transformers.js shape, plus index and pixel count). */
export interface SegmentationResult extends SegmentSummary {
  /** The segment's mask at the image's size. */
  mask: SegmentMask;
}

/** A segmented image: the class map at the image's size and the classes present in it. */
export interface SegmentationPrediction {
  /** The RGB image that was segmented. */
  image: RawImage;
  /** Class index per pixel and per-class statistics. */
  map: LabelMap;
  /** Classes with at least one pixel, by class index. */
  segments: SegmentSummary[];
}

export interface ImageSegmentationPipeline {
  /** Segments one image. */
  (image: PipelineImage): Promise<SegmentationResult[]>;
  /** Segments several images (one list of segments per image). */
  (images: readonly PipelineImage[]): Promise<SegmentationResult[][]>;
}

/** The binary mask of class `index` in a class map. */
export function segmentMask(map: LabelMap, index: number): SegmentMask {
  const data = new Uint8Array(map.labels.length);
  for (let i = 0; i < data.length; i++) if (map.labels[i] === index) data[i] = 255;
  return { data, width: map.width, height: map.height, channels: 1 };
}

/**
 * Semantic segmentation. Unlike transformers' pipeline, each image is resized whole to the
 * processor's crop size (no centre crop), so the class map covers the entire picture; the logits
 * are then upsampled bilinearly to the image's own size, as `post_process_semantic_segmentation`
 * with `target_sizes` does, and each pixel takes its most probable class.
 */
export class ImageSegmentationPipeline extends Pipeline<SegmentationResult[], never> {
  /** The task name of this pipeline. */
  readonly task = 'image-segmentation';

  /** Segments decoded images in one model run, returning the segments with their masks. */
  async run(images: readonly RawImage[]): Promise<SegmentationResult[][]> {
    return (await this.predict(images)).map(({ map, segments }) => segments.map((s) => ({ ...s, mask: segmentMask(map, s.index) })));
  }

  /** Segments decoded images in one model run, returning each class map (no per-class masks). */
  async predict(images: readonly RawImage[]): Promise<SegmentationPrediction[]> {
    const batch = this.prepare(images);
    const { logits } = await (this.model as MobileNetV2ForSemanticSegmentation).forward(batch.pixelValues);
    return this.predictionsFromLogits(batch.images, logits!);
  }

  /** The processor settings this pipeline changes: the whole image resized to the crop size. */
  protected override preprocessOverrides(): ImageProcessorOptions {
    const crop = this.processor.settings.cropSize;
    return { doCenterCrop: false, size: { height: crop.height, width: crop.width } };
  }

  /**
   * Class maps of RGB images from their `[B, N, h, w]` logits (from this pipeline's model, run
   * elsewhere: the server batches requests into one `forward`).
   */
  predictionsFromLogits(images: readonly RawImage[], logits: Float32Tensor): SegmentationPrediction[] {
    const [, n, h, w] = logits.shape as [number, number, number, number];
    return images.map((image, b) => {
      const map = labelMapFromLogits(logits.data.subarray(b * n * h * w, (b + 1) * n * h * w), n, h, w, image.height, image.width);
      const segments: SegmentSummary[] = [];
      for (let index = 0; index < n; index++) {
        const pixels = map.pixels[index]!;
        if (pixels === 0) continue;
        const label = this.model.config.id2label[index] ?? `LABEL_${index}`;
        segments.push({ index, label, score: map.probabilitySums[index]! / pixels, pixels });
      }
      return { image, map, segments };
    });
  }
}
