/**
 * `MobileNetV2Config`: every field and default of transformers' `MobileNetV2Config` (spec §1),
 * read from either form of `config.json` (the full `to_dict()` or the diff that `save_pretrained`
 * writes) and written back in transformers' format.
 */
import { MobileNetV2Error } from '../errors.js';
import { describeValue, quote } from '../describe.js';
import { checkConfig, checkJsonDepth, LIMITS } from './limits.js';
import { PRETRAINED_CONFIG_DEFAULTS } from './pretrained_config_defaults.js';

/** `problem_type` values transformers knows. */
export const PROBLEM_TYPES = ['regression', 'single_label_classification', 'multi_label_classification'] as const;
/** One of {@link PROBLEM_TYPES}. */
export type ProblemType = (typeof PROBLEM_TYPES)[number];

/** Activation names transformers' `ACT2FN` maps that this library can build into a graph. */
export const SUPPORTED_ACTIVATIONS = ['relu6', 'relu', 'gelu', 'silu', 'swish', 'tanh', 'sigmoid', 'linear', 'identity'] as const;
/** One of {@link SUPPORTED_ACTIVATIONS}. */
export type HiddenAct = (typeof SUPPORTED_ACTIVATIONS)[number];

/** Model classes, as named in `architectures`. */
export const ARCHITECTURES = [
  'MobileNetV2Model',
  'MobileNetV2ForImageClassification',
  'MobileNetV2ForSemanticSegmentation',
] as const;
/** One of {@link ARCHITECTURES}. */
export type Architecture = (typeof ARCHITECTURES)[number];

/** Constructor options: any subset of the config's fields, camelCase. */
export interface MobileNetV2ConfigInit {
  numChannels?: number;
  imageSize?: number;
  depthMultiplier?: number;
  depthDivisibleBy?: number;
  minDepth?: number;
  expandRatio?: number;
  outputStride?: number;
  firstLayerIsExpansion?: boolean;
  finegrainedOutput?: boolean;
  hiddenAct?: HiddenAct;
  tfPadding?: boolean;
  classifierDropoutProb?: number;
  initializerRange?: number;
  layerNormEps?: number;
  semanticLossIgnoreIndex?: number;
  /** Class index → name; its size is `numLabels`. Defaults to `LABEL_0`, `LABEL_1`. */
  id2label?: Record<number, string>;
  /** Shortcut for `id2label` with `LABEL_i` names when only a count is known. */
  numLabels?: number;
  problemType?: ProblemType | null;
  outputHiddenStates?: boolean;
  returnDict?: boolean;
  architectures?: Architecture[] | null;
  /** Keys of config.json this class does not model; written back unchanged. */
  extra?: Record<string, unknown>;
}

type NumberField = 'numChannels' | 'imageSize' | 'depthMultiplier' | 'depthDivisibleBy' | 'minDepth' | 'expandRatio'
  | 'outputStride' | 'classifierDropoutProb' | 'initializerRange' | 'layerNormEps' | 'semanticLossIgnoreIndex';
type BoolField = 'firstLayerIsExpansion' | 'finegrainedOutput' | 'tfPadding';

const isInt = (v: number, min: number, max: number): boolean => Number.isInteger(v) && v >= min && v <= max;
const isPowerOfTwo = (v: number): boolean => Number.isInteger(v) && v > 0 && (v & (v - 1)) === 0;
const { maxChannelRounding, maxEpsOrRange } = LIMITS;

/**
 * JSON key, default and value check (bounds from {@link LIMITS}) of each MobileNetV2-specific number
 * field, in transformers' order.
 */
