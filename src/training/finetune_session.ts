/**
 * The state of a fine-tuning run and its two ONNX Runtime sessions: the trained tensors and
 * BatchNorm running statistics (checkpoint keys, head models' layout), AdamW's moments, one
 * optimiser step on a batch (the training graph's gradients, then AdamW or plain SGD in
 * TypeScript, then PyTorch's running-statistics update) and the logits of the evaluation graph.
 */
import type { InferenceSession } from 'onnxruntime-common';
import type { MobileNetV2Config } from '../config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../errors.js';
import { encodeModel } from '../onnx/proto.js';
import { createSession, getOrtModule, type SessionOptions } from '../runtime/ort.js';
import type { Tensor } from '../tensor.js';
import { adamWStep } from './adamw.js';
import { buildFineTuneGraph, FT, type BatchNormMode, type FineTuneLayout } from './finetune_graph.js';

/** A batch: block inputs `[B, C, H, W]` flat, and per image its target distribution and dropout mask. */
export interface FineTuneBatch {
  readonly inputs: Float32Array;
  readonly size: number;
  /** `[B, classes]` rows summing to 1. */
  readonly targets: Float32Array;
  /** `[B, channels]`: 0 for a dropped feature, else 1 / (1 − p). */
  readonly dropoutMask: Float32Array;
}

/** Settings of one optimiser step. */
export interface StepSettings {
  readonly lr: number;
  /** Decoupled weight decay of the weights (not the biases or BatchNorm parameters). */
  readonly weightDecay: number;
  /** `adamw`, or `sgd` (plain `w − lr·g`, for checks). */
  readonly optimizer?: 'adamw' | 'sgd';
}

/** What one step computed. */
export interface StepResult {
  readonly loss: number;
  /** `[B, classes]`. */
  readonly logits: Float32Array;
}

/** The tensors of a fine-tuning run and the sessions that train and evaluate them. */
export class FineTuner {
  /** Trained tensors and running statistics by checkpoint key (float32). */
  readonly tensors = new Map<string, Float32Array>();
  /** BatchNorm steps counted in training mode (PyTorch's `num_batches_tracked`), per BatchNorm prefix. */
  readonly batchesTracked = new Map<string, bigint>();
  private readonly moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  private steps = 0;
  /** The shape of every tensor the sessions are fed, by key. */
  private readonly shapes = new Map<string, readonly number[]>();

  private constructor(
    readonly layout: FineTuneLayout,
    readonly batchNorm: BatchNormMode,
    /** Momentum of the running statistics, as PyTorch's: `running = (1 − m)·running + m·batch`. */
    readonly momentum: number,
    private readonly train: InferenceSession,
    private readonly evaluation: InferenceSession,
  ) {
    for (const p of layout.parameters) this.shapes.set(p.key, p.shape);
    for (const n of layout.norms) for (const k of [n.runningMean, n.runningVar]) this.shapes.set(k, [n.channels]);
  }

  /**
   * Sessions for `layout`, starting from `initial` (every trained tensor and running statistic by
   * key, and each `num_batches_tracked`).
   */
  static async create(
    config: MobileNetV2Config, layout: FineTuneLayout, initial: (key: string) => Tensor, options: { batchNorm: BatchNormMode; momentum: number; session?: SessionOptions },
  ): Promise<FineTuner> {
    // With batch statistics, evaluation also measures each BatchNorm's input (see recalibrate).
    const statistics = options.batchNorm === 'train';
    const graph = (mode: 'train' | 'eval') => encodeModel(buildFineTuneGraph(config, layout, { mode, batchNorm: options.batchNorm, statistics }));
    const train = await createSession(graph('train'), options.session);
    const evaluation = await createSession(graph('eval'), options.session).catch(async (err: unknown) => {
      await train.release();
      throw err;
    });
    const tuner = new FineTuner(layout, options.batchNorm, options.momentum, train, evaluation);
    const float = (key: string) => {
      const t = initial(key);
      if (t.dtype !== 'float32') throw new MobileNetV2Error(`fine-tuning needs float32 "${key}", got ${t.dtype}`, { code: 'E_INTERNAL' });
      return (t.data as Float32Array).slice();
    };
    for (const p of layout.parameters) tuner.tensors.set(p.key, float(p.key));
    for (const n of layout.norms) {
      tuner.tensors.set(n.runningMean, float(n.runningMean));
      tuner.tensors.set(n.runningVar, float(n.runningVar));
      const count = initial(n.numBatchesTracked).data;
      tuner.batchesTracked.set(n.prefix, count instanceof BigInt64Array ? count[0]! : 0n);
    }
    return tuner;
  }

