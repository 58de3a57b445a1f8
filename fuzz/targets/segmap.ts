/** Segmentation maps: loadSegmentationMap on palette and grey PNGs (fast-png) and palette BMPs. */
import { encode } from 'fast-png';
import { loadSegmentationMap } from '../../src/processing/image_io_node.js';
import { mutatedBytes } from '../mutate.js';
import { fixture, type Target } from '../target.js';

/** Small PNG maps: palette at 1, 2, 4 and 8 bits, and 8-bit grey. */
function pngSeeds(): Uint8Array[] {
  const width = 6;
  const height = 5;
  const seeds = [1, 2, 4, 8].map((depth) => {
    const rowBytes = Math.ceil((width * depth) / 8);
    const data = Uint8Array.from({ length: rowBytes * height }, (_, i) => (i * 29) & 0xff);
    const palette = Array.from({ length: 1 << depth }, (_, i): [number, number, number] => [i, 255 - i, (i * 7) & 0xff]);
    return encode({ width, height, data, depth: depth as 8, channels: 1, palette });
  });
  seeds.push(encode({ width, height, data: Uint8Array.from({ length: width * height }, (_, i) => i % 21), depth: 8, channels: 1 }));
  return seeds;
}

export const segmap: Target = {
  name: 'segmap',
  description: 'loadSegmentationMap on mutated palette/grey PNG and palette BMP maps',
  async inputs() {
    return mutatedBytes([...pngSeeds(), fixture('hf/processor/images/seg_map_150x100.png'), fixture('real/images/bird_segmentation_mask.bmp')]);
  },
  async run(input) {
    await loadSegmentationMap(input, 'fuzz-map');
  },
};
