/**
 * The models a server runs: the classifier (for /v1/classify, /v1/embed and v2 infer) and the
 * segmenter (/v1/segment, v2 infer), each a pipeline whose model runs in an ONNX Runtime worker
 * thread, with its own pool of decode workers that also preprocess with the pipeline's settings
 * (so neither decoding nor preprocessing blocks the event loop or the model) and its own
 * {@link Batcher}.
 */
import { basename } from 'node:path';
import { MobileNetV2Error } from '../errors.js';
import type { ModelOutput } from '../model/modeling_mobilenet_v2.js';
import type { PreparedBatch } from '../pipelines/base.js';
import { DEFAULT_MODELS } from '../pipelines/default_models_node.js';
import type { ImageClassificationPipeline } from '../pipelines/image_classification.js';
import type { ImageSegmentationPipeline } from '../pipelines/image_segmentation.js';
import { pipeline } from '../pipelines/pipeline_node.js';
import { planThreads, PreparePool } from '../processing/prepare_pool_node.js';
import type { ModelDType } from '../runtime/ort.js';
import { float32Tensor, type Float32Tensor } from '../tensor.js';
import { Batcher, untilAborted, type BatchOutputs } from './batcher.js';
import { modelMetadata, type V2ModelMetadata } from './v2_protocol.js';

/**
 * How long an idle decode worker lives. The CLI's pools end theirs after 2 s; a server's next
 * request would then wait for a worker to start (100–300 ms measured on the loaded 2-core machine).
 */
const DECODE_WORKER_IDLE_MS = 10 * 60_000;

/** Which models to serve and how to run them. */
export interface ServedModelOptions {
  /** Classifier folder or hub id (default: the built-in one). */
  readonly model?: string;
  /** Hub revision of `model`. */
  readonly revision?: string;
  /** Segmenter folder or hub id (default: the built-in DeepLabV3). */
  readonly segmentationModel?: string;
  readonly dtype?: ModelDType;
  /** ONNX Runtime intra-op threads per model (default: {@link planThreads}'s). */
  readonly threads?: number;
  /** Decode workers per model (default: {@link planThreads}'s). */
  readonly workers?: number;
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  /** Told of every model run (for metrics). */
  readonly onBatch?: (model: string, rows: number, ms: number) => void;
}

/** The models of a running server. */
export interface ServedModels {
  readonly classifier: ServedModel<ImageClassificationPipeline>;
  readonly segmenter: ServedModel<ImageSegmentationPipeline>;
}

/** Any served model. */
export type AnyServedModel = ServedModel<ImageClassificationPipeline | ImageSegmentationPipeline>;

/** The served models as a list. */
export function servedList(models: ServedModels): AnyServedModel[] {
  return [models.classifier, models.segmenter];
}

/** The v2 outputs of a model run (transformers' names). */
function v2Outputs(out: ModelOutput): BatchOutputs {
  return {
    ...(out.logits ? { logits: out.logits } : {}),
    ...(out.poolerOutput ? { pooler_output: out.poolerOutput } : {}),
  };
}

/** One served model: its pipeline, decode pool and batcher. */
export class ServedModel<P extends ImageClassificationPipeline | ImageSegmentationPipeline> {
  readonly batcher: Batcher;
  private readonly pool: PreparePool;
  private meta: V2ModelMetadata | undefined;
  /** Images in the decode workers: the batcher waits for them. */
  private preparing = 0;

  /**
   * @param name the model's name in the v2 routes and metrics.
   * @param loadSeconds time to load it (warm-up included once {@link ServedModel.warmUp} ran).
   */
  constructor(readonly name: string, readonly pipeline: P, public loadSeconds: number, options: ServedModelOptions) {
    this.pool = new PreparePool({ workers: options.workers, idleTimeoutMs: DECODE_WORKER_IDLE_MS, ...pipeline.preprocessing() });
    this.batcher = new Batcher(async (input) => v2Outputs(await this.pipeline.model.forward(input)), {
      maxBatch: options.maxBatch, maxDelayMs: options.maxDelayMs, onBatch: (rows, ms) => options.onBatch?.(name, rows, ms), coming: () => this.preparing,
    });
  }

