/**
 * The ops of fine-tuning as ONNX nodes, each forward op with its backward written out by hand, on
 * channels-last activations (`[B, H, W, C]`): a 1×1 convolution is then one MatMul (its weight
 * gradient one Gemm), a depthwise 3×3 is nine shifted slices times a per-channel weight (its
 * gradients the same slices, padded back into place), and BatchNorm, pooling and the classifier
 * reduce or broadcast over the channel axis. No `Conv`: ONNX Runtime's CPU kernels for it are
 * float32 only, and every op here also runs in float64, so the finite-difference checks run the
 * very graph training runs, in double precision.
 */
import type { GraphBuilder } from '../onnx/graph_builder.js';

/** An activation in the graph: its tensor name and static channels-last size (the batch is symbolic). */
export interface Act {
  readonly name: string;
  readonly h: number;
  readonly w: number;
  readonly c: number;
}

/** Emits the backward of one op: the gradient of its output in, the gradient of its input out. */
export type Backward = (grad: string) => string;

/** Receives each parameter's gradient (a graph tensor) under its checkpoint key. */
export type GradientSink = (key: string, grad: string) => void;

/** Zero padding of a 3×3 convolution: top, bottom, left, right. */
export type Pads = readonly [number, number, number, number];

/** How BatchNorm normalises: by the batch's statistics (training) or by its running ones (frozen, eval). */
export type NormStats = 'batch' | 'running';

/** The checkpoint keys of one BatchNorm. */
export interface NormKeys {
  readonly weight: string;
  readonly bias: string;
  readonly runningMean: string;
  readonly runningVar: string;
}

/** Statistics a batch-statistics BatchNorm reports, for the running-statistics update. */
export interface BatchStats {
  /** Batch mean `[C]`. */
  readonly mean: string;
  /** Biased batch variance `[C]` (the update makes it unbiased). */
  readonly variance: string;
}

const SPATIAL = [0, 1, 2];

/** The forward and backward ops of one training graph. */
export class TrainingOps {
  /** Batch size as a float `[1]`, read from the input's shape. */
  private batchSize = '';

  /** `training`: the graph will have a backward pass (evaluation graphs emit only what the forward needs). */
  constructor(readonly g: GraphBuilder, private readonly training: boolean) {}

  /** Declares the `[batch, C, H, W]` input `name` and returns it channels-last. */
  input(name: string, [c, h, w]: readonly [number, number, number]): Act {
    const x = this.g.input(name, ['batch', c, h, w]);
    const shape = this.g.node('Shape', [x], 'batch.shape');
    this.batchSize = this.g.node('Cast', [this.g.node('Gather', [shape, this.g.int64s([0])], 'batch.size_i64', { axis: 0 })], 'batch.size', { to: this.g.floatType });
    return { name: this.g.node('Transpose', [x], `${name}.nhwc`, { perm: [0, 2, 3, 1] }), h, w, c };
  }

  /** `B·H·W`, the number of values each channel's statistics average over. */
  private count(x: Act, name: string): string {
    return this.g.node('Mul', [this.batchSize, this.g.scalar(x.h * x.w)], `${name}.count`);
  }

  /** A 1×1 convolution `y = x · Wᵀ` with weight input `weight` `[Cout, Cin, 1, 1]`; `inputGrad` false skips dx (frozen below). */
  pointwise(x: Act, weight: string, cout: number, name: string, grads: GradientSink, inputGrad: boolean): [Act, Backward] {
    const { g } = this;
    const w2 = g.node('Reshape', [g.input(weight, [cout, x.c, 1, 1]), g.int64s([cout, x.c])], `${name}.w2`);
    const y = g.node('MatMul', [x.name, g.node('Transpose', [w2], `${name}.wt`, { perm: [1, 0] })], name);
    const backward: Backward = (dy) => {
      const rows = (t: string, c: number, what: string) => g.node('Reshape', [t, g.int64s([-1, c])], `${name}.${what}_rows`);
      const dw = g.node('Gemm', [rows(dy, cout, 'dy'), rows(x.name, x.c, 'x')], `${name}.dw2`, { transA: 1 });
      grads(weight, g.node('Reshape', [dw, g.int64s([cout, x.c, 1, 1])], `${name}.dw`));
      return inputGrad ? g.node('MatMul', [dy, w2], `${name}.dx`) : '';
    };
    return [{ ...x, name: y, c: cout }, backward];
  }

