/**
 * The Node side of the browser test: the same pipelines on onnxruntime-node, with the images decoded
 * by the Node image reader, so the page's numbers have something to equal.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { ClassificationResult } from '../../src/pipelines/image_classification.js';
import type { ImageClassificationPipeline } from '../../src/pipelines/image_classification.js';
import type { ImageSegmentationPipeline } from '../../src/pipelines/image_segmentation.js';
import { pipeline } from '../../src/pipelines/pipeline_node.js';
import type { RawImage } from '../../src/processing/image.js';
import { loadImage } from '../../src/processing/image_io_node.js';
import { REPO_ROOT } from '../helpers.js';

/** What Node finds in one image (the page's `DemoResult` has the same fields). */
export interface NodeResult {
  pixelsSha256: string;
  classes: ClassificationResult[];
  /** Pixels of each class present / all pixels, by label. */
  shares: Map<string, number>;
}

/** Mean milliseconds per image of each pipeline. */
export interface Speed {
  classifyMs: number;
  segmentMs: number;
}

/** The built-in models' pipelines on onnxruntime-node. */
export class NodeReference {
  private constructor(
    private readonly classifier: ImageClassificationPipeline,
    private readonly segmenter: ImageSegmentationPipeline,
  ) {}

  /** Loads the models of the package's `models/` folder. */
  static async load(): Promise<NodeReference> {
    const models = resolve(REPO_ROOT, 'models');
    return new NodeReference(
      await pipeline('image-classification', resolve(models, 'mobilenet_v2_1.0_224_quant')),
      await pipeline('image-segmentation', resolve(models, 'deeplabv3_mnv2_pascal_quant')),
    );
  }

  /** Classifies and segments the image file at `path`. */
  async analyse(path: string): Promise<NodeResult & { image: RawImage }> {
    const image = await loadImage(path);
    const classes = await this.classifier(image, { topK: 5 });
    const [prediction] = await this.segmenter.predict([image]);
    const total = image.width * image.height;
    return {
      image,
      pixelsSha256: createHash('sha256').update(image.data).digest('hex'),
      classes,
      shares: new Map(prediction!.segments.map((s) => [s.label, s.pixels / total])),
    };
  }

  /** Mean milliseconds per image over `runs` calls of each pipeline (after one warm-up call). */
  async benchmark(image: RawImage, runs: { classify: number; segment: number }): Promise<Speed> {
    const mean = async (count: number, action: () => Promise<unknown>) => {
      await action();
      const start = performance.now();
      for (let i = 0; i < count; i++) await action();
      return (performance.now() - start) / count;
    };
    return {
      classifyMs: await mean(runs.classify, () => this.classifier(image, { topK: 5 })),
      segmentMs: await mean(runs.segment, () => this.segmenter.predict([image])),
    };
  }

  async dispose(): Promise<void> {
    await this.classifier.dispose();
    await this.segmenter.dispose();
  }
}
