/**
 * The machinery every MobileNetV2 model class shares (transformers' `PreTrainedModel`): loading a
 * checkpoint, saving, ONNX Runtime sessions, the compiled-graph cache and int8 calibration. A model
 * holds its config and its weights (checked when loaded, read when first needed); each distinct
 * request (which outputs, which pooling, which precision) is compiled once into an ONNX graph and
 * an inference session, reused for every batch and image size. In Node, compiled graphs of
 * checkpoints loaded from files are kept in a cache on disk, so a later process starts without
 * rebuilding them. The network itself is in graph.ts; the model classes in modeling_mobilenet_v2.ts.
 */
import type { InferenceSession } from 'onnxruntime-common';
import type { Architecture, MobileNetV2Config, ProblemType } from '../config/configuration_mobilenet_v2.js';
import { LIMITS } from '../config/limits.js';
import { check, MobileNetV2Error } from '../errors.js';
import type { ModelFiles } from '../hub/model_files.js';
import { encodeModel } from '../onnx/proto.js';
import { findPlatform, getPlatform, type HubOptions } from '../platform.js';
import { calibrate, type CalibrationMethod } from '../quantization/calibrate.js';
import { quantizeGraph, type QdqOptions } from '../quantization/qdq_graph.js';
import { restoreQuantizedWeights } from '../quantization/grid.js';
import { QUANTIZATION_METADATA_KEY, readQuantizationRecord, type QuantizationRecord } from '../quantization/record.js';
import { createSession, getOrtModule, type ModelDType, type SessionOptions } from '../runtime/ort.js';
import { formatShape, numel, type Float32Tensor, type Tensor } from '../tensor.js';
import { backboneLayers, parameterSpecs } from './architecture.js';
import { buildGraph, OUTPUT, type BuiltGraph, type GraphRequest, type Pooling } from './graph.js';
import { isBuffer } from './layers.js';
import { checkCheckpoint, loadStateDict, type LoadReport, type StateDict } from './loading.js';
import { warnAboutLoadReport } from './logging.js';
import { openCheckpoint, type OpenCheckpoint } from './pretrained.js';
import { pretrainedFiles, type SaveOptions } from './saving.js';

/** Options of `fromPretrained`: where to find the files and how to run them. */
export interface LoadOptions extends HubOptions, SessionOptions {
  /**
   * Print transformers' warnings about newly initialised and unused weights (default true; see
   * `setLogger` to redirect or silence them everywhere).
   */
  readonly warnings?: boolean;
}

/** Per-call options of `forward`. */
export interface ForwardOptions {
  /** Targets for the loss: `[B]` int64 / `[B, N]` float (classification) or `[B, H, W]` int64 (segmentation). */
  readonly labels?: Tensor;
  /** Return the 16 block outputs (default: the config's `output_hidden_states`). */
  readonly outputHiddenStates?: boolean;
  /** Overrides `config.problem_type` for this call only. */
  readonly problemType?: ProblemType;
  /** Classifier pooling: transformers' adaptive 1×1 (default) or TF-slim's fixed 7×7. */
  readonly pooling?: Pooling;
  /** Segmentation only: also return the head's intermediates in `debug`. */
  readonly debug?: boolean;
}

/** What `forward` returns; which fields are set depends on the model class and options. */
export interface ModelOutput {
  /** Class scores `[B, N]` or segmentation logits `[B, N, H/os, W/os]`. */
  logits?: Float32Tensor;
  /** Output of `conv_1x1` `[B, C, H/32, W/32]` (bare and classification models). */
  lastHiddenState?: Float32Tensor;
  /** Pooled features `[B, C]` (bare and classification models). */
  poolerOutput?: Float32Tensor;
  /** Outputs of blocks 0..15 when requested. */
  hiddenStates?: Float32Tensor[];
  /** Mean loss when labels were given. */
  loss?: number;
  /** Head intermediates (segmentation with `debug`), keyed as in the reference fixtures. */
  debug?: Record<string, Float32Tensor>;
}

/** Channels and total stride of one block's output, for feature extraction (timm's `feature_info`). */
export interface FeatureInfo {
  /** Block index (0..15), usable in `outIndices`. */
  readonly index: number;
  /** Module name, e.g. `layer.3`. */
  readonly module: string;
  /** Output channels. */
  readonly channels: number;
  /** Input size / output size. */
  readonly reduction: number;
}

