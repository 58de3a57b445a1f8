/**
 * The engines the benchmark compares, each behind the same small interface: one `call()` is one
 * timed unit of work (a batch through the model, an image through a pipeline, or a whole
 * end-to-end run). Peers are imported lazily, so each worker process loads only its own engine.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/** Engine names, as they appear in the report. */
export type EngineName =
  | 'ours-fp32' | 'ours-int8' | 'onnxruntime-raw-fp32' | 'onnxruntime-web-wasm' | 'tfjs-wasm'
  | 'transformers-js' | 'transformers-js-pipeline' | 'ours-pipeline' | 'ours-int8-pipeline'
  | 'classify-sequential' | 'classify-pipelined' | 'transformers-js-files';

/** What one worker runs. */
export interface EngineSpec {
  readonly engine: EngineName;
  readonly batch: number;
  readonly size: number;
  readonly threads: number;
  /** Our checkpoint folder. */
  readonly modelDir: string;
  /** The float graph exported from that checkpoint (what the ONNX peers load). */
  readonly onnxPath: string;
  /** transformers.js: its `localModelPath` and the model's folder name there. */
  readonly transformersRoot?: string;
  readonly transformersName?: string;
  /** Pipelines: the photo (decoded once, outside the timing). */
  readonly image?: string;
  /** Images for int8 calibration of a float checkpoint, and for the end-to-end runs. */
  readonly photos: readonly string[];
}

/** A ready engine. */
export interface Engine {
  /** Intra-op threads the engine really runs with. */
  readonly threads: number;
  /** Images one call processes. */
  readonly imagesPerCall: number;
  call(): Promise<void>;
  /** Logits of the fixed input (model-only engines), for the agreement check. */
  logits?(): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** Deterministic pixel values in [-1, 1] (the same in every worker). */
export function benchInput(batch: number, size: number): Float32Array {
  const data = new Float32Array(batch * 3 * size * size);
  let state = 12345;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    data[i] = state / 2 ** 31 - 1;
  }
  return data;
}

const TOP_K = 5;

async function ours(spec: EngineSpec, dtype: 'fp32' | 'int8'): Promise<Engine> {
  const lib = await import('../src/index.js');
  const model = await lib.loadPretrained(spec.modelDir, { threads: spec.threads, dtype });
  if (dtype === 'int8' && !model.quantization) await calibrateOnPhotos(model, spec);
  const input = lib.float32Tensor(benchInput(spec.batch, spec.size), [spec.batch, 3, spec.size, spec.size]);
  return {
    threads: spec.threads,
    imagesPerCall: spec.batch,
    call: async () => void (await model.forward(input)),
    logits: async () => (await model.forward(input)).logits!.data,
    dispose: () => model.dispose(),
  };
}

/** int8 for a float checkpoint: activation ranges from the photos, preprocessed as for inference. */
async function calibrateOnPhotos(model: import('../src/index.js').AnyMobileNetV2Model, spec: EngineSpec): Promise<void> {
  const { loadImageProcessor } = await import('../src/pipelines/pipeline.js');
  const { loadImage, resolveModelFiles } = await import('../src/index.js');
  const processor = await loadImageProcessor(await resolveModelFiles(spec.modelDir));
  const pixelValues = [];
  for (const photo of spec.photos.slice(0, 4)) pixelValues.push(processor.preprocess(await loadImage(photo)).pixelValues);
  await model.calibrate(pixelValues, { source: 'the benchmark photos' });
}

async function onnxruntime(spec: EngineSpec, runtime: 'node' | 'web'): Promise<Engine> {
  const bytes = await readFile(spec.onnxPath);
  const ort = runtime === 'node' ? await import('onnxruntime-node') : await import('onnxruntime-web');
  if (runtime === 'web') ort.env.wasm.numThreads = spec.threads;
  // The library's session settings, and nothing else around the runtime.
  const session = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(runtime === 'node' ? { intraOpNumThreads: spec.threads } : { executionProviders: ['wasm'] }),
  });
  const feeds = { pixel_values: new ort.Tensor('float32', benchInput(spec.batch, spec.size), [spec.batch, 3, spec.size, spec.size]) };
  return {
    threads: spec.threads,
    imagesPerCall: spec.batch,
    call: async () => void (await session.run(feeds)),
    logits: async () => (await session.run(feeds)).logits!.data as Float32Array,
    dispose: () => session.release(),
  };
}

