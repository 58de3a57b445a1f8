/**
 * transformers' `MobileNetV2Model`, `MobileNetV2ForImageClassification` and
 * `MobileNetV2ForSemanticSegmentation`, run on ONNX Runtime. A model holds its config and complete
 * state dict; each distinct request (which outputs, which pooling) is compiled once into an ONNX
 * graph and an inference session, reused for every batch and image size.
 */
import type { InferenceSession } from 'onnxruntime-common';
import {
  MobileNetV2Config, type Architecture, type ProblemType,
} from '../config/configuration_mobilenet_v2.js';
import { check, MobileNetV2Error } from '../errors.js';
import type { ModelFiles } from '../hub/model_files.js';
import { getPlatform, type HubOptions } from '../platform.js';
import { calibrate, type CalibrationMethod } from '../quantization/calibrate.js';
import { quantizeGraph } from '../quantization/qdq_graph.js';
import { createSession, getOrtModule, type ModelDType, type SessionOptions } from '../runtime/ort.js';
import { formatShape, type Float32Tensor, type Tensor } from '../tensor.js';
import { parseTorchCheckpoint } from '../weights/pytorch.js';
import { parseSafetensors, serializeSafetensors } from '../weights/safetensors.js';
import { QUANTIZATION_METADATA_KEY, readQuantizationRecord, type QuantizationRecord } from '../weights/tflite/quantization.js';
import { backboneLayers, parameterSpecs } from './architecture.js';
import { isBuffer } from './layers.js';
import { buildGraph, OUTPUT, type GraphRequest, type Pooling } from './graph.js';
import { loadStateDict, type LoadReport, type StateDict } from './loading.js';
import { classificationLoss, inferProblemType, semanticSegmentationLoss } from './losses.js';

/** Options of `fromPretrained`: where to find the files and how to run them. */
export interface LoadOptions extends HubOptions, SessionOptions {}

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

/** A model class: its constructor plus the architecture name it loads. */
type ModelClass<T> = {
  new (config: MobileNetV2Config, stateDict: StateDict, report: LoadReport, options: SessionOptions, metadata: Record<string, string>): T;
  readonly architecture: Architecture;
};

/** Reads config.json and the weights (model.safetensors, else pytorch_model.bin) of a model. */
export async function readCheckpoint(files: ModelFiles): Promise<{ config: MobileNetV2Config; checkpoint: StateDict; metadata: Record<string, string>; source: string }> {
  const configBytes = await files.read('config.json');
  if (!configBytes) throw new MobileNetV2Error(`${files.description}: no config.json`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(configBytes));
  } catch (err) {
    throw new MobileNetV2Error(`${files.description}/config.json is not valid JSON: ${(err as Error).message}`);
  }
  const config = MobileNetV2Config.fromJSON(json, `${files.description}/config.json`);
  const safetensors = await files.read('model.safetensors');
  if (safetensors) {
    const parsed = parseSafetensors(safetensors, `${files.description}/model.safetensors`);
    return { config, checkpoint: parsed.tensors, metadata: parsed.metadata, source: `${files.description}/model.safetensors` };
  }
  const bin = await files.read('pytorch_model.bin');
  if (bin) {
    const source = `${files.description}/pytorch_model.bin`;
    return { config, checkpoint: parseTorchCheckpoint(bin, source), metadata: {}, source };
  }
  throw new MobileNetV2Error(`${files.description}: no model.safetensors or pytorch_model.bin`);
}

/** Base class: loading, saving, sessions and the shared forward machinery. */
export abstract class MobileNetV2PreTrainedModel {
  /** The transformers class name this model implements. */
  static readonly architecture: Architecture;
  private readonly sessions = new Map<string, Promise<InferenceSession>>();
  private disposed = false;

  /**
   * Use `fromPretrained` or `fromStateDict`. The state dict must already be complete and
   * shape-checked (see `loadStateDict`).
   */
  constructor(
    /** The model's configuration. */
    readonly config: MobileNetV2Config,
    /** Every parameter, float32 (and int64 `num_batches_tracked`), keyed as transformers does. */
    readonly stateDict: StateDict,
    /** Missing (freshly initialised) and unexpected checkpoint keys. */
    readonly loadReport: LoadReport,
    /** ONNX Runtime settings of the sessions this model creates. */
    readonly sessionOptions: SessionOptions = {},
    /** safetensors `__metadata__` carried from the checkpoint (e.g. quantization records). */
    readonly checkpointMetadata: Record<string, string> = {},
  ) {}