/**
 * A model's parameters: what loading found now, the complete state dict when first needed (a
 * checkpoint file's tensor data is read only then).
 */
export interface Weights {
  /** Missing (freshly initialised) and unexpected checkpoint keys. */
  readonly report: LoadReport;
  /** Identity of the checkpoint's contents (keys the compiled-graph cache); null for in-memory weights. */
  readonly fingerprint: string | null;
  /** The complete, normalised state dict. */
  load(): Promise<StateDict>;
}

/**
 * Bump when the graph builder's output changes for the same inputs, so that no compiled graph of
 * an older version is reused (the Node cache also keys on the library's own code).
 */
const GRAPH_FORMAT = 1;

/** A model class: its constructor plus the architecture name it loads. */
export type ModelClass<T> = {
  new (config: MobileNetV2Config, weights: Weights, options: SessionOptions, metadata: Record<string, string>): T;
  readonly architecture: Architecture;
};

/** Base class: loading, saving, sessions and the shared forward machinery. */
export abstract class MobileNetV2PreTrainedModel {
  /** The transformers class name this model implements. */
  static readonly architecture: Architecture;
  private readonly sessions = new Map<string, Promise<InferenceSession>>();
  private stateDictPromise: Promise<StateDict> | null = null;
  private disposed = false;

  /** Use `fromPretrained`, `fromStateDict` or `fromConfig`. */
  constructor(
    /** The model's configuration. */
    readonly config: MobileNetV2Config,
    private readonly weights: Weights,
    /** ONNX Runtime settings of the sessions this model creates. */
    readonly sessionOptions: SessionOptions = {},
    /** safetensors `__metadata__` carried from the checkpoint (e.g. quantization records). */
    readonly checkpointMetadata: Record<string, string> = {},
  ) {}

  /** Missing (freshly initialised) and unexpected checkpoint keys, as transformers' `loading_info`. */
  get loadReport(): LoadReport {
    return this.weights.report;
  }

  /**
   * Every parameter, float32 (and int64 `num_batches_tracked`), keyed as transformers does. Read
   * from the checkpoint on first use.
   */
  async getStateDict(): Promise<StateDict> {
    if (!this.stateDictPromise) {
      this.stateDictPromise = this.weights.load();
      this.stateDictPromise.catch(() => (this.stateDictPromise = null)); // a failed read may be retried
    }
    return this.stateDictPromise;
  }

  /** The transformers class name of this model. */
  get architecture(): Architecture {
    return (this.constructor as unknown as ModelClass<this>).architecture;
  }

  /**
   * Loads a model from a folder, a hub id (`google/mobilenet_v2_1.0_224`) or any {@link ModelFiles},
   * the way transformers' `from_pretrained` does (prefix handling, fresh heads, shape checks).
   */
  static async fromPretrained<T extends MobileNetV2PreTrainedModel>(this: ModelClass<T>, source: string | ModelFiles, options: LoadOptions = {}): Promise<T> {
    return instantiatePretrained(this, await openPretrained(source, options), options);
  }

  /** Builds a model from a config and an in-memory checkpoint (any dtype, any class's key layout). */
  static fromStateDict<T extends MobileNetV2PreTrainedModel>(
    this: ModelClass<T>, config: MobileNetV2Config, checkpoint: StateDict, options: SessionOptions = {}, metadata: Record<string, string> = {},
  ): T {
    return instantiate(this, config, inMemory(config, this.architecture, checkpoint, 'state dict'), options, metadata);
  }

  /** A freshly initialised model, as transformers' `Model(config)` (normal(0, initializer_range) weights). */
  static fromConfig<T extends MobileNetV2PreTrainedModel>(this: ModelClass<T>, config: MobileNetV2Config, options: SessionOptions = {}): T {
    return instantiate(this, config, inMemory(config, this.architecture, new Map(), null), options, {});
  }

  /** Channels and stride of each block's output (for `outIndices`). */
  featureInfo(): FeatureInfo[] {
    return backboneLayers(this.config).plan.blocks.map((b) => ({
      index: b.index, module: `layer.${b.index}`, channels: b.outChannels, reduction: b.reduction,
    }));
  }