  private feed(keys: readonly string[]): Record<string, unknown> {
    const { Tensor: OrtTensor } = getOrtModule();
    return Object.fromEntries(keys.map((k) => [k, new OrtTensor('float32', this.tensors.get(k)!, [...this.shapes.get(k)!])]));
  }

  private inputTensor(inputs: Float32Array, size: number): unknown {
    return new (getOrtModule().Tensor)('float32', inputs, [size, ...this.layout.inputShape]);
  }

  private statisticKeys(): string[] {
    return this.layout.norms.flatMap((n) => [n.runningMean, n.runningVar]);
  }

  /** One training step on `batch`: gradients from the graph, then the optimiser and running-statistics updates. */
  async step(batch: FineTuneBatch, settings: StepSettings): Promise<StepResult> {
    const { Tensor: OrtTensor } = getOrtModule();
    const { layout } = this;
    const feeds = {
      ...this.feed(layout.parameters.map((p) => p.key)),
      ...(this.batchNorm === 'frozen' ? this.feed(this.statisticKeys()) : {}),
      [FT.input]: this.inputTensor(batch.inputs, batch.size),
      [FT.targets]: new OrtTensor('float32', batch.targets, [batch.size, layout.classes]),
      [FT.dropoutMask]: new OrtTensor('float32', batch.dropoutMask, [batch.size, layout.channels]),
    } as InferenceSession.FeedsType;
    const out = await this.train.run(feeds);
    const data = (name: string) => out[name]!.data as Float32Array;
    this.steps++;
    for (const p of layout.parameters) {
      const weights = this.tensors.get(p.key)!;
      const grad = data(FT.grad(p.key));
      if (settings.optimizer === 'sgd') {
        for (let i = 0; i < weights.length; i++) weights[i] = weights[i]! * (1 - (p.decay ? settings.lr * settings.weightDecay : 0)) - settings.lr * grad[i]!;
        continue;
      }
      let moments = this.moments.get(p.key);
      if (!moments) this.moments.set(p.key, (moments = { m: new Float32Array(weights.length), v: new Float32Array(weights.length) }));
      adamWStep(weights, grad, moments.m, moments.v, this.steps, settings.lr, p.decay ? settings.weightDecay : 0);
    }
    if (this.batchNorm === 'train') this.updateRunningStatistics(batch.size, (n) => [data(FT.batchMean(n)), data(FT.batchVar(n))]);
    const result = { loss: data(FT.loss)[0]!, logits: data(FT.logits) };
    for (const value of Object.values(out)) value.dispose();
    return result;
  }

  /** PyTorch's update: the batch variance made unbiased (× n / (n − 1), n values per channel), both mixed in by `momentum`. */
  private updateRunningStatistics(batchSize: number, batchStats: (prefix: string) => [Float32Array, Float32Array]): void {
    const m = this.momentum;
    for (const n of this.layout.norms) {
      const [mean, variance] = batchStats(n.prefix);
      const count = batchSize * n.positions;
      const unbias = count > 1 ? count / (count - 1) : 1;
      const runningMean = this.tensors.get(n.runningMean)!;
      const runningVar = this.tensors.get(n.runningVar)!;
      for (let c = 0; c < n.channels; c++) {
        runningMean[c] = (1 - m) * runningMean[c]! + m * mean[c]!;
        runningVar[c] = (1 - m) * runningVar[c]! + m * variance[c]! * unbias;
      }
      this.batchesTracked.set(n.prefix, this.batchesTracked.get(n.prefix)! + 1n);
    }
  }