const NUMBER_FIELDS: ReadonlyArray<[NumberField, string, number, (v: number) => boolean, string]> = [
  ['numChannels', 'num_channels', 3, (v) => isInt(v, 1, LIMITS.maxNumChannels), `an integer from 1 to ${LIMITS.maxNumChannels}`],
  ['imageSize', 'image_size', 224, (v) => isInt(v, 1, LIMITS.maxImageSize), `an integer from 1 to ${LIMITS.maxImageSize}`],
  ['depthMultiplier', 'depth_multiplier', 1.0, (v) => v > 0 && v <= LIMITS.maxDepthMultiplier, `in (0, ${LIMITS.maxDepthMultiplier}]`],
  ['depthDivisibleBy', 'depth_divisible_by', 8, (v) => isInt(v, 1, maxChannelRounding), `an integer from 1 to ${maxChannelRounding}`],
  ['minDepth', 'min_depth', 8, (v) => isInt(v, 1, maxChannelRounding), `an integer from 1 to ${maxChannelRounding}`],
  ['expandRatio', 'expand_ratio', 6.0, (v) => v > 0 && v <= LIMITS.maxExpandRatio, `in (0, ${LIMITS.maxExpandRatio}]`],
  ['outputStride', 'output_stride', 32, (v) => isPowerOfTwo(v) && v <= LIMITS.maxOutputStride, `a power of two up to ${LIMITS.maxOutputStride}`],
  ['classifierDropoutProb', 'classifier_dropout_prob', 0.8, (v) => v >= 0 && v <= 1, 'in [0, 1]'],
  ['initializerRange', 'initializer_range', 0.02, (v) => v >= 0 && v <= maxEpsOrRange, `in [0, ${maxEpsOrRange}]`],
  ['layerNormEps', 'layer_norm_eps', 0.001, (v) => v >= 0 && v <= maxEpsOrRange, `in [0, ${maxEpsOrRange}]`],
  ['semanticLossIgnoreIndex', 'semantic_loss_ignore_index', 255, (v) => isInt(v, -LIMITS.maxAbsIgnoreIndex, LIMITS.maxAbsIgnoreIndex),
    `an integer of at most ${LIMITS.maxAbsIgnoreIndex} in magnitude`],
];
const BOOL_FIELDS: ReadonlyArray<[BoolField, string, boolean]> = [
  ['firstLayerIsExpansion', 'first_layer_is_expansion', true],
  ['finegrainedOutput', 'finegrained_output', true],
  ['tfPadding', 'tf_padding', true],
];
/** JSON keys this class reads itself; everything else in a config.json goes to `extra`. */
const OWN_KEYS = new Set<string>([
  ...NUMBER_FIELDS.map((f) => f[1]), ...BOOL_FIELDS.map((f) => f[1]), 'hidden_act', 'id2label', 'label2id',
  'num_labels', 'problem_type', 'output_hidden_states', 'return_dict', 'architectures', 'model_type',
]);

/** The `transformers_version` written into saved configs. */
export const TRANSFORMERS_VERSION = '4.56.0';

/** Checks that `id2label` maps exactly the indices 0..n-1 (n ≤ the label limit) to strings. */
function checkId2label(id2label: Record<number, string>): void {
  checkConfig(typeof id2label === 'object' && id2label !== null && !Array.isArray(id2label), 'config field "id2label" must be an object');
  const keys = Object.keys(id2label);
  checkConfig(keys.length <= LIMITS.maxLabels, () => `config field "id2label" has ${keys.length} labels, more than the limit of ${LIMITS.maxLabels}`);
  // Integer-like keys enumerate in ascending order, so 0..n-1 means keys[i] === String(i).
  const bad = keys.findIndex((k, i) => k !== String(i));
  checkConfig(bad < 0, () => `config field "id2label" must have the keys 0..${keys.length - 1}, but has ${quote(keys[bad]!)}`);
  const notString = keys.find((k) => typeof id2label[Number(k)] !== 'string');
  checkConfig(notString === undefined, () => `config field "id2label" maps ${notString} to ${describeValue(id2label[Number(notString)])}, not a string`);
}

function defaultId2label(n: number): Record<number, string> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [i, `LABEL_${i}`]));
}

/** Configuration of a MobileNetV2 model, with transformers' defaults and validation. */
export class MobileNetV2Config {
  /** Input channels. */ readonly numChannels!: number;
  /** Training resolution (informational; the model accepts any size ≥ 1). */ readonly imageSize!: number;
  /** Width multiplier. */ readonly depthMultiplier!: number;
  /** Channel rounding divisor. */ readonly depthDivisibleBy!: number;
  /** Minimum channels of any layer. */ readonly minDepth!: number;
  /** Expansion factor of the inverted residuals. */ readonly expandRatio!: number;
  /** Total stride at which the backbone switches to dilation (8, 16, 32, …). */ readonly outputStride!: number;
  /** False adds a 1×1 expansion conv to the stem. */ readonly firstLayerIsExpansion!: boolean;
  /** Keep 1280 channels in conv_1x1 when the depth multiplier is below 1. */ readonly finegrainedOutput!: boolean;
  /** Backbone activation. */ readonly hiddenAct: HiddenAct;
  /** TensorFlow "SAME" padding (true) or PyTorch symmetric padding (false). */ readonly tfPadding!: boolean;
  /** Dropout before the classifier (inference: unused). */ readonly classifierDropoutProb!: number;
  /** Std of the normal weight init for freshly initialised weights. */ readonly initializerRange!: number;
  /** BatchNorm eps of the backbone. */ readonly layerNormEps!: number;
  /** Label ignored by the segmentation loss. */ readonly semanticLossIgnoreIndex!: number;
  /** Class index → name. */ readonly id2label: Readonly<Record<number, string>>;
  /** Loss type; null means inferred from the labels at loss time. */ problemType: ProblemType | null;
  /** Return the 16 block outputs by default. */ readonly outputHiddenStates: boolean;
  /** transformers' `return_dict` (kept for round-tripping). */ readonly returnDict: boolean;
  /** Model classes this checkpoint was saved from. */ readonly architectures: Architecture[] | null;
  /** Unmodelled keys of the source JSON, written back as they were. */ readonly extra: Readonly<Record<string, unknown>>;