  /**
   * Only the requested block outputs (timm's `features_only` with `out_indices`); the backbone
   * stops after the last one, so later blocks and the head are never computed.
   */
  async features(pixelValues: Float32Tensor, outIndices: readonly number[]): Promise<Float32Tensor[]> {
    for (const i of outIndices) check(Number.isInteger(i) && i >= 0 && i < 16, `outIndices entry ${i} is not a block index 0..15`);
    const out = await this.run(pixelValues, { head: false, hiddenStates: [...new Set(outIndices)].sort((a, b) => a - b) });
    return outIndices.map((i) => this.outputOf(out, OUTPUT.hiddenState(i)));
  }

  /**
   * The ONNX graph for a request, e.g. to run in another runtime (`export-onnx`): float32, or for
   * `int8` the integer QDQ graph (see {@link quantization}); `options.signedWeights` stores its
   * weights as int8, exact only on CPUs with VNNI (the default uint8 is exact on every CPU).
   */
  async exportOnnx(request: Partial<GraphRequest> = {}, dtype: ModelDType = this.sessionOptions.dtype ?? 'fp32', options: QdqOptions = {}): Promise<Uint8Array> {
    const { model, quantization } = await this.buildFloatGraph(this.fullRequest(request));
    if (dtype === 'fp32') return encodeModel(model);
    const record = this.quantization;
    if (!record) {
      throw new MobileNetV2Error(
        'int8 needs quantization parameters and this checkpoint has none (only models converted from quantized TFLite files carry them): ' +
          'calibrate it first on a few representative images (model.calibrate(pixelValues) in the API; ' +
          'for an integer ONNX file: mobilenet-v2 export-onnx --dtype int8 --calibrate <images>)',
      );
    }
    return encodeModel(quantizeGraph(model, quantization, record, options));
  }

  /** The float network for `request`, from the state dict (read on first use). */
  private async buildFloatGraph(request: GraphRequest): Promise<BuiltGraph> {
    const stateDict = await this.getStateDict();
    const weights = (key: string): Float32Array => {
      const t = stateDict.get(key);
      if (!t || t.dtype !== 'float32') throw new MobileNetV2Error(`weight "${key}" missing from the state dict`, { code: 'E_INTERNAL' });
      return t.data as Float32Array;
    };
    return buildGraph(this.config, weights, request);
  }

  /**
   * Scales and zero points of the integer graph: those of the quantized TFLite file the checkpoint
   * was converted from, or those {@link calibrate} measured; undefined for a plain float checkpoint.
   */
  get quantization(): QuantizationRecord | undefined {
    return readQuantizationRecord(this.checkpointMetadata, 'checkpoint metadata');
  }

  /**
   * Measures int8 activation ranges on representative pixel values (a few preprocessed photos,
   * `[B, C, H, W]` each) and keeps them in the checkpoint metadata, so that `dtype: 'int8'` runs
   * and `savePretrained` stores them. Replaces any previous quantization.
   */
  async calibrate(
    pixelValues: readonly Float32Tensor[], options: { method?: CalibrationMethod; source?: string } = {},
  ): Promise<QuantizationRecord> {
    for (const batch of pixelValues) checkPixelValues(batch, this.config.numChannels);
    const { model, quantization } = await this.buildFloatGraph(this.fullRequest({}));
    const source = options.source ?? `${pixelValues.length} batch${pixelValues.length === 1 ? '' : 'es'}`;
    const record = await calibrate(model, quantization, pixelValues, source, { method: options.method, session: this.sessionOptions });
    this.checkpointMetadata[QUANTIZATION_METADATA_KEY] = JSON.stringify(record);
    // Integer sessions built from the previous ranges are stale.
    if (this.sessionOptions.dtype === 'int8') await this.releaseSessions();
    return record;
  }

  /** Number of trainable parameters (BatchNorm running statistics excluded), as transformers' `num_parameters()`. */
  numParameters(): number {
    return parameterSpecs(this.config, this.architecture).filter((p) => !isBuffer(p.key)).reduce((n, p) => n + numel(p.shape), 0);
  }

  /**
   * `config.json` and `model.safetensors` contents that transformers' `from_pretrained` loads;
   * `{ dtype: 'float16' }` stores the weights in half precision (see {@link SaveOptions}).
   */
  async toPretrainedFiles(options: SaveOptions = {}): Promise<Record<string, Uint8Array>> {
    const config = this.config.with({ architectures: [this.architecture] });
    return pretrainedFiles(config, await this.getStateDict(), { ...this.checkpointMetadata, format: 'pt' }, options);
  }

