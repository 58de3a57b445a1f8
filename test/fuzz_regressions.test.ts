/**
 * Reproductions of fuzz findings (npm run fuzz), each asserting the correct behaviour: a one-line
 * MobileNetV2Error of fit length. Inputs are built here from a few lines each.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { zipSync } from 'fflate';
import { MAX_MESSAGE_CHARS } from '../fuzz/target.js';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { LIMITS } from '../src/config/limits.js';
import { describeValue, MAX_QUOTED_CHARS, oneLine, quote } from '../src/describe.js';
import { MobileNetV2Error, type MobileNetV2ErrorCode } from '../src/errors.js';
import { resolveModelFiles } from '../src/hub/resolve_node.js';
import { openCheckpoint } from '../src/model/pretrained.js';
import { MobileNetV2ImageProcessor } from '../src/processing/processor.js';
import { parseTorchCheckpoint } from '../src/weights/pytorch.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { answer, hostileWorkspace, startHostile, type Hostile, type HostileHandler, type HostileWorkspace } from './hub_hostile.js';
import { gitBlobSha1 } from './hub_mirror.js';

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

test('describe.ts: foreign text is shown on one line and cut short', () => {
  assert.equal(oneLine('a\nb\r\tc\u0000\u2028'), 'a\\nb\\r\\tc\\u0000\\u2028');
  assert.equal(oneLine('x'.repeat(500)), `${'x'.repeat(MAX_QUOTED_CHARS)}…`);
  assert.equal(oneLine(`${'x'.repeat(MAX_QUOTED_CHARS - 1)}😀`), `${'x'.repeat(MAX_QUOTED_CHARS - 1)}…`, 'no half surrogate pair');
  assert.equal(quote('a\u2028b'), '"a\\u2028b"');
  assert.ok(describeValue({ a: 'z'.repeat(100_000) }).length < 300);
  assert.equal(describeValue({ ['k'.repeat(100_000)]: [1], b: 2, c: 3, d: 4, e: 5, f: 6 }).length < 300, true);
});

test('safetensors header that is not JSON: the error is one line', async () => {
  const json = text('{"w": {\n"dtype": z\n}}');
  const file = new Uint8Array(8 + json.length);
  new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
  file.set(json, 8);
  await assertCleanError(() => parseSafetensors(file, 'x.safetensors'));
});

test('pytorch_model.bin whose pickle calls a global named with newlines and 100 KB: one short line', async () => {
  const unicode = (s: string) => { const b = text(s); return [0x58, ...new Uint8Array(new Uint32Array([b.length]).buffer), ...b]; };
  const pkl = new Uint8Array([0x80, 2, ...unicode(`os\n${'x'.repeat(100_000)}`), ...unicode('system\n'), 0x93, 0x2e]);
  await assertCleanError(() => parseTorchCheckpoint(zipSync({ 'archive/data.pkl': pkl }, { level: 0 }), 'pytorch_model.bin'));
});

test('preprocessor_config.json with a huge unknown key, or a size object of many keys: short messages', async () => {
  const image = { data: new Uint8Array(6 * 5 * 3), width: 6, height: 5, channels: 3 as const };
  await assertCleanError(() => new MobileNetV2ImageProcessor().preprocess(image, undefined, { ['k\n'.repeat(50_000)]: 1 }));
  const keys = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`key${i}`, i]));
  await assertCleanError(() => MobileNetV2ImageProcessor.fromConfig({ size: keys }));
  await assertCleanError(() => MobileNetV2ImageProcessor.fromConfig({ crop_size: keys }));
});

test('a thin image whose shortest-edge resize exceeds the pixel limit: E_IMAGE_TOO_LARGE before anything is allocated', () => {
  const processor = MobileNetV2ImageProcessor.fromConfig({ size: { shortest_edge: 8192 } });
  // Two rows, not one: a [1, W, 3] array would be read as channels-first, as transformers does.
  const thin = { data: new Uint8Array(2 * 1000 * 3), width: 1000, height: 2, channels: 3 as const };
  const start = performance.now();
  assert.throws(() => processor.preprocess(thin), (err: unknown) => {
    assert.ok(err instanceof MobileNetV2Error && err.code === 'E_IMAGE_TOO_LARGE', String(err));
    assert.match(err.message, new RegExp(`resizing it would give 4096000×8192 = \\d+ pixels, above the limit of ${LIMITS.maxResizePixels}`));
    return true;
  });
  assert.ok(performance.now() - start < 1000);
  // The same thin image at a shortest edge that fits resizes as before.
  const small = MobileNetV2ImageProcessor.fromConfig({ size: { shortest_edge: 8 }, do_center_crop: false }).preprocess(thin);
  assert.deepEqual(small.pixelValues.shape, [1, 3, 8, 4000]);
});

describe('hub', () => {
  const config = text('{"model_type": "mobilenet_v2"}');
  let ws: HostileWorkspace;
  let server: Hostile | undefined;
  beforeEach(async () => {
    ws = await hostileWorkspace();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await ws.cleanup();
  });
  const read = async (handler: HostileHandler, cacheDir = ws.cacheDir) => {
    server = await startHostile(handler);
    const files = await resolveModelFiles('evil/repo', { cacheDir, endpoint: server.url, env: {}, progress: false });
    return files.read('config.json');
  };
  const failsWith = async (run: () => Promise<unknown>, code: MobileNetV2ErrorCode, message: RegExp) => {
    const start = performance.now();
    await assert.rejects(run, (err: unknown) => {
      assert.ok(err instanceof MobileNetV2Error && err.code === code, String(err));
      assert.match(err.message, message);
      assert.ok(!err.message.includes('\n') && err.message.length <= MAX_MESSAGE_CHARS);
      return true;
    });
    assert.ok(performance.now() - start < 3000, 'fails at once, not after the read timeout');
  };

  test('a compressed body cut off by a closed connection fails at once (not after the 60 s read timeout)', async () => {
    for (const encoding of ['br', 'gzip']) {
      await failsWith(() => read((req, res) => {
        if (req.method === 'HEAD') return answer(req, res, { 'Content-Encoding': encoding, ETag: '"abc-1"' });
        // Raw, so the body is delimited by the connection's close (no length, not chunked), and
        // 1000 zero bytes (no valid stream): the case in which fetch never ended the body.
        const head = `HTTP/1.1 200 OK\r\nContent-Encoding: ${encoding}\r\nETag: "abc-1"\r\nConnection: close\r\n\r\n`;
        res.socket!.write(Buffer.concat([Buffer.from(head), new Uint8Array(1000)]), () => res.socket!.destroy());
      }), 'E_HUB_RESPONSE', new RegExp(`Content-Encoding "${encoding}" though it was asked for none`));
      await server!.close();
      server = undefined;
    }
  });

  test('an X-Repo-Commit of 300 characters is refused before it becomes a folder name (was ENAMETOOLONG)', async () => {
    await failsWith(() => read((req, res) => answer(req, res, { 'X-Repo-Commit': 'a'.repeat(300) }, config)), 'E_HUB_RESPONSE', /invalid X-Repo-Commit "a{80}…"/);
  });

  test('a hub cache that cannot be written: E_FILE_WRITE naming the path', async () => {
    const blocked = join(ws.root, 'not-a-folder');
    await writeFile(blocked, '');
    const headers = { ETag: `"${gitBlobSha1(config)}"`, 'Content-Length': String(config.length) };
    await failsWith(() => read((req, res) => answer(req, res, headers, config), join(blocked, 'cache')), 'E_FILE_WRITE', /cannot write .*not-a-folder\/cache\/.*: ENOTDIR/);
  });
});
