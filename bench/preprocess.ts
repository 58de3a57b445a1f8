/**
 * Time to turn a 640×480 JPEG into pixel_values (decode + Pillow-exact resize to 256 on the short
 * side + centre crop 224 + normalize), next to sharp doing its own decode + resize + crop as a
 * yardstick. Run: `node dist/bench/preprocess.js` after building.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../src/processing/image_io_node.js';
import { pilResize, Resample } from '../src/processing/pil_resample.js';
import { MobileNetV2ImageProcessor } from '../src/processing/processor.js';
import { HF_FIXTURES } from '../test/helpers.js';

const ROUNDS = 40;

/** Median wall time of `fn` over {@link ROUNDS} runs after a few warm-up runs, in milliseconds. */
async function median(fn: () => unknown): Promise<number> {
  for (let i = 0; i < 5; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[ROUNDS >> 1]!;
}

const png = await readFile(join(HF_FIXTURES, 'processor/images/rgb_640x480.png'));
const jpeg = await sharp(png).jpeg({ quality: 90 }).toBuffer();
const processor = new MobileNetV2ImageProcessor();
const image = await decodeImage(jpeg);

const rows: Array<[string, number]> = [
  ['decode JPEG (sharp, Pillow RGB rules)', await median(() => decodeImage(jpeg))],
  ['Pillow-exact resize 640x480 -> 341x256 (whole image)', await median(() => pilResize(image, 341, 256, Resample.BILINEAR))],
  ['preprocessImage (resize crop window + normalize)', await median(() => processor.preprocessImage(image))],
  ['JPEG -> pixel_values, total', await median(async () => processor.preprocessImage(await decodeImage(jpeg)))],
  ['yardstick: sharp decode + resize 341x256 + crop 224 to raw', await median(() => sharp(jpeg).resize(341, 256, { kernel: 'linear' }).extract({ left: 58, top: 16, width: 224, height: 224 }).raw().toBuffer())],
  ['yardstick: sharp decode to raw only', await median(() => sharp(jpeg).raw().toBuffer())],
];
for (const [name, ms] of rows) process.stdout.write(`${name.padEnd(62)} ${ms.toFixed(2).padStart(7)} ms\n`);
