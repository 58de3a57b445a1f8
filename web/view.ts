/** DOM rendering of the demo page: model progress, the top-5 list, the overlay with its legend, timings. */
import { overlayLabelMap, type ClassificationResult, type RawImage, type Rgb, type SegmentationPrediction } from '../src/browser.js';

/** A share of the picture's pixels as a percentage with one decimal. */
export function percent(fraction: number): string {
  return `${(100 * fraction).toFixed(1)}%`;
}

/** The element with id `id`, which the page must have. */
export function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** Creates an element with a class and text. */
function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text) el.textContent = text;
  return el;
}

/** Shows one model's download progress (bytes of the file being fetched) or its final status. */
export function showModelStatus(key: string, text: string, fraction?: number): void {
  const row = byId(`model-${key}`);
  row.querySelector('.status')!.textContent = text;
  const bar = row.querySelector('progress')!;
  if (fraction === undefined) bar.removeAttribute('value');
  else bar.value = fraction;
}

/** Fills the top-5 list: label, probability and a bar as long as the probability. */
export function showClasses(classes: readonly ClassificationResult[]): void {
  const list = byId<HTMLOListElement>('top5');
  list.replaceChildren(...classes.map(({ label, score }) => {
    const item = element('li');
    const bar = element('span', 'bar');
    bar.style.width = percent(score);
    item.append(element('span', 'label', label), element('span', 'score', percent(score)), bar);
    return item;
  }));
}

/** Draws the image with the class map blended over it, and the legend of the classes present. */
export function showSegmentation(prediction: SegmentationPrediction, palette: readonly Rgb[], alpha: number): void {
  const { image, map, segments } = prediction;
  drawImage(byId<HTMLCanvasElement>('overlay'), overlayLabelMap(image, map, palette, alpha));
  const total = map.width * map.height;
  const legend = byId<HTMLUListElement>('legend');
  const bySize = [...segments].sort((a, b) => b.pixels - a.pixels);
  legend.replaceChildren(...bySize.map(({ index, label, pixels, score }) => {
    const item = element('li');
    const swatch = element('span', 'swatch');
    const [r, g, b] = palette[index % palette.length]!;
    // Black classes (background) are not drawn over the picture: show an empty swatch.
    if (r + g + b > 0) swatch.style.background = `rgb(${r} ${g} ${b})`;
    item.append(swatch, element('span', 'label', label), element('span', 'share', `${percent(pixels / total)} of pixels, mean p ${score.toFixed(2)}`));
    return item;
  }));
}

/** Paints RGB pixels onto a canvas of the image's size. */
function drawImage(canvas: HTMLCanvasElement, image: RawImage): void {
  canvas.width = image.width;
  canvas.height = image.height;
  const rgba = new ImageData(image.width, image.height);
  for (let p = 0, n = image.width * image.height; p < n; p++) {
    rgba.data[4 * p] = image.data[3 * p]!;
    rgba.data[4 * p + 1] = image.data[3 * p + 1]!;
    rgba.data[4 * p + 2] = image.data[3 * p + 2]!;
    rgba.data[4 * p + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(rgba, 0, 0);
}

/** Fills the timings table with `[what, milliseconds]` rows. */
export function showTimings(rows: readonly (readonly [string, number])[]): void {
  byId('timings').replaceChildren(...rows.map(([what, ms]) => {
    const row = element('tr');
    row.append(element('th', '', what), element('td', '', `${ms.toFixed(1)} ms`));
    return row;
  }));
}
