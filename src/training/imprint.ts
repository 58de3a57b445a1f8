/**
 * Few-shot heads without gradient descent. Weight imprinting (as Coral's imprinting engine does):
 * each class's row is its normalised mean embedding, so the linear layer scores cosine similarity.
 * And `--keep-classes`: new rows appended under a base classifier's rows, which stay untouched.
 */
import { check } from '../errors.js';
import { featureStats, headLogits, type LinearHead } from './linear.js';
import type { VectorSet } from './head.js';

/** Logit of a perfect cosine match in an imprinted head (a softmax temperature). */
export const IMPRINT_SCALE = 10;
/** Share of the new classes' training images whose new row must beat every base row (`--keep-classes`). */
export const KEEP_CLASSES_QUANTILE = 0.9;

function normalize(v: Float64Array): Float64Array {
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

/**
 * Imprinted head: rows are the normalised means of the (centred, normalised) embeddings of each
 * class. Centring on the training mean is folded into the bias, so the head runs on raw
 * embeddings: `logit_c = s · ŵ_c · (x − μ)`, with `s` making a perfect match worth
 * {@link IMPRINT_SCALE}.
 */
export function imprintHead(train: VectorSet, classes: number): LinearHead {
  check(train.vectors.length > 0, 'no training vectors');
  const dim = train.vectors[0]!.length;
  const { mean } = featureStats(train.vectors, dim);
  const sums = Array.from({ length: classes }, () => new Float64Array(dim));
  let norms = 0;
  for (const [i, v] of train.vectors.entries()) {
    const difference = Float64Array.from(v, (x, j) => x - mean[j]!);
    const centred = normalize(difference);
    norms += Math.hypot(...difference);
    const sum = sums[train.labels[i]!]!;
    for (let j = 0; j < dim; j++) sum[j]! += centred[j]!;
  }
  const scale = IMPRINT_SCALE / (norms / train.vectors.length || 1);
  const weight = new Float32Array(classes * dim);
  const bias = new Float32Array(classes);
  sums.forEach((sum, c) => {
    const row = normalize(sum);
    let shift = 0;
    for (let j = 0; j < dim; j++) {
      weight[c * dim + j] = scale * row[j]!;
      shift += scale * row[j]! * mean[j]!;
    }
    bias[c] = -shift;
  });
  return { classes, dim, weight, bias };
}

/**
 * Appends `added`'s rows below `base`'s. The new rows are scaled so that, on
 * {@link KEEP_CLASSES_QUANTILE} of the new classes' training images, the right new class outscores
 * every base class; images of other things keep the base model's answer.
 */
export function appendClasses(base: LinearHead, added: LinearHead, train: VectorSet): LinearHead {
  check(base.dim === added.dim, `the base classifier takes ${base.dim}-d features but the new rows ${added.dim}-d`);
  const ratios: number[] = [];
  const baseLogits = new Float64Array(base.classes);
  const newLogits = new Float64Array(added.classes);
  for (const [i, v] of train.vectors.entries()) {
    const oldBest = Math.max(...headLogits(base, v, baseLogits));
    const own = headLogits(added, v, newLogits)[train.labels[i]!]!;
    if (own > 0) ratios.push(oldBest / own);
  }
  ratios.sort((a, b) => a - b);
  const scale = Math.max(1, ratios.length ? ratios[Math.min(ratios.length - 1, Math.floor(KEEP_CLASSES_QUANTILE * ratios.length))]! : 1);
  const weight = new Float32Array((base.classes + added.classes) * base.dim);
  weight.set(base.weight);
  weight.set(added.weight.map((w) => w * scale), base.weight.length);
  const bias = new Float32Array(base.classes + added.classes);
  bias.set(base.bias);
  bias.set(added.bias.map((b) => b * scale), base.classes);
  return { classes: base.classes + added.classes, dim: base.dim, weight, bias };
}
