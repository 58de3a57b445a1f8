/**
 * Cosine k-nearest-neighbour classification over embeddings (as tfjs' knn-classifier): the index
 * keeps every training embedding, centred on their mean and normalised; a query's class scores are
 * the votes of its k most similar neighbours. Saved as `knn_index.safetensors` beside the checkpoint.
 */
import { check, MobileNetV2Error } from '../errors.js';
import { parseSafetensors, serializeSafetensors } from '../weights/safetensors.js';
import { float32Tensor, type Tensor } from '../tensor.js';
import { featureStats } from './linear.js';
import type { VectorSet } from './head.js';

/** File name of the index in a checkpoint folder. */
export const KNN_INDEX_FILE = 'knn_index.safetensors';
/** Neighbours that vote, by default. */
export const DEFAULT_K = 5;

/** A k-NN index. */
export interface KnnIndex {
  readonly k: number;
  readonly dim: number;
  /** Mean of the training embeddings, subtracted before normalising. */
  readonly mean: Float32Array;
  /** Centred, unit-length embeddings `[n, dim]`. */
  readonly vectors: Float32Array;
  /** Class index of each row. */
  readonly labels: Int32Array;
  /** Number of classes. */
  readonly classes: number;
}

function centred(x: ArrayLike<number>, mean: ArrayLike<number>, out: Float32Array): Float32Array {
  let norm = 0;
  for (let j = 0; j < out.length; j++) norm += (out[j] = x[j]! - mean[j]!) ** 2;
  norm = Math.sqrt(norm) || 1;
  for (let j = 0; j < out.length; j++) out[j]! /= norm;
  return out;
}

/** Builds an index over labelled vectors. */
export function buildKnnIndex(train: VectorSet, classes: number, k = DEFAULT_K): KnnIndex {
  check(train.vectors.length > 0, 'no training vectors');
  check(Number.isInteger(k) && k >= 1, `k must be a positive integer, got ${k}`);
  const dim = train.vectors[0]!.length;
  const mean = Float32Array.from(featureStats(train.vectors, dim).mean);
  const vectors = new Float32Array(train.vectors.length * dim);
  train.vectors.forEach((v, i) => centred(v, mean, vectors.subarray(i * dim, (i + 1) * dim)));
  return { k, dim, mean, vectors, labels: Int32Array.from(train.labels), classes };
}

/** Class scores of `x`: the share of the k nearest neighbours in each class (ties: the nearer ones win, by a tiny bonus). */
export function knnScores(index: KnnIndex, x: ArrayLike<number>): Float64Array {
  const q = centred(x, index.mean, new Float32Array(index.dim));
  const n = index.labels.length;
  const sims = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < index.dim; j++) s += index.vectors[i * index.dim + j]! * q[j]!;
    sims[i] = s;
  }
  const nearest = Array.from({ length: n }, (_, i) => i).sort((a, b) => sims[b]! - sims[a]! || a - b).slice(0, index.k);
  const scores = new Float64Array(index.classes);
  for (const i of nearest) scores[index.labels[i]!]! += 1 / nearest.length + 1e-6 * sims[i]!;
  return scores;
}

/** The index as a safetensors file. */
export function serializeKnnIndex(index: KnnIndex): Uint8Array {
  const n = index.labels.length;
  return serializeSafetensors(new Map<string, Tensor>([
    ['vectors', float32Tensor(index.vectors, [n, index.dim])],
    ['mean', float32Tensor(index.mean, [index.dim])],
    ['labels', { dtype: 'int32' as const, shape: [n], data: index.labels }],
  ]), { k: String(index.k), classes: String(index.classes) });
}

/** Reads an index written by {@link serializeKnnIndex}. */
export function parseKnnIndex(bytes: Uint8Array, source: string): KnnIndex {
  const { tensors, metadata } = parseSafetensors(bytes, source);
  const vectors = tensors.get('vectors');
  const mean = tensors.get('mean');
  const labels = tensors.get('labels');
  const k = Number(metadata['k']);
  const classes = Number(metadata['classes']);
  if (vectors?.dtype !== 'float32' || mean?.dtype !== 'float32' || labels?.dtype !== 'int32' || vectors.shape.length !== 2
    || mean.shape[0] !== vectors.shape[1] || labels.shape[0] !== vectors.shape[0] || !(k >= 1) || !(classes >= 1)
    || (labels.data as Int32Array).some((l) => l < 0 || l >= classes)) {
    throw new MobileNetV2Error(`${source}: not a k-NN index (needs float32 "vectors" [n, d], "mean" [d], int32 "labels" [n] below "classes", metadata "k")`, { code: 'E_CHECKPOINT_CORRUPT' });
  }
  return { k, dim: vectors.shape[1]!, mean: mean.data as Float32Array, vectors: vectors.data as Float32Array, labels: labels.data as Int32Array, classes };
}
