/**
 * preprocessor_config.json: MobileNetV2ImageProcessor.fromJsonText, then preprocessing one small
 * image with the settings it gave (sizes and crops are where bad values bite).
 */
import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { MobileNetV2ImageProcessor } from '../../src/processing/processor.js';
import { conversionPreprocessorConfig } from '../../src/convert/tflite/importer.js';
import { mutatedBytes, mutatedJson } from '../mutate.js';
import { fixture, FIXTURES, type Target } from '../target.js';

/** The processor fixtures' settings (their `init_kwargs`), and the config a TFLite conversion writes. */
function seeds(): unknown[] {
  const dirs = readdirSync(`${FIXTURES}/hf/processor`).filter((d) => /^p\d/.test(d));
  const kwargs = dirs.map((d) => (JSON.parse(new TextDecoder().decode(fixture(`hf/processor/${d}/config.json`))) as { init_kwargs: unknown }).init_kwargs);
  return [...kwargs, conversionPreprocessorConfig(224)];
}

const IMAGE = { data: new Uint8Array(6 * 5 * 3).fill(128), width: 6, height: 5, channels: 3 as const };

export const processor: Target = {
  name: 'processor',
  description: 'MobileNetV2ImageProcessor.fromJsonText on mutated preprocessor_config.json, then preprocess of a 6x5 image',
  async inputs() {
    const json = seeds();
    const texts = json.map((j) => new TextEncoder().encode(JSON.stringify(j)));
    return fc.oneof(mutatedJson(json).map((t) => new TextEncoder().encode(t)), mutatedBytes(texts));
  },
  async run(input) {
    const processor = MobileNetV2ImageProcessor.fromJsonText(new TextDecoder().decode(input), 'fuzz/preprocessor_config.json');
    processor.preprocess(IMAGE);
  },
};
