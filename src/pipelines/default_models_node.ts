/**
 * The models shipped inside the package (`models/` at the package root), used when no model is
 * named. Resolved from this file's location, not the working directory, so they are found wherever
 * the package is installed.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PipelineTask } from './pipeline.js';

/** The package root: this file is compiled to `<root>/dist/src/pipelines/`. */
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** The version in the package's package.json, read at run time so it never drifts. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(resolve(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Folder of the shipped models. */
export const MODELS_DIR = resolve(PACKAGE_ROOT, 'models');

/** Google's quantization-aware MobileNetV2 1.0/224 ImageNet classifier, converted from TFLite. */
export const DEFAULT_CLASSIFIER = resolve(MODELS_DIR, 'mobilenet_v2_1.0_224_quant');

/** Google's DeepLabV3 + MobileNetV2 PASCAL VOC segmenter (output stride 16), converted from TFLite. */
export const DEFAULT_SEGMENTER = resolve(MODELS_DIR, 'deeplabv3_mnv2_pascal_quant');

/** The model each task uses when none is given (embeddings come from the classifier's backbone). */
export const DEFAULT_MODELS: Readonly<Record<PipelineTask, string>> = {
  'image-classification': DEFAULT_CLASSIFIER,
  'image-segmentation': DEFAULT_SEGMENTER,
  'image-feature-extraction': DEFAULT_CLASSIFIER,
};
