/**
 * What every pipeline shares: a loaded model and its image processor, turning inputs (decoded
 * pixels, or paths / encoded bytes handed to the environment's image reader) into batches of pixel
 * values. Pipelines are callable objects, as in transformers.js: `await classifier(images)`.
 * No Node APIs: the browser entry point reuses this with its own image reader.
 */
import { check, MobileNetV2Error } from '../errors.js';
import type { AnyMobileNetV2Model } from '../model/modeling_mobilenet_v2.js';
import { isRawImage, toRgb, type RawImage } from '../processing/image.js';
import type { MobileNetV2ImageProcessor } from '../processing/processor.js';
import type { ImageProcessorOptions } from '../processing/processor_config.js';
import type { Float32Tensor } from '../tensor.js';

/** An image a pipeline accepts: decoded pixels, or a path / URL / encoded file bytes for the reader. */
export type PipelineImage = RawImage | string | Uint8Array;

/** Decodes a path, URL or encoded file (PNG, JPEG, …) into pixels; provided by the entry point. */
export type ImageReader = (source: string | Uint8Array) => Promise<RawImage>;

/** Settings every pipeline takes. */
export interface PipelineSettings {
  /** Images per model run (default 8); larger batches use more memory. */
  readonly batchSize?: number;
  /** Decoder for inputs given as paths or bytes (the Node entry point supplies one using sharp). */
  readonly readImage?: ImageReader;
}

/** A batch ready for the model: the RGB images and their pixel values `[B, 3, H, W]`. */
export interface PreparedBatch {
  readonly images: RawImage[];
  readonly pixelValues: Float32Tensor;
}

/** Default number of images per model run. */
export const DEFAULT_BATCH_SIZE = 8;

/**
 * Base of the pipelines. The constructor returns a function object with this class's prototype,
 * so an instance can be called directly (`pipe(images, options)` runs `_call`).
 */
export abstract class Pipeline<Output, Options> {
  // Declared, not initialised: the constructor sets them on the function object it returns.
  /** The loaded model (owned by the pipeline: `dispose` releases it). */
  declare readonly model: AnyMobileNetV2Model;
  /** The model's image processor. */
  declare readonly processor: MobileNetV2ImageProcessor;
  /** Images per model run. */
  declare readonly batchSize: number;
  private declare readonly readImage: ImageReader | undefined;

  constructor(model: AnyMobileNetV2Model, processor: MobileNetV2ImageProcessor, settings: PipelineSettings = {}) {
    const batchSize = settings.batchSize ?? DEFAULT_BATCH_SIZE;
    check(Number.isInteger(batchSize) && batchSize > 0, `batchSize must be a positive integer, got ${batchSize}`);
    const callable = (images: PipelineImage | readonly PipelineImage[], options?: Options) => (callable as unknown as this)._call(images, options);
    Object.setPrototypeOf(callable, new.target.prototype);
    const self = callable as unknown as this;
    Object.assign(self, { model, processor, batchSize, readImage: settings.readImage });
    return self;
  }

  /** Runs the pipeline: one result for one image, an array of results for an array of images. */
  async _call(images: PipelineImage | readonly PipelineImage[], options?: Options): Promise<Output | Output[]> {
    const results: Output[] = [];
    for await (const batch of this.batches(images)) results.push(...(await this.run(batch, options)));
    return Array.isArray(images) ? results : results[0]!;
  }

  /** The inputs, decoded, in batches of `batchSize`. */
  protected async *batches(images: PipelineImage | readonly PipelineImage[]): AsyncGenerator<RawImage[]> {
    const list = Array.isArray(images) ? (images as readonly PipelineImage[]) : [images as PipelineImage];
    for (let start = 0; start < list.length; start += this.batchSize) {
      yield await Promise.all(list.slice(start, start + this.batchSize).map((image, i) => this.loadImage(image, start + i)));
    }
  }

  /** Runs the model on decoded images (any number; one model run), giving one result per image. */
  abstract run(images: readonly RawImage[], options?: Options): Promise<Output[]>;

  /** Releases the model's ONNX Runtime sessions; the pipeline cannot run afterwards. */
  async dispose(): Promise<void> {
    await this.model.dispose();
  }

  /** `await using pipe = await pipeline(...)` disposes the pipeline (and its model) at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** Decodes an input given as a path or bytes. */
  protected async loadImage(image: PipelineImage, position: number): Promise<RawImage> {
    if (isRawImage(image)) return image;
    if (typeof image !== 'string' && !(image instanceof Uint8Array)) {
      throw new MobileNetV2Error(`image ${position}: expected decoded pixels ({data, width, height, channels}), a path or URL, or encoded image bytes`);
    }
    if (!this.readImage) throw new MobileNetV2Error(`image ${position}: this pipeline has no image reader; pass decoded pixels ({data, width, height, channels})`);
    return this.readImage(image);
  }

  /**
   * The processor settings this pipeline changes for its images (none; segmentation resizes whole
   * images instead of cropping). Its own runs and every decode pool that preprocesses for it use them.
   */
  protected preprocessOverrides(): ImageProcessorOptions | undefined {
    return undefined;
  }

  /**
   * What a decode pool (`PreparePool`, `createPreparer`) needs to preprocess images exactly as this
   * pipeline's runs do, so that they look the values up instead of computing them again.
   */
  preprocessing(): { processor: MobileNetV2ImageProcessor; overrides?: ImageProcessorOptions } {
    const overrides = this.preprocessOverrides();
    return { processor: this.processor, ...(overrides ? { overrides } : {}) };
  }

  /**
   * Converts images to RGB (as transformers' `load_image` does) and preprocesses them into one
   * batch with this pipeline's settings ({@link preprocessOverrides}). Images a decode pool
   * preprocessed with the same settings are looked up, not processed again.
   */
  prepare(images: readonly RawImage[]): PreparedBatch {
    check(images.length > 0, 'no images given');
    const rgb = images.map(toRgb);
    return { images: rgb, pixelValues: this.processor.preprocess(rgb, undefined, this.preprocessOverrides()).pixelValues };
  }
}