async function tfjsWasm(spec: EngineSpec): Promise<Engine> {
  const tf = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const { compileTfjs } = await import('./tfjs_graph.js');
  // The .wasm binaries ship in the npm package; point the loader at them instead of a CDN.
  wasm.setWasmPaths(`${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  wasm.setThreadsCount(spec.threads);
  await tf.setBackend('wasm');
  await tf.ready();
  const graph = compileTfjs(tf, await readFile(spec.onnxPath), 'logits');
  const input = tf.tensor4d(benchInput(spec.batch, spec.size), [spec.batch, 3, spec.size, spec.size]);
  const run = async (): Promise<Float32Array> => {
    const out = graph.run(input);
    const data = (await out.data()) as Float32Array;
    out.dispose();
    return data;
  };
  return {
    threads: wasm.getThreadsCount(),
    imagesPerCall: spec.batch,
    call: async () => void (await run()),
    logits: run,
    dispose: async () => {
      graph.dispose();
      input.dispose();
    },
  };
}

/** What a transformers.js engine times: the model on a tensor, a decoded photo → top-5, or photo files → top-5. */
type TransformersJsMode = 'model' | 'photo' | 'files';

async function transformersJs(spec: EngineSpec, mode: TransformersJsMode): Promise<Engine> {
  const tjs = await import('@huggingface/transformers');
  tjs.env.localModelPath = spec.transformersRoot!;
  tjs.env.allowRemoteModels = false;
  const options = { dtype: 'fp32', session_options: { intraOpNumThreads: spec.threads } } as const;
  if (mode === 'files') {
    // A folder the transformers.js way: the pipeline reads each file itself (sharp), in batches.
    const classifier = await tjs.pipeline('image-classification', spec.transformersName, options);
    return {
      threads: spec.threads,
      imagesPerCall: spec.photos.length,
      call: async () => {
        for (let i = 0; i < spec.photos.length; i += spec.batch) await classifier(spec.photos.slice(i, i + spec.batch), { top_k: TOP_K });
      },
      dispose: () => classifier.dispose(),
    };
  }
  if (mode === 'photo') {
    const classifier = await tjs.pipeline('image-classification', spec.transformersName, options);
    const image = await tjs.RawImage.read(spec.image!);
    return {
      threads: spec.threads,
      imagesPerCall: 1,
      call: async () => void (await classifier(image, { top_k: TOP_K })),
      dispose: () => classifier.dispose(),
    };
  }
  const model = await tjs.AutoModelForImageClassification.from_pretrained(spec.transformersName!, options);
  const input = new tjs.Tensor('float32', benchInput(spec.batch, spec.size), [spec.batch, 3, spec.size, spec.size]);
  const run = async (): Promise<Float32Array> => (await model({ pixel_values: input })).logits.data as Float32Array;
  return {
    threads: spec.threads,
    imagesPerCall: spec.batch,
    call: async () => void (await run()),
    logits: run,
    dispose: async () => void (await model.dispose()),
  };
}

async function oursPipeline(spec: EngineSpec, dtype: 'fp32' | 'int8'): Promise<Engine> {
  const { pipeline } = await import('../src/pipelines/pipeline_node.js');
  const { loadImage } = await import('../src/index.js');
  const classifier = await pipeline('image-classification', spec.modelDir, { threads: spec.threads, dtype });
  const image = await loadImage(spec.image!);
  return {
    threads: spec.threads,
    imagesPerCall: 1,
    call: async () => void (await classifier(image, { topK: TOP_K })),
    dispose: () => classifier.dispose(),
  };
}

/**
 * Classifying many photo files, from encoded bytes to top-5: either each image decoded,
 * preprocessed and run one after another, or the way `mobilenet-v2 classify` does it (batches of
 * 8, the next batch decoded and preprocessed in the decode workers while the model runs in its
 * worker thread).
 */
async function classifyFiles(spec: EngineSpec, pipelined: boolean): Promise<Engine> {
  const { pipeline } = await import('../src/pipelines/pipeline_node.js');
  const { runBatches } = await import('../src/cli/support/batch_runner.js');
  const { loadImage } = await import('../src/index.js');
  // As the CLI does for several files: the model in a worker thread, so decoding and preprocessing overlap it.
  const classifier = await pipeline('image-classification', spec.modelDir, { threads: spec.threads, worker: pipelined });
  // The decode + preprocess workers beside the model where they pay (not on 2 cores), kept across
  // calls (a call is one folder run).
  const { PreparePool, planThreads, poolPays } = await import('../src/processing/prepare_pool_node.js');
  const { workers } = planThreads(spec.threads);
  const pool = pipelined && poolPays(spec.photos.length, workers) ? new PreparePool({ workers, processor: classifier.processor }) : null;
  const sequential = async (): Promise<void> => {
    for (const photo of spec.photos) await classifier.run([await loadImage(photo)], { topK: TOP_K });
  };
  const batched = async (): Promise<void> => {
    const { failed } = await runBatches({
      files: spec.photos, batchSize: 8, prepare: pool ?? { workers }, run: (images) => classifier.run(images, { topK: TOP_K }), done: () => undefined,
    });
    if (failed) throw new Error(`${failed} photos failed`);
  };
  return {
    threads: spec.threads,
    imagesPerCall: spec.photos.length,
    call: pipelined ? batched : sequential,
    dispose: async () => {
      await pool?.close();
      await classifier.dispose();
    },
  };
}

/** Builds the engine a spec names. */
export function createEngine(spec: EngineSpec): Promise<Engine> {
  switch (spec.engine) {
    case 'ours-fp32': return ours(spec, 'fp32');
    case 'ours-int8': return ours(spec, 'int8');
    case 'onnxruntime-raw-fp32': return onnxruntime(spec, 'node');
    case 'onnxruntime-web-wasm': return onnxruntime(spec, 'web');
    case 'tfjs-wasm': return tfjsWasm(spec);
    case 'transformers-js': return transformersJs(spec, 'model');
    case 'transformers-js-pipeline': return transformersJs(spec, 'photo');
    case 'transformers-js-files': return transformersJs(spec, 'files');
    case 'ours-pipeline': return oursPipeline(spec, 'fp32');
    case 'ours-int8-pipeline': return oursPipeline(spec, 'int8');
    case 'classify-sequential': return classifyFiles(spec, false);
    case 'classify-pipelined': return classifyFiles(spec, true);
  }
}
