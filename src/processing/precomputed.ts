/**
 * Pixel values computed ahead of time (in a decode worker, see ./prepare_pool_node.ts) for a
 * decoded image, so the processor on the main thread can hand them out instead of resizing again.
 * Each entry is keyed by the image object and the exact processor settings it was made with: any
 * other settings miss and preprocess as usual, so the pixels are always those of the settings asked
 * for. Entries live as long as their image (a WeakMap). No Node APIs.
 */
import type { Float32Tensor } from '../tensor.js';
import type { RawImage } from './image.js';
import type { ImageProcessorSettings } from './processor_config.js';

const store = new WeakMap<RawImage, { key: string; pixelValues: Float32Tensor }>();

/** The key of a set of resolved processor settings. */
export function settingsKey(settings: Readonly<ImageProcessorSettings>): string {
  return JSON.stringify(settings);
}

/** Records `pixelValues` (`[C, H, W]`) as the preprocessing of `image` under settings `key`. */
export function rememberPixelValues(image: RawImage, key: string, pixelValues: Float32Tensor): void {
  store.set(image, { key, pixelValues });
}

/** The pixel values recorded for `image` under exactly these settings, or undefined. */
export function precomputedPixelValues(image: RawImage, settings: Readonly<ImageProcessorSettings>): Float32Tensor | undefined {
  const entry = store.get(image);
  return entry && entry.key === settingsKey(settings) ? entry.pixelValues : undefined;
}