  /** v2 metadata (known after {@link ServedModel.warmUp}). */
  get metadata(): V2ModelMetadata {
    if (!this.meta) throw new MobileNetV2Error(`model ${this.name} is not warmed up yet`, { code: 'E_UNAVAILABLE' });
    return this.meta;
  }

  /** Input channels. */
  get channels(): number {
    return this.pipeline.model.config.numChannels;
  }

  /**
   * Decodes and preprocesses encoded image bytes in a decode worker: the RGB image and its
   * `[1, C, H, W]` pixel values, exactly as the pipeline would make them.
   *
   * @throws MobileNetV2Error for a bad image (E_IMAGE_DECODE, E_IMAGE_TOO_LARGE); the signal's
   *   reason when it aborts first.
   */
  async prepare(bytes: Uint8Array, name: string, signal: AbortSignal): Promise<PreparedBatch> {
    this.preparing++;
    try {
      const image = await untilAborted(this.pool.load(bytes, name), signal);
      return this.pipeline.prepare([image]);
    } finally {
      this.preparing--;
    }
  }

  /** Runs `[N, C, H, W]` pixel values in the next batch: the request's rows of `logits` (and `pooler_output`). */
  infer(pixelValues: Float32Tensor, signal: AbortSignal): Promise<BatchOutputs> {
    return this.batcher.submit(pixelValues, signal);
  }

  /** Runs the model once on a blank image at the processor's size (the first run builds the session), recording its outputs' shapes. */
  async warmUp(): Promise<void> {
    const started = performance.now();
    const { height, width } = this.pipeline.processor.settings.cropSize;
    const outputs = v2Outputs(await this.pipeline.model.forward(float32Tensor(new Float32Array(this.channels * height * width), [1, this.channels, height, width])));
    this.meta = modelMetadata(this.name, this.channels, outputs);
    this.loadSeconds += (performance.now() - started) / 1000;
  }

  /** Ends the decode workers and releases the model. */
  async close(): Promise<void> {
    await this.pool.close();
    await this.pipeline.dispose();
  }
}

/** A model's name in the routes: the last part of its folder or hub id. */
function nameOf(model: string): string {
  return basename(model.replace(/[/\\]+$/, ''));
}

/**
 * Loads and warms up the classifier and the segmenter (in parallel).
 *
 * @throws MobileNetV2Error as `pipeline()` does, or when both models would get the same name.
 */
export async function loadServedModels(options: ServedModelOptions): Promise<ServedModels> {
  const { modelThreads, workers } = planThreads(options.threads);
  const settings = { ...options, workers: options.workers ?? workers };
  const load = async <T extends 'image-classification' | 'image-segmentation'>(task: T, model: string | undefined, revision?: string) => {
    const started = performance.now();
    const pipe = await pipeline(task, model, {
      worker: true, threads: modelThreads,
      ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
      ...(revision !== undefined ? { revision } : {}),
    });
    const served = new ServedModel(nameOf(model ?? DEFAULT_MODELS[task]), pipe, (performance.now() - started) / 1000, settings);
    await served.warmUp();
    return served;
  };
  const loaded = await Promise.allSettled([
    load('image-classification', options.model, options.revision),
    load('image-segmentation', options.segmentationModel),
  ]);
  const [classifier, segmenter] = loaded.map((r) => (r.status === 'fulfilled' ? r.value : null));
  const failed = loaded.find((r) => r.status === 'rejected');
  if (failed || classifier!.name === segmenter!.name) {
    await Promise.all([classifier?.close(), segmenter?.close()]);
    throw failed ? failed.reason : new MobileNetV2Error(`the classifier and the segmenter would both be called ${classifier!.name}; serve models from folders of different names`);
  }
  return { classifier: classifier as ServedModel<ImageClassificationPipeline>, segmenter: segmenter as ServedModel<ImageSegmentationPipeline> };
}
