/** Labelled vectors from embedded images, and validation scores of vectors. */
import type { EmbeddedSet } from './embeddings.js';
import type { LabeledImage } from './dataset.js';
import type { VectorSet } from './head.js';
import { topIndices } from './linear.js';
import { ClassificationTally, type EvaluationResult } from './metrics.js';

/**
 * The labelled vectors of an embedded set: the plain views only, every view, or every view with
 * the plain one repeated once per augmented view (`weighted`, for fitting a head). Images are
 * classified from their plain view, so there it weighs as much as all the augmented views
 * together: the crops and flips regularise the head without pulling it towards views it will
 * never see (with equal weights, `--augment` scored below the plain head on the flowers split; see
 * bench/README.md). A k-NN index takes every view once, so copies do not crowd out neighbours.
 */
export function toVectors(set: Pick<EmbeddedSet<LabeledImage>, 'items' | 'views'>, classes: readonly string[], views: 'plain' | 'all' | 'weighted'): VectorSet {
  const vectors: Float32Array[] = [];
  const labels: number[] = [];
  set.views.forEach(([plain, ...augmented], i) => {
    const label = classes.indexOf(set.items[i]!.label);
    const copies = views === 'weighted' ? Math.max(1, augmented.length) : 1;
    for (const v of [...Array<Float32Array>(copies).fill(plain!), ...(views === 'plain' ? [] : augmented)]) {
      vectors.push(v);
      labels.push(label);
    }
  });
  return { vectors, labels };
}

/** Scores validation vectors with a head (offset: index of the first new class) or a k-NN index. */
export function validate(val: VectorSet, classes: readonly string[], score: (x: Float32Array) => ArrayLike<number>, offset: number): EvaluationResult | null {
  if (val.vectors.length === 0) return null;
  const tally = new ClassificationTally(classes, offset > 0);
  val.vectors.forEach((v, i) => {
    const ranked = topIndices(score(v), 5).map((c) => (c >= offset && c - offset < classes.length ? c - offset : -1));
    tally.add(val.labels[i]!, ranked);
  });
  return tally.result();
}
