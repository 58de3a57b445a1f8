/**
 * config.json as a model folder's loader reads it (openCheckpoint: JSON text, then
 * MobileNetV2Config.fromJSON), then the layer plan every model class derives from it.
 */
import fc from 'fast-check';
import { ARCHITECTURES } from '../../src/config/configuration_mobilenet_v2.js';
import type { ModelFiles } from '../../src/hub/model_files.js';
import { parameterSpecs } from '../../src/model/architecture.js';
import { openCheckpoint } from '../../src/model/pretrained.js';
import { serializeSafetensors } from '../../src/weights/safetensors.js';
import { mutatedBytes, mutatedJson } from '../mutate.js';
import { fixture, type Target } from '../target.js';

const SEEDS = ['a_cls_035_96', 'c_cls_050_64_nopad', 'e1_base_050_os16_nofine', 'f_seg_035_os8_65', 'h1_cls_025_losses'].flatMap((d) => [
  `hf/${d}/config.json`, `hf/${d}/config_saved.json`,
]);

/** An in-memory model folder: the fuzzed config.json and an empty (valid) model.safetensors. */
function folder(config: Uint8Array): ModelFiles {
  const files: Record<string, Uint8Array> = { 'config.json': config, 'model.safetensors': serializeSafetensors(new Map()) };
  return { description: 'fuzz-model', read: async (name) => files[name] ?? null };
}

export const config: Target = {
  name: 'config',
  description: 'openCheckpoint on a folder with a mutated config.json, then parameterSpecs for every architecture',
  async inputs() {
    const seeds = SEEDS.map(fixture);
    const json = seeds.map((s) => JSON.parse(new TextDecoder().decode(s)) as unknown);
    return fc.oneof(mutatedBytes(seeds), mutatedJson(json).map((t) => new TextEncoder().encode(t)));
  },
  async run(input) {
    const { config } = await openCheckpoint(folder(input));
    for (const architecture of ARCHITECTURES) parameterSpecs(config, architecture);
  },
};
