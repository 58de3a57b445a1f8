/** A linear classifier `logits = W x + b` over embeddings, as transformers' `classifier` Linear stores it. */

/** Weights `[classes, dim]` row-major and bias `[classes]`. */
export interface LinearHead {
  readonly classes: number;
  readonly dim: number;
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/** Logits of one vector into `out` (length `classes`). */
export function headLogits(head: LinearHead, x: ArrayLike<number>, out: Float64Array = new Float64Array(head.classes)): Float64Array {
  const { classes, dim, weight, bias } = head;
  for (let c = 0; c < classes; c++) {
    let sum = bias[c]!;
    const row = c * dim;
    for (let j = 0; j < dim; j++) sum += weight[row + j]! * x[j]!;
    out[c] = sum;
  }
  return out;
}

/** Softmax of `logits` in place; returns it. */
export function softmaxInPlace(logits: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (let c = 0; c < logits.length; c++) sum += logits[c] = Math.exp(logits[c]! - max);
  for (let c = 0; c < logits.length; c++) logits[c]! /= sum;
  return logits;
}

/** Mean smoothed cross-entropy and accuracy of rows of logits, added one at a time. */
export class LossTally {
  private loss = 0;
  private correct = 0;
  private rows = 0;

  constructor(private readonly smoothing: number) {}

  /** Adds one row of logits (overwritten with its softmax) and its label. */
  add(logits: Float64Array, label: number): void {
    const p = softmaxInPlace(logits);
    const classes = p.length;
    let best = 0;
    for (let c = 0; c < classes; c++) {
      const target = (c === label ? 1 - this.smoothing : 0) + this.smoothing / classes;
      this.loss -= target * Math.log(Math.max(p[c]!, 1e-12));
      if (p[c]! > p[best]!) best = c;
    }
    if (best === label) this.correct++;
    this.rows++;
  }

  /** Mean loss and accuracy so far (0 for no rows). */
  result(): { loss: number; accuracy: number } {
    return { loss: this.loss / Math.max(1, this.rows), accuracy: this.correct / Math.max(1, this.rows) };
  }
}

/** Indices of `scores` from the highest, the first `k`. */
export function topIndices(scores: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b).slice(0, k);
}

/** Share of the mean feature variance added to every feature's variance before standardising. */
export const STD_FLOOR = 0.001;

/** Per-dimension mean and (floored, see {@link STD_FLOOR}) standard deviation of vectors. */
export function featureStats(vectors: readonly Float32Array[], dim: number): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim);
  for (const v of vectors) for (let j = 0; j < dim; j++) mean[j]! += v[j]!;
  for (let j = 0; j < dim; j++) mean[j]! /= Math.max(1, vectors.length);
  for (const v of vectors) for (let j = 0; j < dim; j++) std[j]! += (v[j]! - mean[j]!) ** 2;
  for (let j = 0; j < dim; j++) std[j]! /= Math.max(1, vectors.length);
  // Features (nearly) constant on the training set must not blow up on new images: add a share of
  // the mean variance to each one's.
  const floor = STD_FLOOR * (std.reduce((a, b) => a + b, 0) / dim) + 1e-12;
  for (let j = 0; j < dim; j++) std[j] = Math.sqrt(std[j]! + floor);
  return { mean, std };
}

/**
 * Folds a standardisation `(x - mean) / std` into a head trained on standardised vectors, giving
 * the head on raw vectors: `W' = W / std`, `b' = b - W' · mean`.
 */
export function foldStandardization(head: LinearHead, mean: Float64Array, std: Float64Array): LinearHead {
  const weight = new Float32Array(head.weight.length);
  const bias = new Float32Array(head.classes);
  for (let c = 0; c < head.classes; c++) {
    let shift = 0;
    for (let j = 0; j < head.dim; j++) {
      const w = head.weight[c * head.dim + j]! / std[j]!;
      weight[c * head.dim + j] = w;
      shift += w * mean[j]!;
    }
    bias[c] = head.bias[c]! - shift;
  }
  return { classes: head.classes, dim: head.dim, weight, bias };
}
