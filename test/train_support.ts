/** Synthetic training images for the training tests: noisy solid colours, one class per colour. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RawImage } from '../src/processing/image.js';
import type { LabeledImage } from '../src/training/dataset.js';
import { seededRandom } from '../src/random.js';

const COLOURS: Record<string, [number, number, number]> = { blue: [30, 60, 220], green: [40, 200, 60], red: [220, 40, 40] };

/** `count` noisy 32 × 32 images of each colour, labelled with its name. */
export function syntheticImages(count: number, classes = Object.keys(COLOURS)): Array<LabeledImage & { image: RawImage }> {
  const random = seededRandom(7);
  return classes.flatMap((name) => Array.from({ length: count }, (_, i) => {
    const [r, g, b] = COLOURS[name]!;
    const data = new Uint8Array(32 * 32 * 3);
    for (let p = 0; p < data.length; p += 3) {
      const n = (random() - 0.5) * 60;
      data[p] = Math.max(0, Math.min(255, r + n));
      data[p + 1] = Math.max(0, Math.min(255, g + n));
      data[p + 2] = Math.max(0, Math.min(255, b + n));
    }
    return { label: name, name: `${name}/${i}.png`, image: { data, width: 32, height: 32, channels: 3 as const } };
  }));
}

/** Writes `count` noisy images of each colour into `dir/<colour>/`. */
export async function syntheticDataset(dir: string, count: number, classes = Object.keys(COLOURS)): Promise<void> {
  for (const item of syntheticImages(count, classes)) {
    await mkdir(join(dir, item.label), { recursive: true });
    await sharp(item.image.data, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(dir, item.name!));
  }
}
