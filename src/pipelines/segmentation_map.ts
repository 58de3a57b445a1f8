/**
 * From segmentation logits at feature resolution to a class map at the image's size, with each
 * class's pixel count and mean probability. Gives the same map as transformers'
 * `post_process_semantic_segmentation` with `target_sizes` (bilinear, align_corners=false, then
 * argmax), but streams over output rows, so a large photo never holds `classes × H × W` floats.
 */
import { axisWeights, type AxisWeights } from '../model/functional.js';

/** A class map at image resolution and per-class statistics. */
export interface LabelMap {
  /** Width of the map (the image's). */
  readonly width: number;
  /** Height of the map. */
  readonly height: number;
  /** Class index per pixel, row-major. */
  readonly labels: Uint8Array | Uint16Array;
  /** Pixels assigned to each class. */
  readonly pixels: Float64Array;
  /** Sum over those pixels of the class's softmax probability (divide by `pixels` for the mean). */
  readonly probabilitySums: Float64Array;
}

/** One logit row of every class, resampled horizontally to the output width: `[classes, width]`. */
function horizontalRow(logits: Float32Array, classes: number, h: number, w: number, row: number, xs: AxisWeights, out: Float64Array): void {
  const width = xs.i0.length;
  for (let c = 0; c < classes; c++) {
    const base = (c * h + row) * w;
    for (let x = 0; x < width; x++) {
      const wx = xs.w1[x]!;
      out[c * width + x] = logits[base + xs.i0[x]!]! * (1 - wx) + logits[base + xs.i1[x]!]! * wx;
    }
  }
}

/**
 * Class map of one item of `[classes, h, w]` logits, upsampled to `height × width`. The argmax
 * keeps the first of equal values (as torch does); the probability of the chosen class is its
 * softmax over the classes at that pixel.
 */
export function labelMapFromLogits(logits: Float32Array, classes: number, h: number, w: number, height: number, width: number): LabelMap {
  const ys = axisWeights(h, height, false);
  const xs = axisWeights(w, width, false);
  const labels = classes <= 256 ? new Uint8Array(height * width) : new Uint16Array(height * width);
  const pixels = new Float64Array(classes);
  const probabilitySums = new Float64Array(classes);
  let top = new Float64Array(classes * width);
  let bottom = new Float64Array(classes * width);
  let topRow = -1;
  let bottomRow = -1;
  const values = new Float32Array(classes);
  for (let y = 0; y < height; y++) {
    const r0 = ys.i0[y]!;
    const r1 = ys.i1[y]!;
    // Consecutive output rows mostly share their source rows: reuse them instead of resampling.
    if (r0 !== topRow) {
      if (r0 === bottomRow) [top, bottom, bottomRow] = [bottom, top, -1];
      else horizontalRow(logits, classes, h, w, r0, xs, top);
      topRow = r0;
    }
    if (r1 !== bottomRow) {
      horizontalRow(logits, classes, h, w, r1, xs, bottom);
      bottomRow = r1;
    }
    const wy = ys.w1[y]!;
    for (let x = 0; x < width; x++) {
      let best = 0;
      for (let c = 0; c < classes; c++) {
        values[c] = top[c * width + x]! * (1 - wy) + bottom[c * width + x]! * wy;
        if (values[c]! > values[best]!) best = c;
      }
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(values[c]! - values[best]!);
      labels[y * width + x] = best;
      pixels[best]! += 1;
      probabilitySums[best]! += 1 / sum;
    }
  }
  return { width, height, labels, pixels, probabilitySums };
}
