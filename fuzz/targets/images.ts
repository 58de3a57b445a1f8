/**
 * Image decoders through decodeImage (what loadImage does with bytes): our BMP decoder, and
 * sharp/libvips for PNG, JPEG, GIF, WebP and TIFF. Seeds are real photos and tiny images made by
 * sharp from raw pixels, in several colour types.
 */
import sharp, { type Sharp } from 'sharp';
import { decodeImage, type ImageFormat } from '../../src/processing/image_io_node.js';
import { mutatedBytes } from '../mutate.js';
import { fixture, type Target } from '../target.js';

/** A small raw image: `channels` interleaved 8-bit samples of a gradient. */
function raw(width: number, height: number, channels: 1 | 2 | 3 | 4): Sharp {
  const data = Buffer.from(Array.from({ length: width * height * channels }, (_, i) => (i * 37) & 0xff));
  return sharp(data, { raw: { width, height, channels } });
}

/** Encodes tiny images of every channel count to `format`. */
async function synthetic(format: Exclude<ImageFormat, 'bmp'>, options: object[]): Promise<Uint8Array[]> {
  const shapes: [number, number, 1 | 2 | 3 | 4][] = [[7, 5, 3], [4, 3, 4], [9, 2, 1], [3, 8, 2]];
  const seeds: Uint8Array[] = [];
  for (const [w, h, c] of shapes) {
    for (const o of options) seeds.push(new Uint8Array(await raw(w, h, c).toFormat(format, o).toBuffer()));
  }
  return seeds;
}

/** Seeds of each format: real files where the fixtures have them, else synthetic ones. */
const SEEDS: Record<ImageFormat, () => Promise<Uint8Array[]>> = {
  bmp: async () => ['cat.bmp', 'bird_segmentation_mask.bmp', 'bird_segmentation.bmp'].map((f) => fixture(`real/images/${f}`)),
  png: async () => [
    ...(await synthetic('png', [{}, { palette: true }, { palette: true, colours: 2 }])),
    new Uint8Array(await raw(5, 4, 3).toColourspace('rgb16').png().toBuffer()),
    fixture('hf/processor/images/gray_120x90.png'),
  ],
  jpeg: async () => [...(await synthetic('jpeg', [{}, { progressive: true }])), fixture('real/images/cat_720p.jpg')],
  gif: async () => synthetic('gif', [{}, { interlace: true }]),
  webp: async () => synthetic('webp', [{}, { lossless: true }]),
  tiff: async () => synthetic('tiff', [{}, { compression: 'lzw' }, { compression: 'deflate', tile: true, tileWidth: 16, tileHeight: 16 }]),
};

function imageTarget(format: ImageFormat): Target {
  return {
    name: format,
    description: `decodeImage on mutated ${format.toUpperCase()} files`,
    async inputs() {
      // One thread and no cache: keeps the harness's memory readings about the input at hand.
      sharp.concurrency(1);
      sharp.cache(false);
      return mutatedBytes(await SEEDS[format]());
    },
    async run(input) {
      await decodeImage(input, `fuzz.${format}`);
    },
  };
}

/** One target per image format. */
export const imageTargets: Target[] = (Object.keys(SEEDS) as ImageFormat[]).map(imageTarget);
