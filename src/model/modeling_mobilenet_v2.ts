/**
 * transformers' `MobileNetV2Model`, `MobileNetV2ForImageClassification` and
 * `MobileNetV2ForSemanticSegmentation`: what each class computes from the network (graph.ts, built
 * from the module tree in architecture.ts and the blocks in layers.ts) and its losses. Loading,
 * saving and running are shared in pretrained_model.ts.
 */
import type { Architecture, ProblemType } from '../config/configuration_mobilenet_v2.js';
import type { ModelFiles } from '../hub/model_files.js';
import { check } from '../errors.js';
import { formatShape, type Float32Tensor, type Tensor } from '../tensor.js';
import { OUTPUT } from './graph.js';
import { classificationLoss, effectiveProblemType, semanticSegmentationLoss } from './losses.js';
import {
  instantiatePretrained, MobileNetV2PreTrainedModel, openPretrained, type FeatureInfo, type ForwardOptions, type LoadOptions, type ModelOutput,
} from './pretrained_model.js';

export { MobileNetV2PreTrainedModel, type FeatureInfo, type ForwardOptions, type LoadOptions, type ModelOutput };

/** The bare backbone: `last_hidden_state`, `pooler_output` and optionally the hidden states. */
export class MobileNetV2Model extends MobileNetV2PreTrainedModel {
  static override readonly architecture: Architecture = 'MobileNetV2Model';

  /** Runs the backbone. */
  async forward(pixelValues: Float32Tensor, options: Pick<ForwardOptions, 'outputHiddenStates' | 'pooling'> = {}): Promise<ModelOutput> {
    const indices = this.hiddenStateIndices(options);
    const out = await this.run(pixelValues, { hiddenStates: indices, pooling: options.pooling ?? 'adaptive' });
    return {
      lastHiddenState: this.outputOf(out, OUTPUT.lastHiddenState),
      poolerOutput: this.outputOf(out, OUTPUT.poolerOutput),
      hiddenStates: this.hiddenStatesOf(out, indices),
    };
  }
}

/** Backbone + linear classifier (ImageNet-style). */
export class MobileNetV2ForImageClassification extends MobileNetV2PreTrainedModel {
  static override readonly architecture: Architecture = 'MobileNetV2ForImageClassification';

  /**
   * Computes logits (and the loss when labels are given). As in transformers, a `problem_type`
   * inferred from the labels is written into the config (and used by later calls); pass
   * `problemType` to choose one for this call only.
   */
  async forward(pixelValues: Float32Tensor, options: ForwardOptions = {}): Promise<ModelOutput> {
    const indices = this.hiddenStateIndices(options);
    const out = await this.run(pixelValues, { hiddenStates: indices, pooling: options.pooling ?? 'adaptive' });
    const logits = this.outputOf(out, OUTPUT.logits);
    const result: ModelOutput = {
      logits,
      lastHiddenState: this.outputOf(out, OUTPUT.lastHiddenState),
      poolerOutput: this.outputOf(out, OUTPUT.poolerOutput),
      hiddenStates: this.hiddenStatesOf(out, indices),
    };
    if (options.labels) {
      const problemType = effectiveProblemType(this.config, options.labels, options.problemType);
      result.loss = this.loss(logits, options.labels, problemType);
      // transformers writes an inferred problem_type into the config, which later calls then use.
      if (options.problemType === undefined) this.config.problemType = problemType;
    }
    return result;
  }

  /**
   * transformers' loss for `logits` of this model: `problemType`, else the config's, else the one
   * the labels imply. Changes nothing (unlike `forward`, which records an inferred type in the config).
   */
  loss(logits: Float32Tensor, labels: Tensor, problemType?: ProblemType): number {
    check(logits.shape.length === 2, `a loss needs [batch, labels] logits, got shape ${formatShape(logits.shape)}; use the default adaptive pooling`);
    return classificationLoss(logits, labels, effectiveProblemType(this.config, labels, problemType));
  }
}

/** Backbone (to block 15) + DeepLabV3 head. */
export class MobileNetV2ForSemanticSegmentation extends MobileNetV2PreTrainedModel {
  static override readonly architecture: Architecture = 'MobileNetV2ForSemanticSegmentation';

  /** Computes logits at feature resolution (and the loss when `[B, H, W]` labels are given). */
  async forward(pixelValues: Float32Tensor, options: ForwardOptions = {}): Promise<ModelOutput> {
    const indices = this.hiddenStateIndices(options);
    const out = await this.run(pixelValues, { hiddenStates: indices, debug: options.debug ?? false });
    const logits = this.outputOf(out, OUTPUT.logits);
    const result: ModelOutput = { logits, hiddenStates: this.hiddenStatesOf(out, indices) };
    if (options.labels) result.loss = this.loss(logits, options.labels);
    if (options.debug) {
      result.debug = Object.fromEntries([...out].filter(([k]) => k.startsWith('debug.')));
    }
    return result;
  }

  /** transformers' segmentation loss for `logits` of this model and `[B, H, W]` labels. */
  loss(logits: Float32Tensor, labels: Tensor): number {
    return semanticSegmentationLoss(logits, labels, this.config.semanticLossIgnoreIndex);
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
  const opened = await openPretrained(source, options);
  return instantiatePretrained<AnyMobileNetV2Model>(CLASSES[opened.checkpoint.config.architectures?.[0] ?? fallback], opened, options);
}