  /** Every output of the evaluation graph (running statistics) on block inputs. */
  private async evaluate(inputs: Float32Array, size: number): Promise<Map<string, Float32Array>> {
    const feeds = {
      ...this.feed([...this.layout.parameters.map((p) => p.key), ...this.statisticKeys()]),
      [FT.input]: this.inputTensor(inputs, size),
    } as InferenceSession.FeedsType;
    const out = await this.evaluation.run(feeds);
    const result = new Map(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
    for (const value of Object.values(out)) value.dispose();
    return result;
  }

  /** Logits `[B, classes]` and pooled features `[B, channels]` of block inputs, in evaluation mode (running statistics). */
  async logits(inputs: Float32Array, size: number): Promise<{ logits: Float32Array; pooled: Float32Array }> {
    const out = await this.evaluate(inputs, size);
    return { logits: out.get(FT.logits)!, pooled: out.get(FT.pooled)! };
  }

  /**
   * Makes batch statistics fit the running ones (BatchNorm in training mode only): measures each
   * BatchNorm's input over `batches` of block inputs, makes that mean and variance the running
   * statistics and rescales weight and bias so that evaluation computes exactly what it did.
   * Checkpoints converted from TFLite carry BatchNorm folded into the convolutions (running mean
   * 0, variance 1), which batch statistics would otherwise wipe out at the first step.
   */
  async recalibrate(batches: AsyncIterable<{ inputs: Float32Array; size: number }> | Iterable<{ inputs: Float32Array; size: number }>): Promise<void> {
    const sums = new Map(this.layout.norms.map((n) => [n.prefix, { mean: new Float64Array(n.channels), square: new Float64Array(n.channels) }]));
    let images = 0;
    for await (const { inputs, size } of batches) {
      const out = await this.evaluate(inputs, size);
      for (const n of this.layout.norms) {
        const sum = sums.get(n.prefix)!;
        const [mean, square] = [out.get(FT.inputMean(n.prefix))!, out.get(FT.inputSquareMean(n.prefix))!];
        for (let c = 0; c < n.channels; c++) {
          sum.mean[c]! += mean[c]! * size;
          sum.square[c]! += square[c]! * size;
        }
      }
      images += size;
    }
    for (const n of this.layout.norms) {
      const sum = sums.get(n.prefix)!;
      const [gamma, beta, runningMean, runningVar] = [n.weight, n.bias, n.runningMean, n.runningVar].map((k) => this.tensors.get(k)!) as [Float32Array, Float32Array, Float32Array, Float32Array];
      for (let c = 0; c < n.channels; c++) {
        const mean = sum.mean[c]! / images;
        const variance = Math.max(0, sum.square[c]! / images - mean * mean);
        // y = γ·(x − μ)/σ + β = γ'·(x − μ')/σ' + β' with γ' = γ·σ'/σ and β' = β + γ·(μ' − μ)/σ.
        const scale = gamma[c]! / Math.sqrt(runningVar[c]! + n.eps);
        beta[c] = beta[c]! + scale * (mean - runningMean[c]!);
        gamma[c] = scale * Math.sqrt(variance + n.eps);
        runningMean[c] = mean;
        runningVar[c] = variance;
      }
    }
  }

  /** A copy of every tensor and count. */
  state(): { tensors: Map<string, Float32Array>; batchesTracked: Map<string, bigint> } {
    return { tensors: new Map([...this.tensors].map(([k, v]) => [k, v.slice()])), batchesTracked: new Map(this.batchesTracked) };
  }

  /** Starts over from `state` (as {@link state} gave it): its tensors and counts, AdamW's moments and step count cleared. */
  restart(state: ReturnType<FineTuner['state']>): void {
    for (const [k, v] of state.tensors) this.tensors.set(k, v.slice());
    for (const [k, v] of state.batchesTracked) this.batchesTracked.set(k, v);
    this.moments.clear();
    this.steps = 0;
  }

  /** Releases both sessions. */
  async release(): Promise<void> {
    await Promise.all([this.train.release(), this.evaluation.release()]);
  }
}
