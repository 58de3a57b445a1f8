/** safetensors: whole-file parsing and the header-only path used for ranged reads. */
import fc from 'fast-check';
import { parseSafetensors, parseSafetensorsHeader, safetensorsPrefixLength } from '../../src/weights/safetensors.js';
import { concat, mutatedBytes, mutatedJson, writeInt } from '../mutate.js';
import { fixture, type Target } from '../target.js';

const SEEDS = ['hf/h3_cls_025_nolabels0/outputs.safetensors', 'hf/h3_cls_025_nolabels0/inputs.safetensors', 'hf/h1_cls_025_losses/model.safetensors'];

/** Splits a safetensors file into its JSON header and its data. */
function split(bytes: Uint8Array): { header: unknown; data: Uint8Array } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))), data: bytes.subarray(8 + length) };
}

/** A safetensors file from a header text and data, with a correct length prefix. */
function join(headerText: string, data: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const prefix = new Uint8Array(8);
  writeInt(prefix, 0, header.length, 8);
  return concat(prefix, header, data);
}

export const safetensors: Target = {
  name: 'safetensors',
  description: 'parseSafetensors, and safetensorsPrefixLength + parseSafetensorsHeader as the ranged loader calls them',
  async inputs() {
    const seeds = SEEDS.map(fixture);
    const parts = seeds.map(split);
    // Header edits keep the data, so offsets and shapes are checked against real sizes.
    const headerEdits = fc
      .tuple(fc.nat(parts.length - 1), mutatedJson(parts.map((p) => p.header)))
      .map(([i, text]) => join(text, parts[i]!.data));
    return fc.oneof(mutatedBytes(seeds), headerEdits);
  },
  async run(input) {
    const prefix = input.subarray(0, safetensorsPrefixLength(input.subarray(0, 8), input.length, 'fuzz.safetensors'));
    parseSafetensorsHeader(prefix, input.length, 'fuzz.safetensors');
    parseSafetensors(input, 'fuzz.safetensors');
  },
};