  /**
   * A depthwise 3×3 convolution (weight input `[C, 1, 3, 3]`): the padded input sliced at each of
   * the nine taps (stride and dilation as slice steps and offsets), times that tap's weights, summed.
   */
  depthwise(x: Act, weight: string, stride: number, dilation: number, pads: Pads, name: string, grads: GradientSink): [Act, Backward] {
    const { g } = this;
    const [top, bottom, left, right] = pads;
    const hp = x.h + top + bottom;
    const wp = x.w + left + right;
    const ho = Math.floor((hp - 2 * dilation - 1) / stride) + 1;
    const wo = Math.floor((wp - 2 * dilation - 1) / stride) + 1;
    const padded = pads.some((p) => p > 0) ? g.node('Pad', [x.name, g.int64s([0, top, left, 0, 0, bottom, right, 0])], `${name}.pad`) : x.name;
    // [C, 1, 3, 3] → [9, C]: row k holds every channel's weight at tap k.
    const taps = g.node('Transpose', [g.node('Reshape', [g.input(weight, [x.c, 1, 3, 3]), g.int64s([x.c, 9])], `${name}.w9`)], `${name}.taps`, { perm: [1, 0] });
    const offsets = Array.from({ length: 9 }, (_, k) => [Math.floor(k / 3) * dilation, (k % 3) * dilation] as const);
    const tapWeight = offsets.map((_, k) => g.node('Gather', [taps, g.int64s([k])], `${name}.tap${k}.w`, { axis: 0 }));
    const taps9 = offsets.map(([i, j], k) => g.node('Slice', [
      padded, g.int64s([i, j]), g.int64s([i + stride * (ho - 1) + 1, j + stride * (wo - 1) + 1]), g.int64s([1, 2]), g.int64s([stride, stride]),
    ], `${name}.tap${k}`));
    const y = g.node('Sum', taps9.map((t, k) => g.node('Mul', [t, tapWeight[k]!], `${name}.tap${k}.y`)), name);
    const backward: Backward = (dy) => {
      // Each output position took its input from `stride` apart: spread dy out with zeros between,
      // then place it at each tap's offset in the padded input (the transposed convolution). The
      // same placed gradient gives the tap's weight gradient (against the padded input, which is
      // kept anyway, so the forward's nine slices need not be) and its share of dx.
      const hs = stride * (ho - 1) + 1;
      const ws = stride * (wo - 1) + 1;
      const spread = stride === 1 ? dy : g.node('Slice', [
        g.node('Reshape', [
          g.node('Pad', [g.node('Reshape', [dy, g.int64s([-1, ho, 1, wo, 1, x.c])], `${name}.dy6`), g.int64s([0, 0, 0, 0, 0, 0, 0, 0, stride - 1, 0, stride - 1, 0])], `${name}.dy_gaps`),
          g.int64s([-1, ho * stride, wo * stride, x.c]),
        ], `${name}.dy_spread_full`),
        g.int64s([0, 0]), g.int64s([hs, ws]), g.int64s([1, 2]),
      ], `${name}.dy_spread`);
      const placed = offsets.map(([i, j], k) => g.node('Pad', [spread, g.int64s([0, i, j, 0, 0, hp - i - hs, wp - j - ws, 0])], `${name}.tap${k}.placed`));
      const perTap = placed.map((p, k) => g.node('ReduceSum', [g.node('Mul', [p, padded], `${name}.tap${k}.dyx`), g.int64s(SPATIAL)], `${name}.tap${k}.dw`, { keepdims: 1 }));
      const dw9 = g.node('Reshape', [g.node('Concat', perTap, `${name}.dw_taps`, { axis: 0 }), g.int64s([9, x.c])], `${name}.dw9`);
      grads(weight, g.node('Reshape', [g.node('Transpose', [dw9], `${name}.dw_t`, { perm: [1, 0] }), g.int64s([x.c, 1, 3, 3])], `${name}.dw`));
      const dxp = g.node('Sum', placed.map((p, k) => g.node('Mul', [p, tapWeight[k]!], `${name}.tap${k}.dx`)), `${name}.dxp`);
      return padded === x.name ? dxp : g.node('Slice', [dxp, g.int64s([top, left]), g.int64s([top + x.h, left + x.w]), g.int64s([1, 2])], `${name}.dx`);
    };
    return [{ name: y, h: ho, w: wo, c: x.c }, backward];
  }

