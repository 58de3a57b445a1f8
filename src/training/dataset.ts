/**
 * A labelled image dataset (the ImageFolder convention: class names sorted), its checks and a
 * stratified, seeded train/validation split. No Node APIs: the browser passes `{label, image}` items.
 */
import { check } from '../errors.js';
import type { PipelineImage } from '../pipelines/base.js';
import { seededRandom, shuffle } from '../random.js';

/** One training or evaluation image and its class. */
export interface LabeledImage {
  /** The class name. */
  readonly label: string;
  /** Decoded pixels, a path or URL, or encoded image bytes. */
  readonly image: PipelineImage;
  /** How reports name the image (default: the path, or `image <i>`). */
  readonly name?: string;
}

/** The sorted class names of `items` (each class once). */
export function classNamesOf(items: readonly LabeledImage[]): string[] {
  return [...new Set(items.map((i) => i.label))].sort();
}

/** Images per class name. */
export function classCounts(items: readonly LabeledImage[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item.label, (counts.get(item.label) ?? 0) + 1);
  return counts;
}

/**
 * Checks that a training set can train a classifier: at least two classes, and (when the
 * validation set is to be split off it) at least two images per class.
 *
 * @throws MobileNetV2Error naming the classes at fault.
 */
export function checkTrainingSet(items: readonly LabeledImage[], splitting: boolean, where = 'the training set'): void {
  const counts = classCounts(items);
  check(counts.size >= 2, () => `${where} has ${counts.size === 0 ? 'no images' : `only one class ("${[...counts.keys()][0]}")`}; a classifier needs at least two classes`);
  if (!splitting) return;
  const single = [...counts].filter(([, n]) => n < 2).map(([name]) => `"${name}"`);
  check(single.length === 0, () => `${where}: class ${single.join(', ')} has only one image; a validation split needs two per class (add images, or give a separate validation set)`);
}

/**
 * Splits `items` into training and validation sets, the same fraction of each class (at least one
 * image of each class on each side), seeded.
 */
export function stratifiedSplit<T extends LabeledImage>(items: readonly T[], fraction: number, seed: number): { train: T[]; val: T[] } {
  check(Number.isFinite(fraction) && fraction > 0 && fraction < 1, `validation split must be between 0 and 1 (exclusive), got ${fraction}`);
  const random = seededRandom(seed);
  const train: T[] = [];
  const val: T[] = [];
  for (const name of classNamesOf(items)) {
    const members = shuffle(items.filter((i) => i.label === name), random);
    const n = Math.min(members.length - 1, Math.max(1, Math.round(members.length * fraction)));
    val.push(...members.slice(0, n));
    train.push(...members.slice(n));
  }
  return { train, val };
}
