/**
 * Fine-tuning the last blocks with the head: epochs of shuffled batches over the cached block
 * inputs (one view of each image per epoch), AdamW with a cosine schedule to 0, and validation in
 * evaluation mode after every epoch, for the log. The last epoch's tensors are kept: no early
 * stopping, since a validation split of a few dozen images cannot tell the small, slow gains of
 * fine-tuning from noise (on the flowers split it kept the first epochs, below the last one's
 * score; see bench/README.md).
 */
import { check } from '../errors.js';
import type { BatchNormMode } from './finetune_graph.js';
import type { FineTuneBatch, FineTuner } from './finetune_session.js';
import { learningRate, withDefaults, type EpochLog, type Schedule } from './head.js';
import { LossTally } from './linear.js';
import { seededRandom, shuffle, type Random } from '../random.js';

/** Settings of fine-tuning; every field but `blocks` has a default (see {@link FINE_TUNE_DEFAULTS}). */
export interface FineTuneOptions {
  /** Inverted-residual blocks trained with `conv_1x1` and the head (the last ones; 1..15). */
  readonly blocks: number;
  /** Epochs (the learning rate follows the head's schedule over them). */
  readonly epochs?: number;
  /** Peak AdamW learning rate. */
  readonly lr?: number;
  /** Images per step. */
  readonly batchSize?: number;
  /** Decoupled weight decay of the conv and classifier weights. */
  readonly weightDecay?: number;
  /** BatchNorm in training mode or frozen (see {@link BatchNormMode}). */
  readonly batchNorm?: BatchNormMode;
  /**
   * Momentum of the running statistics with `batchNorm: 'train'`, in PyTorch's meaning
   * (`running = (1 − m)·running + m·batch`). The default is PyTorch's 0.1; transformers' module
   * declares 0.997 (TF's decay taken as PyTorch's momentum), which leaves the last batch's statistics.
   */
  readonly momentum?: number;
}

/**
 * Default fine-tuning settings, chosen on two tasks (see bench/README.md): the flowers split, where
 * the head on the pretrained features is near what 400 thumbnails support and no setting moved
 * fine-tuning clear of it, and upright vs upside-down flowers, which pooled ImageNet features
 * barely separate and the blocks must learn. There 1e-4 (a third of the head's rate) gained 10.5
 * points over the head in the tuning runs, against 4.5 at 1e-5 and 10 at 3e-4; on the flowers every
 * rate from 1e-5 to 1e-4 scored within the noise of the head. BatchNorm is frozen (see
 * {@link BatchNormMode}).
 */
export const FINE_TUNE_DEFAULTS: Readonly<Required<Omit<FineTuneOptions, 'blocks'>>> = Object.freeze({
  epochs: 20, lr: 1e-4, batchSize: 32, weightDecay: 0.01, batchNorm: 'frozen', momentum: 0.1,
});

/**
 * Augmented views per image when fine-tuning and the caller sets none (the head alone defaults to
 * none). The blocks hold a million weights: with only the plain view of a few hundred images they
 * memorise them within a few epochs. Four views added 3.5 points to fine-tuning on both tasks above
 * in the tuning runs, and 1.5 on the flowers in the benchmark, for 5× the embedding time (seconds,
 * against minutes of fine-tuning).
 */
export const FINE_TUNE_AUGMENT = 4;

/** Block inputs of a set of images: each image's views (plain first) and its class. */
export interface MapSet {
  readonly views: readonly (readonly Float32Array[])[];
  readonly labels: readonly number[];
}

/** Settings shared with the head trainer. */
export interface SharedSettings {
  readonly labelSmoothing: number;
  readonly dropout: number;
  readonly schedule: Schedule;
  readonly seed: number;
}

/** The fine-tuning log. */
export interface FineTuneLog {
  readonly epochs: EpochLog[];
  /** Validation loss and accuracy before fine-tuning (the head on the pretrained blocks; null without a validation set). */
  readonly before: { loss: number; accuracy: number } | null;
}

/** Validates fine-tuning settings and fills in the defaults. */
export function fineTuneSettings(options: FineTuneOptions): Required<FineTuneOptions> {
  const o: Required<FineTuneOptions> = { ...withDefaults(FINE_TUNE_DEFAULTS, options), blocks: options.blocks };
  check(Number.isInteger(o.blocks) && o.blocks >= 1 && o.blocks <= 15, `fine-tune needs a block count from 1 to 15, got ${o.blocks}`);
  check(Number.isInteger(o.epochs) && o.epochs >= 1, `fine-tune epochs must be a positive integer, got ${o.epochs}`);
  check(Number.isFinite(o.lr) && o.lr > 0, `fine-tune learning rate must be positive, got ${o.lr}`);
  check(Number.isInteger(o.batchSize) && o.batchSize >= 2, `fine-tune batch size must be an integer of at least 2, got ${o.batchSize}`);
  check(o.weightDecay >= 0 && o.lr * o.weightDecay < 1, `fine-tune weight decay must be at least 0 and below 1 / learning rate, got ${o.weightDecay}`);
  check(o.batchNorm === 'train' || o.batchNorm === 'frozen', `batch norm mode must be train or frozen, got ${JSON.stringify(o.batchNorm)}`);
  check(o.momentum > 0 && o.momentum <= 1, `batch norm momentum must be in (0, 1], got ${o.momentum}`);
  return o;
}