  /**
   * BatchNorm with trainable weight and bias. `batch`: normalised by the batch's mean and biased
   * variance (as PyTorch in training mode), which are reported through `stats`; `running`: by the
   * running statistics (inputs; frozen BatchNorm, and evaluation).
   */
  batchNorm(y: Act, keys: NormKeys, eps: number, mode: NormStats, name: string, grads: GradientSink, stats?: (s: BatchStats) => void): [Act, Backward] {
    const { g } = this;
    const gamma = g.input(keys.weight, [y.c]);
    const beta = g.input(keys.bias, [y.c]);
    let centred: string;
    let variance: string;
    if (mode === 'batch') {
      const mean = g.node('ReduceMean', [y.name], `${name}.batch_mean`, { axes: SPATIAL, keepdims: 0 });
      centred = g.node('Sub', [y.name, mean], `${name}.centred`);
      variance = g.node('ReduceMean', [g.node('Mul', [centred, centred], `${name}.sq`)], `${name}.batch_var`, { axes: SPATIAL, keepdims: 0 });
      stats?.({ mean, variance });
    } else {
      centred = g.node('Sub', [y.name, g.input(keys.runningMean, [y.c])], `${name}.centred`);
      variance = g.input(keys.runningVar, [y.c]);
    }
    const inv = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [variance, g.scalar(eps)], `${name}.var_eps`)], `${name}.std`)], `${name}.inv_std`);
    const normalised = g.node('Mul', [centred, inv], `${name}.normalised`);
    const z = g.node('Add', [g.node('Mul', [normalised, gamma], `${name}.scaled`), beta], name);
    const backward: Backward = (dz) => {
      const dbeta = g.node('ReduceSum', [dz, g.int64s(SPATIAL)], `${name}.dbias`, { keepdims: 0 });
      const dgamma = g.node('ReduceSum', [g.node('Mul', [dz, normalised], `${name}.dz_n`), g.int64s(SPATIAL)], `${name}.dweight`, { keepdims: 0 });
      grads(keys.weight, dgamma);
      grads(keys.bias, dbeta);
      const scale = g.node('Mul', [gamma, inv], `${name}.scale`);
      if (mode === 'running') return g.node('Mul', [dz, scale], `${name}.dy`);
      // The batch statistics depend on y too: dy = γ/σ · (dz − mean(dz) − x̂·mean(dz·x̂)).
      const count = this.count(y, name);
      const meanDz = g.node('Div', [dbeta, count], `${name}.mean_dz`);
      const meanDzN = g.node('Div', [dgamma, count], `${name}.mean_dz_n`);
      const inner = g.node('Sub', [g.node('Sub', [dz, meanDz], `${name}.dz_c`), g.node('Mul', [normalised, meanDzN], `${name}.n_term`)], `${name}.dy_n`);
      return g.node('Mul', [inner, scale], `${name}.dy`);
    };
    return [{ ...y, name: z }, backward];
  }

  /**
   * ReLU6 (`relu6`), ReLU (`relu`) or nothing (`none`); the backward passes the gradient where the
   * input was inside the linear range. For training, that boolean mask is taken in the forward
   * pass, so the input need not be held until the backward.
   */
  activation(z: Act, kind: 'relu6' | 'relu' | 'none', name: string): [Act, Backward] {
    const { g } = this;
    if (kind === 'none') return [z, (d) => d];
    const a = kind === 'relu6' ? g.node('Clip', [z.name, g.scalar(0), g.scalar(6)], `${name}.relu6`) : g.node('Relu', [z.name], `${name}.relu`);
    if (!this.training) return [{ ...z, name: a }, () => ''];
    let open = g.node('Greater', [z.name, g.scalar(0)], `${name}.above0`);
    if (kind === 'relu6') open = g.node('And', [open, g.node('Less', [z.name, g.scalar(6)], `${name}.below6`)], `${name}.linear`);
    return [{ ...z, name: a }, (da) => g.node('Where', [open, da, g.scalar(0)], `${name}.dz`)];
  }

  /** The residual connection's sum. */
  add(x: Act, y: Act, name: string): Act {
    return { ...y, name: this.g.node('Add', [x.name, y.name], name) };
  }

  /** Global average pooling to `[B, C]`. */
  pool(x: Act, name: string): [string, Backward] {
    const { g } = this;
    const pooled = g.node('ReduceMean', [x.name], name, { axes: [1, 2], keepdims: 0 });
    const backward: Backward = (dp) => {
      const share = g.node('Reshape', [g.node('Mul', [dp, g.scalar(1 / (x.h * x.w))], `${name}.share`), g.int64s([-1, 1, 1, x.c])], `${name}.share4`);
      return g.node('Expand', [share, g.node('Shape', [x.name], `${name}.shape`)], `${name}.dx`);
    };
    return [pooled, backward];
  }

  /** Multiplies by a mask input (dropout: 0 or 1/(1 − p) per value, drawn by the caller). */
  mask(x: string, mask: string, name: string): [string, Backward] {
    return [this.g.node('Mul', [x, mask], name), (d) => this.g.node('Mul', [d, mask], `${name}.dx`)];
  }

  /** The classifier `logits = x · Wᵀ + b` (inputs `weight` `[N, C]`, `bias` `[N]`). */
  linear(x: string, weight: string, bias: string, classes: number, channels: number, grads: GradientSink): [string, Backward] {
    const { g } = this;
    const w = g.input(weight, [classes, channels]);
    const logits = g.node('Gemm', [x, w, g.input(bias, [classes])], 'classifier', { transB: 1 });
    const backward: Backward = (dl) => {
      grads(weight, g.node('Gemm', [dl, x], 'classifier.dweight', { transA: 1 }));
      grads(bias, g.node('ReduceSum', [dl, g.int64s([0])], 'classifier.dbias', { keepdims: 0 }));
      return g.node('MatMul', [dl, w], 'classifier.dx');
    };
    return [logits, backward];
  }

  /**
   * Mean cross-entropy against target distributions `targets` `[B, N]` (rows summing to 1, so label
   * smoothing is the caller's choice of targets): returns the loss `[1]` and dlogits = (softmax − targets) / B.
   */
  crossEntropy(logits: string, targets: string): [string, string] {
    const { g } = this;
    const logProbs = g.node('LogSoftmax', [logits], 'log_probs', { axis: 1 });
    const invBatch = g.node('Reciprocal', [this.batchSize], 'batch.inv');
    const sum = g.node('ReduceSum', [g.node('Mul', [targets, logProbs], 'target_log_probs')], 'target_log_prob_sum', { keepdims: 0 });
    const loss = g.node('Neg', [g.node('Mul', [sum, invBatch], 'mean_target_log_prob')], 'loss_value');
    const dlogits = g.node('Mul', [g.node('Sub', [g.node('Exp', [logProbs], 'probs'), targets], 'probs_minus_targets'), invBatch], 'dlogits');
    return [loss, dlogits];
  }
}
