/**
 * Seeded augmentation on decoded images, applied before the image processor: torchvision's
 * RandomResizedCrop (the crop; the processor then resizes it) and a horizontal flip.
 */
import { toRgb, type RawImage } from '../processing/image.js';
import type { Random } from '../random.js';

/**
 * Crop area range as a fraction of the image. Much milder than torchvision's [0.08, 1]: the
 * backbone is frozen, so a view must still look like the whole object to help the head
 * ([0.8, 1] scored above [0.35, 1] and [0.6, 1] on the flowers split; see bench/README.md).
 */
export const CROP_SCALE: readonly [number, number] = [0.8, 1];
/** Crop aspect-ratio range (torchvision's default). */
export const CROP_RATIO: readonly [number, number] = [3 / 4, 4 / 3];

/** Names the augmentation settings in embedding cache keys, so views cached under other settings are not reused. */
export const AUGMENT_KEY = `crop${CROP_SCALE.join('-')}r${CROP_RATIO.map((r) => r.toFixed(4)).join('-')}flip`;

/** Copies the `w × h` window at (`x`, `y`) of an RGB image, mirrored when `flip`. */
function crop(image: RawImage, x: number, y: number, w: number, h: number, flip: boolean): RawImage {
  const out = new Uint8Array(w * h * 3);
  for (let row = 0; row < h; row++) {
    const src = ((y + row) * image.width + x) * 3;
    for (let col = 0; col < w; col++) {
      const s = src + (flip ? w - 1 - col : col) * 3;
      const d = (row * w + col) * 3;
      out[d] = image.data[s]!;
      out[d + 1] = image.data[s + 1]!;
      out[d + 2] = image.data[s + 2]!;
    }
  }
  return { data: out, width: w, height: h, channels: 3 };
}

/**
 * One augmented view: a random crop (area in {@link CROP_SCALE}, aspect in {@link CROP_RATIO},
 * torchvision's ten tries then the whole image) flipped horizontally half of the time.
 */
export function augmentedView(image: RawImage, random: Random): RawImage {
  const rgb = toRgb(image);
  const { width, height } = rgb;
  const flip = random() < 0.5;
  for (let attempt = 0; attempt < 10; attempt++) {
    const area = width * height * (CROP_SCALE[0] + random() * (CROP_SCALE[1] - CROP_SCALE[0]));
    const ratio = Math.exp(Math.log(CROP_RATIO[0]) + random() * (Math.log(CROP_RATIO[1]) - Math.log(CROP_RATIO[0])));
    const w = Math.round(Math.sqrt(area * ratio));
    const h = Math.round(Math.sqrt(area / ratio));
    if (w >= 1 && h >= 1 && w <= width && h <= height) {
      return crop(rgb, Math.floor(random() * (width - w + 1)), Math.floor(random() * (height - h + 1)), w, h, flip);
    }
  }
  return crop(rgb, 0, 0, width, height, flip);
}