  /** Builds a config; omitted fields take transformers' defaults. Throws on invalid values. */
  constructor(init: MobileNetV2ConfigInit = {}) {
    for (const [field, key, fallback, valid, rule] of NUMBER_FIELDS) {
      const value = init[field] ?? fallback;
      checkConfig(typeof value === 'number' && Number.isFinite(value) && valid(value),
        () => `config field "${key}" must be ${rule}, got ${describeValue(value)}`);
      this[field] = value;
    }
    for (const [field, key, fallback] of BOOL_FIELDS) {
      const value = init[field] ?? fallback;
      checkConfig(typeof value === 'boolean', () => `config field "${key}" must be true or false, got ${describeValue(value)}`);
      this[field] = value;
    }
    const act = init.hiddenAct ?? 'relu6';
    checkConfig((SUPPORTED_ACTIVATIONS as readonly string[]).includes(act),
      () => `config field "hidden_act" is ${describeValue(act)}; supported: ${SUPPORTED_ACTIVATIONS.join(', ')}`);
    this.hiddenAct = act;
    const problemType = init.problemType ?? null;
    checkConfig(problemType === null || (PROBLEM_TYPES as readonly string[]).includes(problemType),
      () => `config field "problem_type" is ${describeValue(problemType)}; expected regression, single_label_classification or multi_label_classification`);
    this.problemType = problemType;
    if (init.id2label) {
      checkId2label(init.id2label);
      this.id2label = { ...init.id2label };
    } else {
      const n = init.numLabels ?? 2;
      checkConfig(Number.isInteger(n) && n >= 0 && n <= LIMITS.maxLabels,
        () => `config field "num_labels" must be an integer from 0 to ${LIMITS.maxLabels}, got ${describeValue(n)}`);
      this.id2label = defaultId2label(n);
    }
    checkConfig(init.architectures == null || Array.isArray(init.architectures), 'config field "architectures" must be a list of class names');
    for (const arch of init.architectures ?? []) {
      checkConfig((ARCHITECTURES as readonly string[]).includes(arch),
        () => `config field "architectures" names ${describeValue(arch)}; supported: ${ARCHITECTURES.join(', ')}`);
    }
    this.architectures = init.architectures ? [...init.architectures] : null;
    this.outputHiddenStates = init.outputHiddenStates ?? false;
    this.returnDict = init.returnDict ?? true;
    this.extra = { ...init.extra };
  }

  /** Number of classes (`len(id2label)`). */
  get numLabels(): number {
    return Object.keys(this.id2label).length;
  }

