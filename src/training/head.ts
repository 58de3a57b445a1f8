/**
 * Trains transformers' classifier head (`Linear(dim → classes)` after dropout) on frozen
 * embeddings: softmax cross-entropy with label smoothing, AdamW with decoupled weight decay, a
 * cosine or step learning-rate schedule, early stopping on validation loss (the best epoch's
 * weights are kept). Seeded and deterministic. Features are standardised for training and the
 * standardisation is folded into the saved weights.
 */
import { check } from '../errors.js';
import { adamWStep } from './adamw.js';
import { featureStats, foldStandardization, headLogits, LossTally, softmaxInPlace, type LinearHead } from './linear.js';
import { seededRandom, shuffle } from '../random.js';

/** Learning-rate schedules. */
export type Schedule = 'cosine' | 'step' | 'constant';

/** Training settings of the head; every field has a default (see {@link HEAD_DEFAULTS}). */
export interface HeadOptions {
  /** Most epochs to run. */
  epochs?: number;
  /** Peak learning rate of AdamW. */
  lr?: number;
  /** Vectors per optimiser step. */
  batchSize?: number;
  /** Decoupled weight decay of AdamW. */
  weightDecay?: number;
  /** Label smoothing ε: the target puts 1 - ε on the class and ε spread over all. */
  labelSmoothing?: number;
  /** Dropout on the embeddings while training (transformers' `classifier_dropout_prob`). */
  dropout?: number;
  /** Learning-rate schedule: cosine decay to 0, ×0.1 every third of the epochs, or constant. */
  schedule?: Schedule;
  /** Stop after this many epochs without a lower validation loss. */
  patience?: number;
  /** Seed of the initialisation, shuffles and dropout. */
  seed?: number;
  /** After early stopping, train again on training + validation vectors for the chosen number of epochs. */
  refit?: boolean;
}

/**
 * Default head settings, chosen on held-out data (three validation splits of the flowers training
 * set, scored on its val folder; see bench/README.md). The weight decay is strong (per step the
 * weights shrink by lr × decay = 0.3%) because the head has 1280 weights per class and typically
 * a few hundred images: it mostly sets how far the head may lean on any one feature. The long
 * patience lets early stopping ride out the noise of a small validation split.
 */
export const HEAD_DEFAULTS: Readonly<Required<HeadOptions>> = Object.freeze({
  epochs: 100, lr: 3e-4, batchSize: 32, weightDecay: 10, labelSmoothing: 0.1, dropout: 0.5, schedule: 'cosine', patience: 20, seed: 0, refit: true,
});

/** `defaults` with each of its keys that `options` sets (a key set to undefined counts as unset); other keys of `options` are left out. */
export function withDefaults<T extends object>(defaults: Readonly<Required<T>>, options: Partial<T>): Required<T> {
  return Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, (options as Record<string, unknown>)[k] ?? v])) as Required<T>;
}

/** Labelled vectors. */
export interface VectorSet {
  readonly vectors: readonly Float32Array[];
  readonly labels: readonly number[];
}

/** One epoch of the training log. */
export interface EpochLog {
  readonly epoch: number;
  readonly lr: number;
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly valLoss: number | null;
  readonly valAccuracy: number | null;
  readonly seconds: number;
}

/** The trained head and its log. */
export interface HeadResult {
  readonly head: LinearHead;
  /** The head before the refit, which never saw the validation vectors (for honest validation scores). */
  readonly heldOutHead: LinearHead;
  readonly epochs: EpochLog[];
  /** The epoch whose weights were kept. */
  readonly bestEpoch: number;
}

/** The learning rate of epoch `epoch` (from 0) of `epochs` under `schedule`, peaking at `lr`. */
export function learningRate(schedule: Schedule, lr: number, epoch: number, epochs: number): number {
  if (schedule === 'cosine') return lr * 0.5 * (1 + Math.cos((Math.PI * epoch) / epochs));
  if (schedule === 'step') return lr * 0.1 ** Math.floor(epoch / Math.max(1, Math.ceil(epochs / 3)));
  return lr;
}

/** Mean smoothed cross-entropy and accuracy of `head` on standardised vectors. */
function evaluateSet(head: LinearHead, set: VectorSet, smoothing: number): { loss: number; accuracy: number } {
  const tally = new LossTally(smoothing);
  const logits = new Float64Array(head.classes);
  for (let i = 0; i < set.vectors.length; i++) tally.add(headLogits(head, set.vectors[i]!, logits), set.labels[i]!);
  return tally.result();
}

function standardize(set: VectorSet, mean: Float64Array, std: Float64Array): VectorSet {
  return {
    labels: set.labels,
    vectors: set.vectors.map((v) => Float32Array.from(v, (x, j) => (x - mean[j]!) / std[j]!)),
  };
}

/**
 * Trains a `classes`-way linear head on `train`, early-stopping on `val` (when given and not empty).
 *
 * @throws MobileNetV2Error for bad settings or an empty training set.
 */
