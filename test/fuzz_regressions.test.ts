/**
 * Reproductions of fuzz findings (npm run fuzz), each asserting the correct behaviour: a one-line
 * MobileNetV2Error of fit length. Inputs are built here from a few lines each.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zipSync } from 'fflate';
import { MAX_MESSAGE_CHARS } from '../fuzz/target.js';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../src/errors.js';
import { openCheckpoint } from '../src/model/pretrained.js';
import { MobileNetV2ImageProcessor } from '../src/processing/processor.js';
import { parseTorchCheckpoint } from '../src/weights/pytorch.js';
import { parseSafetensors } from '../src/weights/safetensors.js';

/** Asserts `fn` fails with a one-line MobileNetV2Error no longer than MAX_MESSAGE_CHARS. */
async function assertCleanError(fn: () => unknown): Promise<void> {
  await assert.rejects(async () => fn(), (err: unknown) => {
    assert.ok(err instanceof MobileNetV2Error, `expected a MobileNetV2Error, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), `multi-line message: ${JSON.stringify(err.message.slice(0, 200))}`);
    assert.ok(err.message.length <= MAX_MESSAGE_CHARS, `message of ${err.message.length} chars`);
    return true;
  });
}

const text = (s: string) => new TextEncoder().encode(s);

/** A safetensors file with the given header object and `dataBytes` zero bytes of data. */
function safetensorsFile(header: unknown, dataBytes: number): Uint8Array {
  const json = text(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

test('config.json that is not JSON: the error is one line (V8 quotes the raw text, newlines and all)', async () => {
  const files = { description: 'model', read: async (name: string) => (name === 'config.json' ? text('{\n  "hidden_act": z\n}\n') : null) };
  await assertCleanError(() => openCheckpoint(files));
});

test('preprocessor_config.json that is not JSON: the error is one line', async () => {
  await assertCleanError(() => MobileNetV2ImageProcessor.fromJsonText('{\n  "size": z\n}\n'));
});

test('config field with a huge wrong value: the message does not echo all of it', async () => {
  await assertCleanError(() => MobileNetV2Config.fromJSON({ hidden_act: 'a'.repeat(100_000) }));
  await assertCleanError(() => MobileNetV2Config.fromJSON({ image_size: Array.from({ length: 10_000 }, (_, i) => i) }));
});

test('preprocessor_config.json field with a huge wrong value: the message does not echo all of it', async () => {
  await assertCleanError(() => MobileNetV2ImageProcessor.fromConfig({ size: 'a'.repeat(100_000) }));
});

test('safetensors header with a huge shape or dtype: the message does not echo all of it', async () => {
  await assertCleanError(() => parseSafetensors(safetensorsFile({ w: { dtype: 'F32', shape: 'a'.repeat(100_000), data_offsets: [0, 4] } }, 4), 'x.safetensors'));
  await assertCleanError(() => parseSafetensors(safetensorsFile({ w: { dtype: 'a'.repeat(100_000), shape: [1], data_offsets: [0, 4] } }, 4), 'x.safetensors'));
});

test('pytorch_model.bin with a zip entry name holding a newline: the error is one line', async () => {
  const zip = zipSync({ 'archive/data.pkl': new Uint8Array([0x80, 2, 0x7d, 0x2e]), 'archive/a\nb': text('abc') }, { level: 0 });
  const view = new DataView(zip.buffer);
  const headers = [...zip.keys()].filter((i) => i + 4 <= zip.length && view.getUint32(i, true) === 0x02014b50);
  // The second entry claims 1000 bytes of stored data (it has 3): refused while the directory is read.
  view.setUint32(headers[1]! + 20, 1000, true);
  await assertCleanError(() => parseTorchCheckpoint(zip, 'pytorch_model.bin'));
});

test('preprocessor size of 2^31: a MobileNetV2Error, not a RangeError from the resampler', async () => {
  const image = { data: new Uint8Array(6 * 5 * 3), width: 6, height: 5, channels: 3 as const };
  await assertCleanError(() => MobileNetV2ImageProcessor.fromConfig({ size: 2 ** 31, crop_size: { height: 30, width: 30 }, do_rescale: false }).preprocess(image));
  await assertCleanError(() => MobileNetV2ImageProcessor.fromConfig({ crop_size: 1e308 }).preprocess(image));
});
