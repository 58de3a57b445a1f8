/**
 * From a checkpoint's state dict to the exact parameter set a model class needs, as transformers'
 * `from_pretrained` does it: the `mobilenet_v2.` base-model prefix is added or stripped when a
 * checkpoint saved from one class is loaded into another, head weights the checkpoint lacks are
 * freshly initialised, and leftovers are reported. Every key's shape is checked against the config.
 */
import { MobileNetV2Error, check } from '../errors.js';
import { formatShape, numel, type Tensor } from '../tensor.js';
import { seededRandom } from '../random.js';
import { toFloat32 } from '../weights/dtype.js';
import { checkpointKey, hasBasePrefix, isHeadKey } from './architecture.js';
import type { ParameterSpec } from './layers.js';

/** A checkpoint: parameter name → tensor. */
export type StateDict = Map<string, Tensor>;

/** What loading a checkpoint into a model class found (transformers' `loading_info`). */
export interface LoadReport {
  /** Expected keys the checkpoint lacked; they were freshly initialised. */
  readonly missingKeys: string[];
  /** Checkpoint keys the model class does not use; they were dropped. */
  readonly unexpectedKeys: string[];
}

/** Deterministic N(0, 1) samples (Box–Muller on {@link seededRandom}), so fresh heads are reproducible. */
function normalSampler(seed: number): () => number {
  const uniform = seededRandom(seed);
  // 1 − u lies in (0, 1]: the logarithm never sees 0.
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function initialise(spec: ParameterSpec, initializerRange: number, normal: () => number): Tensor {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.init === 'count') return { dtype: 'int64', shape: [], data: new BigInt64Array(1) };
  const data = new Float32Array(n);
  if (spec.init === 'ones') data.fill(1);
  if (spec.init === 'normal') for (let i = 0; i < n; i++) data[i] = normal() * initializerRange;
  return { dtype: 'float32', shape: [...spec.shape], data };
}

/** What validation needs to know of a checkpoint tensor: its dtype and shape, not its data. */
export type TensorDescription = Pick<Tensor, 'dtype' | 'shape'>;

/**
 * Maps checkpoint keys onto the model's expected keys when their layouts differ, as transformers
 * does: a head model given a bare backbone checkpoint gets the prefix added; a bare model given a
 * head checkpoint gets it stripped.
 */
function alignPrefix<T>(checkpoint: ReadonlyMap<string, T>, expected: readonly ParameterSpec[]): Map<string, T> {
  const modelBare = !expected.some((p) => hasBasePrefix(p.key));
  const checkpointBare = ![...checkpoint.keys()].some(hasBasePrefix);
  if (modelBare === checkpointBare) return new Map(checkpoint);
  return new Map([...checkpoint].map(([key, tensor]) => [checkpointKey(key, modelBare), tensor]));
}

/**
 * Checks a checkpoint's tensor descriptions against the parameters a model class owns — before any
 * tensor data is read — and reports missing and unexpected keys.
 *
 * @param expected every parameter the model class owns, in `state_dict()` order.
 * @param source names the checkpoint in error messages; `null` for a freshly initialised model
 *   (transformers' `Model(config)`), where every key is expected to be missing.
 * @throws MobileNetV2Error when a key has the wrong shape or a non-numeric dtype, or when no
 *   expected backbone key is present at all (a checkpoint of some other model).
 */
export function checkCheckpoint(
  checkpoint: ReadonlyMap<string, TensorDescription>,
  expected: readonly ParameterSpec[],
  source: string | null,
): LoadReport {
  const where = source ?? 'state dict';
  const aligned = alignPrefix(checkpoint, expected);
  const missingKeys: string[] = [];
  for (const spec of expected) {
    const tensor = aligned.get(spec.key);
    if (!tensor) {
      missingKeys.push(spec.key);
      continue;
    }
    // num_batches_tracked is a 0-d tensor in torch, but some writers store it as [1].
    const scalarCount = spec.init === 'count' && numel(tensor.shape) === 1;
    check(
      scalarCount || (tensor.shape.length === spec.shape.length && tensor.shape.every((d, i) => d === spec.shape[i])),
      () => `${where}: weight "${spec.key}" has shape ${formatShape(tensor.shape)} but the config needs ${formatShape(spec.shape)}`,
    );
    if (spec.init === 'count') check(tensor.dtype === 'int64', `${where}: "${spec.key}" must be int64, got ${tensor.dtype}`);
    else check(tensor.dtype !== 'bool', `${where}: weight "${spec.key}" has dtype bool`);
  }
  const backboneMissing = expected.filter((p) => !isHeadKey(p.key))
    .every((p) => missingKeys.includes(p.key));
  if (backboneMissing && source !== null) {
    throw new MobileNetV2Error(
      `${source}: none of the MobileNetV2 weights were found (first expected key "${expected[0]?.key}"; ` +
        `the checkpoint has ${checkpoint.size} tensors${checkpoint.size ? `, e.g. "${[...checkpoint.keys()][0]}"` : ''})`,
      { code: 'E_CHECKPOINT_MISMATCH' },
    );
  }
  const expectedKeys = new Set(expected.map((p) => p.key));
  const unused = new Set(expected.filter((p) => p.unused).map((p) => p.key));
  return {
    // num_batches_tracked only counts training steps; transformers does not warn about it either.
    missingKeys: missingKeys.filter((k) => !k.endsWith('num_batches_tracked') && !unused.has(k)),
    unexpectedKeys: [...aligned.keys()].filter((k) => !expectedKeys.has(k)),
  };
}

/**
 * Builds the model's complete state dict from a checkpoint (checked with {@link checkCheckpoint}):
 * float weights become float32, `num_batches_tracked` an int64 scalar, and missing keys are
 * initialised as transformers' `_init_weights` does (normal(0, initializer_range) weights, zero
 * biases, unit BatchNorm) with a fixed seed, so every call gives the same weights.
 */
export function loadStateDict(
  checkpoint: StateDict,
  expected: readonly ParameterSpec[],
  initializerRange: number,
  source: string | null,
): { stateDict: StateDict; report: LoadReport } {
  const report = checkCheckpoint(checkpoint, expected, source);
  const aligned = alignPrefix(checkpoint, expected);
  const normal = normalSampler(42);
  const stateDict: StateDict = new Map();
  for (const spec of expected) {
    const tensor = aligned.get(spec.key);
    if (!tensor) stateDict.set(spec.key, initialise(spec, initializerRange, normal));
    else if (spec.init === 'count') stateDict.set(spec.key, { dtype: 'int64', shape: [], data: tensor.data });
    else stateDict.set(spec.key, { dtype: 'float32', shape: [...spec.shape], data: toFloat32(tensor) });
  }
  return { stateDict, report };
}