  /** Writes `config.json` and `model.safetensors` into `dir` (Node), atomically. */
  async savePretrained(dir: string, options: SaveOptions = {}): Promise<void> {
    await getPlatform().writeFolder(dir, await this.toPretrainedFiles(options));
  }

  /** Releases every ONNX Runtime session of this model. The model cannot run afterwards. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.releaseSessions();
  }

  /** `await using model = await ...fromPretrained(...)` disposes the model at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  private async releaseSessions(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map(async (s) => (await s).release()));
  }

  private fullRequest(partial: Partial<GraphRequest>): GraphRequest {
    return { architecture: this.architecture, hiddenStates: [], head: true, pooling: 'adaptive', ...partial };
  }

  /** Hidden-state indices a forward call asks for. */
  protected hiddenStateIndices(options: ForwardOptions): number[] {
    return options.outputHiddenStates ?? this.config.outputHiddenStates ? Array.from({ length: 16 }, (_, i) => i) : [];
  }

  /** Checks pixel values and runs the graph for `partial`, returning its outputs by name. */
  protected async run(pixelValues: Float32Tensor, partial: Partial<GraphRequest>): Promise<Map<string, Float32Tensor>> {
    if (this.disposed) throw new MobileNetV2Error('this model was disposed', { code: 'E_DISPOSED' });
    checkPixelValues(pixelValues, this.config.numChannels);
    let request = this.fullRequest(partial);
    if (request.pooling === 'tf') {
      // The TF kernel is min(7, feature size), so this graph is specific to the input's size.
      const [, , h, w] = pixelValues.shape as number[];
      request = { ...request, featureSize: [Math.ceil(h! / 32), Math.ceil(w! / 32)] };
    }
    const key = JSON.stringify(request);
    let session = this.sessions.get(key);
    if (!session) {
      session = this.createSessionFor(request);
      this.sessions.set(key, session);
      session.catch(() => this.sessions.delete(key));
    }
    const ort = getOrtModule();
    const input = new ort.Tensor('float32', pixelValues.data, [...pixelValues.shape]);
    const results = await (await session).run({ [OUTPUT.pixelValues]: input });
    const out = new Map<string, Float32Tensor>();
    for (const [name, value] of Object.entries(results)) {
      out.set(name, { dtype: 'float32', shape: [...value.dims], data: value.data as Float32Array });
      value.dispose();
    }
    return out;
  }

  /**
   * A session for `request`: from the compiled-graph cache when the weights come from a file the
   * cache knows (the weights are then not read at all), else from a freshly built graph, which is
   * then cached.
   */
  private async createSessionFor(request: GraphRequest): Promise<InferenceSession> {
    const dtype = this.sessionOptions.dtype ?? 'fp32';
    const platform = findPlatform();
    const cache = platform?.graphCache;
    // Signed int8 weights where this CPU runs them exactly and faster (VNNI); part of the key.
    const qdq: QdqOptions = { signedWeights: dtype === 'int8' && (platform?.signedInt8Weights?.() ?? false) };
    const key = cache && this.weights.fingerprint !== null
      ? JSON.stringify({
        format: GRAPH_FORMAT, weights: this.weights.fingerprint, metadata: this.checkpointMetadata,
        config: { ...this.config.toJSON({ diff: false }), problem_type: null }, architecture: this.architecture, request, dtype, ...qdq,
      })
      : null;
    const cached = key !== null ? await cache!.get(key) : null;
    if (cached !== null) return createSession(cached, this.sessionOptions);
    const graph = await this.exportOnnx(request, dtype, qdq);
    if (key !== null) await cache!.put(key, graph);
    return createSession(graph, this.sessionOptions);
  }

  /** A graph output that the request guarantees. */
  protected outputOf(out: Map<string, Float32Tensor>, name: string): Float32Tensor {
    const tensor = out.get(name);
    if (!tensor) throw new MobileNetV2Error(`the ${this.architecture} graph has no output "${name}"`, { code: 'E_INTERNAL' });
    return tensor;
  }

