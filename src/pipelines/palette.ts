/** Colours for class maps: the PASCAL VOC palette and an overlay of a class map on its image. */
import { check } from '../errors.js';
import type { RawImage } from '../processing/image.js';
import type { LabelMap } from './segmentation_map.js';

/** An RGB colour. */
export type Rgb = readonly [number, number, number];

/**
 * The PASCAL VOC colour map for `count` classes (at most 256): class `i`'s bits are spread over
 * the high bits of R, G and B, so 0 is black, 1 dark red, 2 dark green, 15 (person) pink.
 */
export function pascalVocPalette(count = 256): Rgb[] {
  check(Number.isInteger(count) && count > 0 && count <= 256, `a palette has 1-256 colours, got ${count}`);
  return Array.from({ length: count }, (_, i) => {
    const rgb = [0, 0, 0];
    for (let shift = 7, c = i; c > 0; shift--, c >>= 3) {
      for (let channel = 0; channel < 3; channel++) rgb[channel]! |= ((c >> channel) & 1) << shift;
    }
    return rgb as unknown as Rgb;
  });
}

/**
 * The colours of overlays, the CLI's `--overlay` and the demo page's alike: the PASCAL VOC palette
 * with each colour scaled until its brightest channel is 255, since VOC's colours are dark (cat is
 * 64,0,0) and would hardly show over a photo. Black (background) stays black. Class-map PNGs keep
 * VOC's own colours, which other tools read.
 */
export function overlayPalette(count = 256): Rgb[] {
  return pascalVocPalette(count).map((colour) => {
    const max = Math.max(...colour);
    return max === 0 ? colour : (colour.map((c) => Math.round((c * 255) / max)) as unknown as Rgb);
  });
}

/**
 * The RGB `image` with each pixel blended with its class's colour: `(1 − alpha)·pixel + alpha·colour`.
 * Classes coloured black in the palette (background in PASCAL VOC) are left as they are.
 */
export function overlayLabelMap(image: RawImage, map: LabelMap, palette: readonly Rgb[], alpha = 0.5): RawImage {
  check(image.channels === 3, `the overlay needs an RGB image, got ${image.channels} channels`);
  check(image.width === map.width && image.height === map.height,
    `the class map is ${map.width}x${map.height} but the image is ${image.width}x${image.height}`);
  const out = image.data.slice();
  for (let p = 0; p < map.labels.length; p++) {
    const colour = palette[map.labels[p]! % palette.length]!;
    if (colour[0] === 0 && colour[1] === 0 && colour[2] === 0) continue;
    for (let c = 0; c < 3; c++) out[3 * p + c] = Math.round((1 - alpha) * out[3 * p + c]! + alpha * colour[c]!);
  }
  return { data: out, width: image.width, height: image.height, channels: 3 };
}