/** A batch of the images `indices` (view chosen by `view`), targets smoothed by `smoothing`, a fresh dropout mask. */
function makeBatch(
  tuner: FineTuner, set: MapSet, indices: readonly number[], view: (image: number) => Float32Array, shared: SharedSettings, random: Random,
): FineTuneBatch {
  const { classes, channels } = tuner.layout;
  const size = indices.length;
  const first = view(indices[0]!);
  const inputs = new Float32Array(size * first.length);
  const targets = new Float32Array(size * classes).fill(shared.labelSmoothing / classes);
  indices.forEach((image, b) => {
    inputs.set(b === 0 ? first : view(image), b * first.length);
    targets[b * classes + set.labels[image]!]! += 1 - shared.labelSmoothing;
  });
  const keep = 1 / (1 - shared.dropout);
  const dropoutMask = Float32Array.from({ length: size * channels }, () => (random() < shared.dropout ? 0 : keep));
  return { inputs, size, targets, dropoutMask };
}

/** `maps` in batches of `batchSize`, each one flat `[B, C, H, W]` input. */
export function* batchesOf(maps: readonly Float32Array[], batchSize: number): Generator<{ inputs: Float32Array; size: number }> {
  for (let start = 0; start < maps.length; start += batchSize) {
    const chunk = maps.slice(start, start + batchSize);
    const inputs = new Float32Array(chunk.length * chunk[0]!.length);
    chunk.forEach((m, b) => inputs.set(m, b * m.length));
    yield { inputs, size: chunk.length };
  }
}

/** Evaluation-mode `output` (logits or pooled features) of each map, `width` values each. */
export async function rowsOf(tuner: FineTuner, maps: readonly Float32Array[], batchSize: number, output: 'logits' | 'pooled', width: number): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (const { inputs, size } of batchesOf(maps, batchSize)) {
    const out = (await tuner.logits(inputs, size))[output];
    for (let b = 0; b < size; b++) rows.push(out.slice(b * width, (b + 1) * width));
  }
  return rows;
}

/** Validation loss and accuracy of the plain views in evaluation mode, in batches. */
async function evaluateMaps(tuner: FineTuner, set: MapSet, smoothing: number, batchSize: number): Promise<{ loss: number; accuracy: number }> {
  const tally = new LossTally(smoothing);
  const rows = await rowsOf(tuner, set.views.map((v) => v[0]!), batchSize, 'logits', tuner.layout.classes);
  rows.forEach((row, i) => tally.add(Float64Array.from(row), set.labels[i]!));
  return tally.result();
}

/** Fine-tunes `tuner` (its head already trained) on `train` with settings `o` (see {@link fineTuneSettings}), scoring `val` after every epoch. */
export async function fineTune(
  tuner: FineTuner, train: MapSet, val: MapSet | null, o: Required<FineTuneOptions>, shared: SharedSettings, onEpoch?: (log: EpochLog) => void | Promise<void>,
): Promise<FineTuneLog> {
  const random = seededRandom(shared.seed + 1);
  const order = Array.from({ length: train.views.length }, (_, i) => i);
  // Images are classified from their plain view: it is half of what each image shows the blocks.
  const pickView = (image: number) => {
    const views = train.views[image]!;
    return views.length === 1 || random() < 0.5 ? views[0]! : views[1 + Math.floor(random() * (views.length - 1))]!;
  };
  const held = val && val.views.length > 0 ? val : null;
  const evaluate = () => (held ? evaluateMaps(tuner, held, shared.labelSmoothing, o.batchSize) : Promise.resolve(null));
  const before = await evaluate();
  const epochs: EpochLog[] = [];
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const started = performance.now();
    const lr = learningRate(shared.schedule, o.lr, epoch, o.epochs);
    shuffle(order, random);
    const tally = { loss: 0, correct: 0 };
    // A last batch of one image has no batch statistics worth the name: it joins the one before.
    for (let start = 0; start < order.length; start += o.batchSize) {
      const end = order.length - (start + o.batchSize) === 1 ? order.length : Math.min(order.length, start + o.batchSize);
      const indices = order.slice(start, end);
      const batch = makeBatch(tuner, train, indices, pickView, shared, random);
      const { loss, logits } = await tuner.step(batch, { lr, weightDecay: o.weightDecay });
      tally.loss += loss * indices.length;
      indices.forEach((image, b) => {
        const row = logits.subarray(b * tuner.layout.classes, (b + 1) * tuner.layout.classes);
        if (row.indexOf(Math.max(...row)) === train.labels[image]) tally.correct++;
      });
      if (end === order.length) break;
    }
    const validation = await evaluate();
    const log: EpochLog = {
      epoch: epoch + 1, lr, trainLoss: tally.loss / order.length, trainAccuracy: tally.correct / order.length,
      valLoss: validation?.loss ?? null, valAccuracy: validation?.accuracy ?? null, seconds: (performance.now() - started) / 1000,
    };
    epochs.push(log);
    await onEpoch?.(log);
  }
  return { epochs, before };
}