  /** The transformers class name of this model. */
  get architecture(): Architecture {
    return (this.constructor as unknown as ModelClass<this>).architecture;
  }

  /**
   * Loads a model from a folder, a hub id (`google/mobilenet_v2_1.0_224`) or any {@link ModelFiles},
   * the way transformers' `from_pretrained` does (prefix handling, fresh heads, shape checks).
   */
  static async fromPretrained<T extends MobileNetV2PreTrainedModel>(this: ModelClass<T>, source: string | ModelFiles, options: LoadOptions = {}): Promise<T> {
    const files = typeof source === 'string' ? await getPlatform().resolveModelFiles(source, options) : source;
    const { config, checkpoint, metadata, source: where } = await readCheckpoint(files);
    return instantiate(this, config, checkpoint, where, options, metadata);
  }

  /** Builds a model from a config and an in-memory checkpoint (any dtype, any class's key layout). */
  static fromStateDict<T extends MobileNetV2PreTrainedModel>(
    this: ModelClass<T>, config: MobileNetV2Config, checkpoint: StateDict, options: SessionOptions = {}, metadata: Record<string, string> = {},
  ): T {
    return instantiate(this, config, checkpoint, 'state dict', options, metadata);
  }

  /** A freshly initialised model, as transformers' `Model(config)` (normal(0, initializer_range) weights). */
  static fromConfig<T extends MobileNetV2PreTrainedModel>(this: ModelClass<T>, config: MobileNetV2Config, options: SessionOptions = {}): T {
    return instantiate(this, config, new Map(), null, options, {});
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
    return outIndices.map((i) => out.get(OUTPUT.hiddenState(i))!);
  }

  /**
   * The ONNX graph for a request, e.g. to run in another runtime (`export-onnx`): float32, or for
   * `int8` the integer QDQ graph (see {@link quantization}).
   */
  exportOnnx(request: Partial<GraphRequest> = {}, dtype: ModelDType = this.sessionOptions.dtype ?? 'fp32'): Uint8Array {
    const graph = buildGraph(this.config, this.weightLookup, this.fullRequest(request));
    if (dtype === 'fp32') return graph;
    const record = this.quantization;
    if (!record) {
      throw new MobileNetV2Error(
        'int8 needs quantization parameters and this checkpoint has none (only models converted from quantized TFLite files carry them): ' +
          'calibrate it first on a few representative images (model.calibrate(pixelValues) in the API; ' +
          'for an integer ONNX file: mobilenet-v2 export-onnx --dtype int8 --calibrate <images>)',
      );
    }
    return quantizeGraph(graph, record);
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
    const graph = buildGraph(this.config, this.weightLookup, this.fullRequest({}));
    const source = options.source ?? `${pixelValues.length} batch${pixelValues.length === 1 ? '' : 'es'}`;
    const record = await calibrate(graph, pixelValues, source, { method: options.method, session: this.sessionOptions });
    this.checkpointMetadata[QUANTIZATION_METADATA_KEY] = JSON.stringify(record);
    // Integer sessions built from the previous ranges are stale.
    if (this.sessionOptions.dtype === 'int8') await this.releaseSessions();
    return record;
  }

  /** Number of trainable parameters (BatchNorm running statistics excluded), as transformers' `num_parameters()`. */
  numParameters(): number {
    let n = 0;
    for (const [key, t] of this.stateDict) if (!isBuffer(key)) n += t.data.length;
    return n;
  }