  /** Class name → index, derived from `id2label`. */
  get label2id(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.id2label).map(([i, name]) => [name, Number(i)]));
  }

  /** A copy with some fields replaced (e.g. `{ problemType: 'regression' }` or new labels). */
  with(changes: MobileNetV2ConfigInit): MobileNetV2Config {
    return new MobileNetV2Config({ ...this.toInit(), ...changes });
  }

  /** The constructor options that rebuild this config. */
  toInit(): MobileNetV2ConfigInit {
    const init: MobileNetV2ConfigInit = {
      hiddenAct: this.hiddenAct, id2label: this.id2label, problemType: this.problemType,
      outputHiddenStates: this.outputHiddenStates, returnDict: this.returnDict, architectures: this.architectures,
      extra: this.extra,
    };
    for (const [field] of NUMBER_FIELDS) init[field] = this[field];
    for (const [field] of BOOL_FIELDS) init[field] = this[field];
    return init;
  }

  /**
   * Parses a `config.json` object (full or diff form). Missing keys take the defaults; `id2label`
   * keys are strings in JSON and become numbers; a `model_type` other than `mobilenet_v2` is
   * rejected. `source` names the file in error messages.
   */
  static fromJSON(json: unknown, source = 'config.json'): MobileNetV2Config {
    const init: MobileNetV2ConfigInit = { extra: {} };
    try {
      checkConfig(typeof json === 'object' && json !== null && !Array.isArray(json), 'expected a JSON object');
      checkJsonDepth(json, 'the JSON');
      const obj = json as Record<string, unknown>;
      const modelType = obj['model_type'];
      checkConfig(modelType === undefined || modelType === 'mobilenet_v2', () => `model_type is ${describeValue(modelType)}, not "mobilenet_v2"`);
      const typed = <T>(key: string, type: string): T | undefined => {
        const v = obj[key];
        if (v === undefined || v === null) return undefined;
        checkConfig(typeof v === type, () => `field "${key}" must be a ${type}, got ${describeValue(v)}`);
        return v as T;
      };
      for (const [field, key] of NUMBER_FIELDS) init[field] = typed<number>(key, 'number');
      for (const [field, key] of BOOL_FIELDS) init[field] = typed<boolean>(key, 'boolean');
      init.hiddenAct = typed<HiddenAct>('hidden_act', 'string');
      init.problemType = typed<ProblemType>('problem_type', 'string') ?? null;
      init.outputHiddenStates = typed<boolean>('output_hidden_states', 'boolean');
      init.returnDict = typed<boolean>('return_dict', 'boolean');
      const id2label = obj['id2label'];
      if (id2label !== undefined && id2label !== null) {
        checkConfig(typeof id2label === 'object' && !Array.isArray(id2label), 'field "id2label" must be an object');
        const entries = Object.entries(id2label as Record<string, unknown>);
        checkConfig(entries.length <= LIMITS.maxLabels, () => `field "id2label" has ${entries.length} labels, more than the limit of ${LIMITS.maxLabels}`);
        init.id2label = {};
        for (const [k, name] of entries) {
          checkConfig(/^\d+$/.test(k), () => `field "id2label" has a non-integer key ${describeValue(k)}`);
          checkConfig(typeof name === 'string' || typeof name === 'number', () => `field "id2label" maps ${k} to ${describeValue(name)}, not a name`);
          init.id2label[Number(k)] = String(name);
        }
      } else {
        init.numLabels = typed<number>('num_labels', 'number');
      }
      const arch = obj['architectures'];
      if (arch !== undefined && arch !== null) {
        checkConfig(Array.isArray(arch) && arch.every((a) => typeof a === 'string'), `field "architectures" must be a list of class names`);
        init.architectures = arch as Architecture[];
      }
      for (const [k, v] of Object.entries(obj)) if (!OWN_KEYS.has(k)) init.extra![k] = v;
      return new MobileNetV2Config(init);
    } catch (err) {
      if (err instanceof MobileNetV2Error && !err.message.startsWith(source)) {
        throw new MobileNetV2Error(`${source}: ${err.message}`, { code: err.code, cause: err });
      }
      throw err;
    }
  }

  /**
   * The config as transformers writes it. `diff: true` (the default, what `save_pretrained` writes)
   * omits generic `PretrainedConfig` fields left at their defaults; MobileNetV2's own fields are
   * always written, as transformers does. `diff: false` is the full `to_dict()` form.
   */
  toJSON(options: { diff?: boolean } = {}): Record<string, unknown> {
    const diff = options.diff ?? true;
    const out: Record<string, unknown> = diff ? {} : { ...PRETRAINED_CONFIG_DEFAULTS };
    for (const [k, v] of Object.entries(this.extra)) {
      const isDefault = k in PRETRAINED_CONFIG_DEFAULTS && JSON.stringify(v) === JSON.stringify(PRETRAINED_CONFIG_DEFAULTS[k]);
      if (!diff || !isDefault) out[k] = v;
    }
    for (const [field, key] of NUMBER_FIELDS) out[key] = this[field];
    for (const [field, key] of BOOL_FIELDS) out[key] = this[field];
    out['hidden_act'] = this.hiddenAct;
    const defaultLabels = JSON.stringify(this.id2label) === JSON.stringify(defaultId2label(2));
    if (!diff || !defaultLabels) {
      out['id2label'] = Object.fromEntries(Object.entries(this.id2label).map(([k, v]) => [String(k), v]));
      out['label2id'] = this.label2id;
    }
    if (!diff || this.problemType !== null) out['problem_type'] = this.problemType;
    if (!diff || this.outputHiddenStates) out['output_hidden_states'] = this.outputHiddenStates;
    if (!diff || !this.returnDict) out['return_dict'] = this.returnDict;
    if (this.architectures) out['architectures'] = this.architectures;
    out['model_type'] = 'mobilenet_v2';
    out['transformers_version'] ??= TRANSFORMERS_VERSION;
    return Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
  }
}
