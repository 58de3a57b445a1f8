/**
 * Between linear heads and checkpoints: a base model's classifier as a head, and a head plus a
 * backbone as a transformers `MobileNetV2ForImageClassification` (the key table transformers saves).
 */
import { MobileNetV2Error } from '../errors.js';
import { checkpointKey, isBareModel, isHeadKey } from '../model/architecture.js';
import { MobileNetV2ForImageClassification, type AnyMobileNetV2Model } from '../model/modeling_mobilenet_v2.js';
import type { StateDict } from '../model/loading.js';
import { float32Tensor, type Tensor } from '../tensor.js';
import type { LinearHead } from './linear.js';

/** The classifier of a classification model as a head, or null for other models. */
export async function headOf(model: AnyMobileNetV2Model): Promise<LinearHead | null> {
  if (!(model instanceof MobileNetV2ForImageClassification)) return null;
  const state = await model.getStateDict();
  const weight = state.get('classifier.weight');
  const bias = state.get('classifier.bias');
  if (weight?.dtype !== 'float32' || bias?.dtype !== 'float32') {
    throw new MobileNetV2Error(`${model.architecture} has no float32 classifier.weight/bias`, { code: 'E_CHECKPOINT_MISMATCH' });
  }
  return { classes: weight.shape[0]!, dim: weight.shape[1]!, weight: weight.data as Float32Array, bias: bias.data as Float32Array };
}

/**
 * A classification model: `base`'s backbone with `head` as its classifier and `labels` as its
 * classes, and the backbone tensors in `replaced` (keys in any class's layout: fine-tuned blocks)
 * instead of the base's. Quantization records of the base are dropped (they describe the old
 * classifier and activations).
 */
export async function classifierWithHead(
  base: AnyMobileNetV2Model, head: LinearHead, labels: readonly string[], replaced: ReadonlyMap<string, Tensor> = new Map(),
): Promise<MobileNetV2ForImageClassification> {
  const bare = isBareModel(base.architecture);
  const state: StateDict = new Map([...(await base.getStateDict())].filter(([k]) => !isHeadKey(k)));
  for (const [key, tensor] of replaced) state.set(checkpointKey(key, bare), tensor);
  state.set('classifier.weight', float32Tensor(head.weight, [head.classes, head.dim]));
  state.set('classifier.bias', float32Tensor(head.bias, [head.classes]));
  const config = base.config.with({
    architectures: ['MobileNetV2ForImageClassification'],
    id2label: Object.fromEntries(labels.map((label, i) => [i, label])),
  });
  return MobileNetV2ForImageClassification.fromStateDict(config, state, base.sessionOptions);
}