  /** `config.json` and `model.safetensors` contents that transformers' `from_pretrained` loads. */
  toPretrainedFiles(): Record<string, Uint8Array> {
    const config = this.config.with({ architectures: [this.architecture] }).toJSON({ diff: true });
    return {
      'config.json': new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`),
      'model.safetensors': serializeSafetensors(this.stateDict, { ...this.checkpointMetadata, format: 'pt' }),
    };
  }

  /** Writes `config.json` and `model.safetensors` into `dir` (Node), atomically. */
  async savePretrained(dir: string): Promise<void> {
    await getPlatform().writeFolder(dir, this.toPretrainedFiles());
  }

  /** Releases every ONNX Runtime session of this model. The model cannot run afterwards. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.releaseSessions();
  }

  private async releaseSessions(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map(async (s) => (await s).release()));
  }

  /** Float32 weights by key, from the normalised state dict. */
  protected readonly weightLookup = (key: string): Float32Array => {
    const t = this.stateDict.get(key);
    if (!t || t.dtype !== 'float32') throw new MobileNetV2Error(`internal: weight "${key}" missing from the state dict`);
    return t.data as Float32Array;
  };

  private fullRequest(partial: Partial<GraphRequest>): GraphRequest {
    return { architecture: this.architecture, hiddenStates: [], head: true, pooling: 'adaptive', ...partial };
  }

  /** Hidden-state indices a forward call asks for. */
  protected hiddenStateIndices(options: ForwardOptions): number[] {
    return options.outputHiddenStates ?? this.config.outputHiddenStates ? Array.from({ length: 16 }, (_, i) => i) : [];
  }

  /** Checks pixel values and runs the graph for `partial`, returning its outputs by name. */
  protected async run(pixelValues: Float32Tensor, partial: Partial<GraphRequest>): Promise<Map<string, Float32Tensor>> {
    if (this.disposed) throw new MobileNetV2Error('this model was disposed');
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
      session = createSession(this.exportOnnx(request), this.sessionOptions);
      this.sessions.set(key, session);
    }
    const ort = getOrtModule();
    const input = new ort.Tensor('float32', pixelValues.data as Float32Array, [...pixelValues.shape]);
    const results = await (await session).run({ [OUTPUT.pixelValues]: input });
    const out = new Map<string, Float32Tensor>();
    for (const [name, value] of Object.entries(results)) {
      out.set(name, { dtype: 'float32', shape: [...value.dims], data: value.data as Float32Array });
      value.dispose();
    }
    return out;
  }

  /** Collects `hidden_states.*` outputs in block order. */
  protected hiddenStatesOf(out: Map<string, Float32Tensor>, indices: number[]): Float32Tensor[] | undefined {
    return indices.length ? indices.map((i) => out.get(OUTPUT.hiddenState(i))!) : undefined;
  }
}

function instantiate<T>(cls: ModelClass<T>, config: MobileNetV2Config, checkpoint: StateDict, source: string | null, options: SessionOptions, metadata: Record<string, string>): T {
  const { stateDict, report } = loadStateDict(checkpoint, parameterSpecs(config, cls.architecture), config.initializerRange, source);
  check(options.dtype === undefined || options.dtype === 'fp32' || options.dtype === 'int8', `dtype must be "fp32" or "int8", got "${options.dtype}"`);
  const sessionOptions: SessionOptions = {
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.executionProviders ? { executionProviders: options.executionProviders } : {}),
    ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
    ...(options.worker !== undefined ? { worker: options.worker } : {}),
  };
  return new cls(config, stateDict, report, sessionOptions, metadata);
}

/** Rejects pixel values ONNX Runtime would choke on, with a message naming the problem. */
function checkPixelValues(pixelValues: Float32Tensor, numChannels: number): void {
  check(pixelValues && pixelValues.dtype === 'float32', `pixel_values must be a float32 tensor, got ${pixelValues?.dtype}`);
  const s = pixelValues.shape;
  check(s.length === 4, `pixel_values must have 4 dimensions [batch, channels, height, width], got shape ${formatShape(s)}`);
  check(s[1] === numChannels, `pixel_values has ${s[1]} channels but the model expects ${numChannels} (shape ${formatShape(s)})`);
  check(s.every((d) => Number.isInteger(d) && d > 0), `pixel_values has an empty dimension: ${formatShape(s)}`);
  check(pixelValues.data.length === s.reduce((a, b) => a * b, 1), `pixel_values data has ${pixelValues.data.length} values for shape ${formatShape(s)}`);
}

/** The bare backbone: `last_hidden_state`, `pooler_output` and optionally the hidden states. */
export class MobileNetV2Model extends MobileNetV2PreTrainedModel {
  static override readonly architecture: Architecture = 'MobileNetV2Model';

  /** Runs the backbone. */
  async forward(pixelValues: Float32Tensor, options: Pick<ForwardOptions, 'outputHiddenStates' | 'pooling'> = {}): Promise<ModelOutput> {
    const indices = this.hiddenStateIndices(options);
    const out = await this.run(pixelValues, { hiddenStates: indices, pooling: options.pooling ?? 'adaptive' });
    return {
      lastHiddenState: out.get(OUTPUT.lastHiddenState)!,
      poolerOutput: out.get(OUTPUT.poolerOutput)!,
      hiddenStates: this.hiddenStatesOf(out, indices),
    };
  }
}

/** Backbone + linear classifier (ImageNet-style). */
export class MobileNetV2ForImageClassification extends MobileNetV2PreTrainedModel {
  static override readonly architecture: Architecture = 'MobileNetV2ForImageClassification';

  /**
   * Computes logits (and the loss when labels are given). As in transformers, a `problem_type`
   * inferred from the labels is written back into the config; pass `problemType` to override it
   * for one call.
   */
  async forward(pixelValues: Float32Tensor, options: ForwardOptions = {}): Promise<ModelOutput> {
    const indices = this.hiddenStateIndices(options);
    const out = await this.run(pixelValues, { hiddenStates: indices, pooling: options.pooling ?? 'adaptive' });
    const logits = out.get(OUTPUT.logits)!;
    const result: ModelOutput = {
      logits,
      lastHiddenState: out.get(OUTPUT.lastHiddenState)!,
      poolerOutput: out.get(OUTPUT.poolerOutput)!,
      hiddenStates: this.hiddenStatesOf(out, indices),
    };
    if (options.labels) {
      check(logits.shape.length === 2, 'a loss needs [batch, labels] logits; use the default adaptive pooling');
      let problemType = options.problemType ?? this.config.problemType;
      if (!problemType) {
        problemType = inferProblemType(this.config.numLabels, options.labels);
        this.config.problemType = problemType;
      }
      result.loss = classificationLoss(logits, options.labels, problemType);
    }
    return result;
  }
}

/** Backbone (to block 15) + DeepLabV3 head. */
export class MobileNetV2ForSemanticSegmentation extends MobileNetV2PreTrainedModel {
  static override readonly architecture: Architecture = 'MobileNetV2ForSemanticSegmentation';

  /** Computes logits at feature resolution (and the loss when `[B, H, W]` labels are given). */
  async forward(pixelValues: Float32Tensor, options: ForwardOptions = {}): Promise<ModelOutput> {
    const indices = this.hiddenStateIndices(options);
    const out = await this.run(pixelValues, { hiddenStates: indices, debug: options.debug ?? false });
    const logits = out.get(OUTPUT.logits)!;
    const result: ModelOutput = { logits, hiddenStates: this.hiddenStatesOf(out, indices) };
    if (options.labels) result.loss = semanticSegmentationLoss(logits, options.labels, this.config.semanticLossIgnoreIndex);
    if (options.debug) {
      result.debug = Object.fromEntries([...out].filter(([k]) => k.startsWith('debug.')));
    }
    return result;
  }
}

/** Any of the three model classes. */
export type AnyMobileNetV2Model = MobileNetV2Model | MobileNetV2ForImageClassification | MobileNetV2ForSemanticSegmentation;

const CLASSES = {
  MobileNetV2Model,
  MobileNetV2ForImageClassification,
  MobileNetV2ForSemanticSegmentation,
} as const;

/**
 * Loads a model with the class named in its config's `architectures` (like transformers'
 * `AutoModel...`); `fallback` is used when the config names none.
 */
export async function loadPretrained(
  source: string | ModelFiles, options: LoadOptions = {}, fallback: Architecture = 'MobileNetV2ForImageClassification',
): Promise<AnyMobileNetV2Model> {
  const files = typeof source === 'string' ? await getPlatform().resolveModelFiles(source, options) : source;
  const { config, checkpoint, metadata, source: where } = await readCheckpoint(files);
  const architecture = config.architectures?.[0] ?? fallback;
  return instantiate<AnyMobileNetV2Model>(CLASSES[architecture], config, checkpoint, where, options, metadata);
}
