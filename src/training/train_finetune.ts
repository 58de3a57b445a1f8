/**
 * `trainClassifier` with `fineTune: K`: from the cached inputs of block 16 − K, the head is first
 * trained as without fine-tuning (on the pooled features the evaluation graph computes from those
 * inputs), then the last K blocks, `conv_1x1` and the head train together (finetune.ts): once
 * from the held-out head on the training images, scored on the validation images, and (as the
 * head's refit) once more from the refitted head on all of them. The result is the base model with
 * those tensors replaced: an ordinary transformers checkpoint.
 */
import { MobileNetV2Error } from '../errors.js';
import type { MobileNetV2ForImageClassification, AnyMobileNetV2Model } from '../model/modeling_mobilenet_v2.js';
import { checkpointKey, isBareModel, isHeadKey } from '../model/architecture.js';
import type { SessionOptions } from '../runtime/ort.js';
import { float32Tensor, type Tensor } from '../tensor.js';
import { classifierWithHead } from './classifier.js';
import type { LabeledImage } from './dataset.js';
import type { EmbeddedSet } from './embeddings.js';
import { batchesOf, fineTune, fineTuneSettings, rowsOf, type FineTuneLog, type FineTuneOptions, type MapSet, type SharedSettings } from './finetune.js';
import { fineTuneLayout } from './finetune_graph.js';
import { FineTuner } from './finetune_session.js';
import { trainHead, type EpochLog, type HeadOptions, type HeadResult } from './head.js';
import type { LinearHead } from './linear.js';
import type { EvaluationResult } from './metrics.js';
import { toVectors, validate } from './vectors.js';

/** What fine-tuning produced. */
export interface FineTuned {
  readonly model: MobileNetV2ForImageClassification;
  /** The head trained first, on the pretrained blocks. */
  readonly head: HeadResult;
  readonly log: FineTuneLog;
  readonly settings: Required<FineTuneOptions>;
  /** The validation set scored after fine-tuning on the training images alone. */
  readonly validation: EvaluationResult | null;
  /** Whether the saved model was then fine-tuned again on the training and validation images together. */
  readonly refit: boolean;
}

/** Every view's pooled features in evaluation mode, laid out as the views are. */
async function pooledViews(tuner: FineTuner, views: readonly (readonly Float32Array[])[], batchSize: number): Promise<Float32Array[][]> {
  const pooled = await rowsOf(tuner, views.flat(), batchSize, 'pooled', tuner.layout.channels);
  let next = 0;
  return views.map((v) => v.map(() => pooled[next++]!));
}

/**
 * Trains the head, then fine-tunes the last `options.blocks` blocks with it, on embedded block
 * maps (`block` = 15 − blocks); `classes` are the sorted class names.
 */
export async function fitFineTuned(
  base: AnyMobileNetV2Model, trainSet: EmbeddedSet<LabeledImage>, valSet: EmbeddedSet<LabeledImage>, classes: readonly string[],
  options: { fineTune: FineTuneOptions; head: Required<HeadOptions>; session?: SessionOptions; onFineTuneEpoch?: (log: EpochLog) => void },
): Promise<FineTuned> {
  const settings = fineTuneSettings(options.fineTune);
  const shape = trainSet.shape;
  if (shape.length !== 3) throw new MobileNetV2Error(`fine-tuning needs block maps [C, H, W], got features of shape [${shape.join(', ')}]`, { code: 'E_INTERNAL' });
  const layout = fineTuneLayout(base.config, settings.blocks, shape as [number, number, number], classes.length);
  const state = await base.getStateDict();
  const bare = isBareModel(base.architecture);
  const classifier = new Map<string, Tensor>([
    ['classifier.weight', float32Tensor(new Float32Array(classes.length * layout.channels), [classes.length, layout.channels])],
    ['classifier.bias', float32Tensor(new Float32Array(classes.length), [classes.length])],
  ]);
  const initial = (key: string): Tensor => {
    const tensor = classifier.get(key) ?? state.get(checkpointKey(key, bare));
    if (!tensor) throw new MobileNetV2Error(`the base model has no "${key}"`, { code: 'E_INTERNAL' });
    return tensor;
  };
  const tuner = await FineTuner.create(base.config, layout, initial, { batchNorm: settings.batchNorm, momentum: settings.momentum, session: options.session });
  try {
    if (settings.batchNorm === 'train') await tuner.recalibrate(batchesOf(trainSet.views.map((v) => v[0]!), settings.batchSize));
    const o = options.head;
    const pooled = { train: await pooledViews(tuner, trainSet.views, settings.batchSize), val: await pooledViews(tuner, valSet.views, settings.batchSize) };
    const head = trainHead(
      toVectors({ items: trainSet.items, views: pooled.train }, classes, 'weighted'), toVectors({ items: valSet.items, views: pooled.val }, classes, 'plain'),
      classes.length, o,
    );
    const labelsOf = (set: EmbeddedSet<LabeledImage>): MapSet => ({ views: set.views, labels: set.items.map((i) => classes.indexOf(i.label)) });
    const [train, val] = [labelsOf(trainSet), labelsOf(valSet)];
    const shared: SharedSettings = { labelSmoothing: o.labelSmoothing, dropout: o.dropout, schedule: o.schedule, seed: o.seed };
    const start = tuner.state();
    const run = (from: LinearHead, set: MapSet, scored: MapSet | null, onEpoch?: (log: EpochLog) => void) => {
      tuner.restart(start);
      tuner.tensors.set('classifier.weight', from.weight.slice());
      tuner.tensors.set('classifier.bias', from.bias.slice());
      return fineTune(tuner, set, scored, settings, shared, onEpoch);
    };
    // First from the head that never saw the validation images, which then score the result.
    const log = await run(head.heldOutHead, train, val, options.onFineTuneEpoch);
    const valLogits = await rowsOf(tuner, valSet.views.map((v) => v[0]!), settings.batchSize, 'logits', classes.length);
    const validation = validate({ vectors: valLogits, labels: val.labels }, classes, (x) => x, 0);
    // Then, as the head does, again from the head refitted on every image, on every image.
    const refit = o.refit && val.views.length > 0;
    if (refit) await run(head.head, { views: [...train.views, ...val.views], labels: [...train.labels, ...val.labels] }, null);
    const replaced = new Map<string, Tensor>();
    for (const p of layout.parameters) if (!isHeadKey(p.key)) replaced.set(p.key, float32Tensor(tuner.tensors.get(p.key)!, p.shape));
    for (const n of layout.norms) {
      replaced.set(n.runningMean, float32Tensor(tuner.tensors.get(n.runningMean)!, [n.channels]));
      replaced.set(n.runningVar, float32Tensor(tuner.tensors.get(n.runningVar)!, [n.channels]));
      replaced.set(n.numBatchesTracked, { dtype: 'int64', shape: [], data: BigInt64Array.of(tuner.batchesTracked.get(n.prefix)!) });
    }
    const weight = tuner.tensors.get('classifier.weight')!;
    const model = await classifierWithHead(base, { classes: classes.length, dim: layout.channels, weight, bias: tuner.tensors.get('classifier.bias')! }, classes, replaced);
    return { model, head, log, settings, validation, refit };
  } finally {
    await tuner.release();
  }
}