  /** Collects `hidden_states.*` outputs in block order. */
  protected hiddenStatesOf(out: Map<string, Float32Tensor>, indices: number[]): Float32Tensor[] | undefined {
    return indices.length ? indices.map((i) => this.outputOf(out, OUTPUT.hiddenState(i))) : undefined;
  }
}

/** Weights already in memory: checked and normalised now. */
function inMemory(config: MobileNetV2Config, architecture: Architecture, checkpoint: StateDict, source: string | null): Weights {
  const { stateDict, report } = loadStateDict(checkpoint, parameterSpecs(config, architecture), config.initializerRange, source);
  return { report, fingerprint: null, load: async () => stateDict };
}

/** A checkpoint opened from a folder, a hub id or any {@link ModelFiles}, and its name for warnings. */
export interface PretrainedSource {
  readonly checkpoint: OpenCheckpoint;
  /** The folder, hub id or description the user gave (transformers' `pretrained_model_name_or_path`). */
  readonly name: string;
}

/** Resolves and opens `source` (config now, tensor descriptions now, data later). */
export async function openPretrained(source: string | ModelFiles, options: LoadOptions): Promise<PretrainedSource> {
  const files = typeof source === 'string' ? await getPlatform().resolveModelFiles(source, options) : source;
  return { checkpoint: await openCheckpoint(files), name: typeof source === 'string' ? source : files.description };
}

/**
 * A model class on an opened checkpoint: keys and shapes checked now (with transformers' warnings
 * about new and unused weights), tensor data read on first use.
 */
export function instantiatePretrained<T>(cls: ModelClass<T>, { checkpoint, name }: PretrainedSource, options: LoadOptions): T {
  const expected = parameterSpecs(checkpoint.config, cls.architecture);
  const report = checkCheckpoint(checkpoint.tensors, expected, checkpoint.source);
  if (options.warnings !== false) warnAboutLoadReport(report, cls.architecture, name);
  const weights: Weights = {
    report,
    fingerprint: checkpoint.fingerprint,
    load: async () => {
      // Half-precision weights of a converted quantized model are rounded back to their exact values.
      const tensors = restoreQuantizedWeights(await checkpoint.load(), readQuantizationRecord(checkpoint.metadata, checkpoint.source));
      return loadStateDict(tensors, expected, checkpoint.config.initializerRange, checkpoint.source).stateDict;
    },
  };
  return instantiate(cls, checkpoint.config, weights, options, checkpoint.metadata);
}

function instantiate<T>(cls: ModelClass<T>, config: MobileNetV2Config, weights: Weights, options: SessionOptions, metadata: Record<string, string>): T {
  check(options.dtype === undefined || options.dtype === 'fp32' || options.dtype === 'int8', `dtype must be "fp32" or "int8", got "${options.dtype}"`);
  check(options.threads === undefined || (Number.isSafeInteger(options.threads) && options.threads >= 1), `threads must be a positive integer, got ${options.threads}`);
  const sessionOptions: SessionOptions = {
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.executionProviders ? { executionProviders: options.executionProviders } : {}),
    ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
    ...(options.worker !== undefined ? { worker: options.worker } : {}),
  };
  return new cls(config, weights, sessionOptions, metadata);
}

/** Rejects pixel values ONNX Runtime would choke on, with a message naming the problem. */
function checkPixelValues(pixelValues: Float32Tensor, numChannels: number): void {
  check(pixelValues && pixelValues.dtype === 'float32', `pixel_values must be a float32 tensor, got ${pixelValues?.dtype}`);
  const s = pixelValues.shape;
  check(s.length === 4, `pixel_values must have 4 dimensions [batch, channels, height, width], got shape ${formatShape(s)}`);
  check(s[1] === numChannels, `pixel_values has ${s[1]} channels but the model expects ${numChannels} (shape ${formatShape(s)})`);
  check(s.every((d) => Number.isInteger(d) && d > 0), `pixel_values has an empty dimension: ${formatShape(s)}`);
  check(s[0]! * s[2]! * s[3]! <= LIMITS.maxModelInputPixels, () => `pixel_values ${formatShape(s)} has more than ${LIMITS.maxModelInputPixels} pixels (batch × height × width), too many to run`);
  check(pixelValues.data.length === numel(s), `pixel_values data has ${pixelValues.data.length} values for shape ${formatShape(s)}`);
}