export function trainHead(train: VectorSet, val: VectorSet | null, classes: number, options: HeadOptions = {}): HeadResult {
  const o = withDefaults(HEAD_DEFAULTS, options);
  check(train.vectors.length > 0, 'no training vectors');
  check(Number.isInteger(o.epochs) && o.epochs >= 1, `epochs must be a positive integer, got ${o.epochs}`);
  check(Number.isFinite(o.lr) && o.lr > 0, `learning rate must be positive, got ${o.lr}`);
  check(Number.isInteger(o.batchSize) && o.batchSize >= 1, `batch size must be a positive integer, got ${o.batchSize}`);
  check(o.dropout >= 0 && o.dropout < 1, `dropout must be in [0, 1), got ${o.dropout}`);
  check(o.weightDecay >= 0 && o.lr * o.weightDecay < 1, `weight decay must be at least 0 and below 1 / learning rate (${1 / o.lr}), got ${o.weightDecay}`);
  check(o.labelSmoothing >= 0 && o.labelSmoothing < 1, `label smoothing must be in [0, 1), got ${o.labelSmoothing}`);
  const first = fitHead(train, val && val.vectors.length > 0 ? val : null, classes, o, o.epochs);
  if (!val || val.vectors.length === 0 || !o.refit) return first;
  // The validation set chose the epoch count; now learn from every image for that many epochs.
  const all = { vectors: [...train.vectors, ...val.vectors], labels: [...train.labels, ...val.labels] };
  return { ...first, head: fitHead(all, null, classes, o, first.bestEpoch).head };
}

/** Trains for at most `epochs` epochs (schedule over `o.epochs`), keeping the weights of the lowest validation (else training) loss. */
function fitHead(train: VectorSet, val: VectorSet | null, classes: number, o: Required<HeadOptions>, epochCount: number): HeadResult {
  const dim = train.vectors[0]!.length;
  const { mean, std } = featureStats(train.vectors, dim);
  const trainStd = standardize(train, mean, std);
  const valStd = val ? standardize(val, mean, std) : null;
  const random = seededRandom(o.seed);
  // PyTorch's Linear initialisation: uniform(±1/sqrt(dim)).
  const bound = 1 / Math.sqrt(dim);
  const head = { classes, dim, weight: Float32Array.from({ length: classes * dim }, () => (random() * 2 - 1) * bound), bias: new Float32Array(classes) };
  const m = new Float64Array(head.weight.length + classes);
  const v = new Float64Array(head.weight.length + classes);
  const grad = new Float64Array(head.weight.length + classes);
  const order = Array.from({ length: train.vectors.length }, (_, i) => i);
  const x = new Float32Array(dim);
  const p = new Float64Array(classes);
  const epochs: EpochLog[] = [];
  let best = { loss: Infinity, epoch: 0, weight: head.weight.slice(), bias: head.bias.slice() };
  let step = 0;
  for (let epoch = 0; epoch < epochCount; epoch++) {
    const started = performance.now();
    const lr = learningRate(o.schedule, o.lr, epoch, o.epochs);
    shuffle(order, random);
    for (let start = 0; start < order.length; start += o.batchSize) {
      const batch = order.slice(start, start + o.batchSize);
      grad.fill(0);
      for (const i of batch) {
        const src = trainStd.vectors[i]!;
        for (let j = 0; j < dim; j++) x[j] = random() < o.dropout ? 0 : src[j]! / (1 - o.dropout);
        softmaxInPlace(headLogits(head, x, p));
        const y = trainStd.labels[i]!;
        for (let c = 0; c < classes; c++) {
          const g = (p[c]! - ((c === y ? 1 - o.labelSmoothing : 0) + o.labelSmoothing / classes)) / batch.length;
          if (g === 0) continue;
          for (let j = 0; j < dim; j++) grad[c * dim + j]! += g * x[j]!;
          grad[head.weight.length + c]! += g;
        }
      }
      step++;
      adamW(head, grad, m, v, step, lr, o.weightDecay);
    }
    const fit = evaluateSet(head, trainStd, o.labelSmoothing);
    const held = valStd ? evaluateSet(head, valStd, o.labelSmoothing) : null;
    epochs.push({
      epoch: epoch + 1, lr, trainLoss: fit.loss, trainAccuracy: fit.accuracy,
      valLoss: held?.loss ?? null, valAccuracy: held?.accuracy ?? null, seconds: (performance.now() - started) / 1000,
    });
    // Without a validation set the last epoch is kept (the training loss keeps falling).
    const loss = held ? held.loss : -epoch;
    if (loss < best.loss) best = { loss, epoch: epoch + 1, weight: head.weight.slice(), bias: head.bias.slice() };
    else if (held && epoch + 1 - best.epoch >= o.patience) break;
  }
  const kept = foldStandardization({ classes, dim, weight: best.weight, bias: best.bias }, mean, std);
  return { head: kept, heldOutHead: kept, epochs, bestEpoch: best.epoch };
}

/** One AdamW step on the head (decay not applied to the bias); `grad`, `m`, `v` hold the weight then the bias. */
function adamW(head: LinearHead, grad: Float64Array, m: Float64Array, v: Float64Array, step: number, lr: number, decay: number): void {
  const n = head.weight.length;
  adamWStep(head.weight, grad.subarray(0, n), m.subarray(0, n), v.subarray(0, n), step, lr, decay);
  adamWStep(head.bias, grad.subarray(n), m.subarray(n), v.subarray(n), step, lr, 0);
}
