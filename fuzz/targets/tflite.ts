/** TFLite: importTflite (flatbuffer reading, graph recognition, weight conversion) on mutated models. */
import { importTflite } from '../../src/convert/tflite/importer.js';
import { mutatedBytes } from '../mutate.js';
import { fixture, type Target } from '../target.js';

// The smallest real models (0.7 and 2.2 MB): a few bytes are mutated, not regenerated.
const SEEDS = ['real/models/deeplabv3_mnv2_dm05_pascal_quant.tflite', 'real/models/deeplabv3_257_mv_gpu.tflite'];

export const tflite: Target = {
  name: 'tflite',
  description: 'importTflite on mutated real .tflite files',
  async inputs() {
    return mutatedBytes(SEEDS.map(fixture));
  },
  async run(input) {
    importTflite(input, 'fuzz.tflite');
  },
};
