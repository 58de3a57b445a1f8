import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import type { Tensor } from '../src/tensor.js';
import { bfloat16ToFloat32, float16ToFloat32, float32ToFloat16, toFloat32 } from '../src/weights/dtype.js';
import { CHECKPOINT_LIMITS } from '../src/weights/limits.js';
import { parseSafetensors, serializeSafetensors } from '../src/weights/safetensors.js';
import { HF_FIXTURES, requireFixtures } from './helpers.js';
import { assertRejects, assertSameTensors } from './weights_helpers.js';

const C_MODEL = join(HF_FIXTURES, 'c_cls_050_64_nopad/model.safetensors');
const F_MODEL = join(HF_FIXTURES, 'f_seg_035_os8_65/model.safetensors');
/** The tests below count on the full shared fixture set (its file counts, the c and f models). */
const SHARED_HF = requireFixtures(C_MODEL, F_MODEL);

function fixtureFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return fixtureFiles(path);
    return entry.name.endsWith('.safetensors') ? [path] : [];
  });
}

/** A safetensors file from a header object and a data section. */
function craft(header: unknown, data: Uint8Array | number, headerText = JSON.stringify(header)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes, 8 + json.length);
  return out;
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assertRejects(() => parseSafetensors(bytes, 'model.safetensors'), 'model.safetensors', pattern);
}

describe('parseSafetensors on the HF fixtures', SHARED_HF, () => {
  it('parses every fixture file and covers its data section', () => {
    const files = fixtureFiles(HF_FIXTURES);
    assert.ok(files.length >= 20, `found only ${files.length} fixture files`);
    for (const file of files) {
      const bytes = readFileSync(file);
      const { tensors } = parseSafetensors(bytes, relative(HF_FIXTURES, file));
      assert.ok(tensors.size > 0, file);
      const total = [...tensors.values()].reduce((sum, t) => sum + t.data.byteLength, 0);
      assert.equal(total, bytes.length - 8 - Number(bytes.readBigUInt64LE(0)), file);
    }
  });

  it('reads shapes, dtypes, metadata and values of a model', () => {
    const { tensors, metadata } = parseSafetensors(readFileSync(C_MODEL), 'model.safetensors');
    assert.deepEqual(metadata, { format: 'pt' });
    assert.equal(tensors.size, 314);
    const stem = tensors.get('mobilenet_v2.conv_stem.first_conv.convolution.weight')!;
    assert.equal(stem.dtype, 'float32');
    assert.deepEqual(stem.shape, [16, 3, 3, 3]);
    assert.deepEqual(tensors.get('mobilenet_v2.layer.0.conv_3x3.convolution.weight')!.shape, [48, 1, 3, 3]);
    assert.deepEqual(tensors.get('classifier.weight')!.shape, [10, 1280]);
    const bias = tensors.get('classifier.bias')!.data as Float32Array;
    assert.deepEqual([...bias.subarray(0, 3)], [-0.20130212604999542, 0.03599940612912178, 0.2764281928539276].map(Math.fround));
    // The fixture README promises shape [] but the files (and pytorch_model.bin) hold [1].
    const tracked = tensors.get('mobilenet_v2.conv_stem.first_conv.normalization.num_batches_tracked')!;
    assert.equal(tracked.dtype, 'int64');
    assert.equal(tracked.data.length, 1);
    assert.ok(tracked.data instanceof BigInt64Array);
  });

  it('returns views onto aligned data and copies misaligned tensors correctly', () => {
    const bytes = readFileSync(F_MODEL);
    const { tensors } = parseSafetensors(bytes, 'model.safetensors');
    const weight = tensors.get('segmentation_head.conv_pool.convolution.weight')!;
    assert.equal(weight.data.buffer, bytes.buffer, 'aligned float32 data should not be copied');
    // This older-style file is ordered by name only, leaving some int64 tensors 4-byte aligned.
    const tracked = tensors.get('segmentation_head.conv_pool.normalization.num_batches_tracked')!;
    assert.notEqual(tracked.data.buffer, bytes.buffer);
    assert.deepEqual([...(tracked.data as BigInt64Array)], [0n]);

    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const again = parseSafetensors(shifted.subarray(1), 'model.safetensors').tensors;
    assertSameTensors(again, tensors);
  });
});

describe('serializeSafetensors', () => {
  it('reproduces single-dtype fixture files byte for byte', SHARED_HF, () => {
    let compared = 0;
    for (const file of fixtureFiles(HF_FIXTURES)) {
      const bytes = readFileSync(file);
      const { tensors, metadata } = parseSafetensors(bytes, file);
      if (new Set([...tensors.values()].map((t) => t.dtype)).size !== 1) continue;
      const out = serializeSafetensors(tensors, Object.keys(metadata).length ? metadata : undefined);
      assert.ok(Buffer.from(out).equals(bytes), `${relative(HF_FIXTURES, file)} differs`);
      compared++;
    }
    assert.ok(compared >= 15, `only ${compared} single-dtype files`);
  });

  it('orders mixed dtypes by decreasing alignment then name, like the reference library', SHARED_HF, () => {
    const { tensors, metadata } = parseSafetensors(readFileSync(C_MODEL), 'model.safetensors');
    const out = serializeSafetensors(tensors, metadata);
    const parsed = parseSafetensors(out, 'out.safetensors');
    assertSameTensors(parsed.tensors, tensors);
    assert.deepEqual(parsed.metadata, { format: 'pt' });
    const order = [...parsed.tensors.keys()];
    const firstFloat = order.findIndex((name) => parsed.tensors.get(name)!.dtype === 'float32');
    assert.equal(firstFloat, 52, 'all 52 int64 num_batches_tracked come first');
    assert.deepEqual(order.slice(0, firstFloat), [...order.slice(0, firstFloat)].sort());
    assert.deepEqual(order.slice(firstFloat), [...order.slice(firstFloat)].sort());
    const headerLength = Number(new DataView(out.buffer).getBigUint64(0, true));
    assert.equal(headerLength % 8, 0);
    assert.match(new TextDecoder().decode(out.subarray(8, 8 + headerLength)), /^\{"__metadata__":\{"format":"pt"\},"mobilenet_v2\.conv_1x1\.normalization\.num_batches_tracked":\{"dtype":"I64","shape":\[1\],"data_offsets":\[0,8\]\},/);
  });

  it('matches the reference implementation’s own test vectors', () => {
    // safetensors/src/tensor.rs: test_serialization and test_empty.
    const attn = serializeSafetensors([['attn.0', { dtype: 'float32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) }]]);
    assert.deepEqual([...attn], [
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
      116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
      58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
      101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
      0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    assert.deepEqual([...serializeSafetensors(new Map())], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    assert.deepEqual([...serializeSafetensors(new Map(), { framework: 'pt' })], [
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
      95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
      116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
  });

  it('round-trips every dtype, scalars, empty tensors and unusual names', () => {
    const tensors = new Map<string, Tensor>([
      ['bn.num_batches_tracked', { dtype: 'int64', shape: [], data: new BigInt64Array([-(2n ** 62n)]) }],
      ['f64', { dtype: 'float64', shape: [2], data: new Float64Array([Math.PI, -1e300]) }],
      ['f32', { dtype: 'float32', shape: [3, 1], data: new Float32Array([1.5, NaN, -Infinity]) }],
      ['f16', { dtype: 'float16', shape: [2], data: new Uint16Array([0x3c00, 0xfbff]) }],
      ['bf16', { dtype: 'bfloat16', shape: [1], data: new Uint16Array([0x4049]) }],
      ['i32', { dtype: 'int32', shape: [2], data: new Int32Array([-2147483648, 7]) }],
      ['i16', { dtype: 'int16', shape: [1], data: new Int16Array([-300]) }],
      ['i8', { dtype: 'int8', shape: [1, 1, 1], data: new Int8Array([-5]) }],
      ['u8', { dtype: 'uint8', shape: [3], data: new Uint8Array([0, 128, 255]) }],
      ['mask', { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) }],
      ['empty', { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) }],
      ['naïve "quoted"\n€𝄞', { dtype: 'float32', shape: [1], data: new Float32Array([2]) }],
    ]);
    const out = serializeSafetensors(tensors, { format: 'pt', note: 'é' });
    const parsed = parseSafetensors(out, 'roundtrip.safetensors');
    assertSameTensors(parsed.tensors, tensors);
    assert.deepEqual(parsed.metadata, { format: 'pt', note: 'é' });
    assert.deepEqual(parsed.tensors.get('bn.num_batches_tracked')!.shape, []);
    // Every tensor is aligned to its element size, so nothing was copied.
    for (const t of parsed.tensors.values()) assert.equal(t.data.buffer, out.buffer);
    assert.deepEqual([...parsed.tensors.keys()].slice(0, 3), ['bn.num_batches_tracked', 'f64', 'empty']);
    assert.deepEqual([...parsed.tensors.keys()].slice(-2), ['u8', 'mask']);
  });

  it('rejects tensors it cannot write', () => {
    const f32 = (n: number): Tensor => ({ dtype: 'float32', shape: [n], data: new Float32Array(2) });
    assert.throws(() => serializeSafetensors([['w', f32(3)]]), /tensor "w" has 2 elements but shape \[3\] needs 3/);
    assert.throws(() => serializeSafetensors([['w', f32(2)], ['w', f32(2)]]), /duplicate tensor name "w"/);
    assert.throws(() => serializeSafetensors([['__metadata__', f32(2)]]), /reserved/);
    const wrong = { dtype: 'float16', shape: [2], data: new Float32Array(2) } as unknown as Tensor;
    assert.throws(() => serializeSafetensors([['h', wrong]]), (e) => e instanceof MobileNetV2Error && /Float32Array cannot hold float16/.test(e.message));
  });
});

describe('dtype conversion', () => {
  it('converts F16, BF16, F64 and integer tensors read from a crafted file', () => {
    const data = new Uint8Array(48);
    const view = new DataView(data.buffer);
    [0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00, 0xfc00, 0x8000, 0x7bff].forEach((h, i) => view.setUint16(i * 2, h, true));
    [0x3f80, 0xc049, 0x0000, 0x7f80].forEach((b, i) => view.setUint16(16 + i * 2, b, true));
    view.setFloat64(24, 1 / 3, true);
    view.setBigInt64(32, -123n, true);
    view.setInt32(40, 65537, true);
    view.setInt16(44, -2, true);
    view.setInt8(46, -128);
    view.setUint8(47, 1);
    const { tensors } = parseSafetensors(craft({
      h: { dtype: 'F16', shape: [2, 4], data_offsets: [0, 16] },
      b: { dtype: 'BF16', shape: [4], data_offsets: [16, 24] },
      d: { dtype: 'F64', shape: [], data_offsets: [24, 32] },
      l: { dtype: 'I64', shape: [1], data_offsets: [32, 40] },
      i: { dtype: 'I32', shape: [1], data_offsets: [40, 44] },
      s: { dtype: 'I16', shape: [1], data_offsets: [44, 46] },
      c: { dtype: 'I8', shape: [1], data_offsets: [46, 47] },
      o: { dtype: 'BOOL', shape: [1], data_offsets: [47, 48] },
    }, data), 'crafted.safetensors');
    const f = (name: string) => [...toFloat32(tensors.get(name)!)];
    assert.deepEqual(f('h'), [1, -2, Math.fround(0.333251953125), 2 ** -24, Infinity, -Infinity, -0, 65504]);
    assert.deepEqual(f('b'), [1, Math.fround(-3.140625), 0, Infinity]);
    assert.deepEqual(f('d'), [Math.fround(1 / 3)]);
    assert.deepEqual([f('l'), f('i'), f('s'), f('c'), f('o')], [[-123], [65537], [-2], [-128], [1]]);
    const f32 = { dtype: 'float32', shape: [1], data: new Float32Array([3]) } as const;
    assert.equal(toFloat32(f32), f32.data, 'float32 data is returned without a copy');
  });

  it('float32ToFloat16 inverts float16ToFloat32 on all 65536 half values', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = float16ToFloat32(bits);
      if (Number.isNaN(value)) assert.equal(float32ToFloat16(value), 0x7e00);
      else assert.equal(float32ToFloat16(value), bits, `0x${bits.toString(16)}`);
      assert.equal(bfloat16ToFloat32(bits), new Float32Array(new Uint32Array([bits << 16]).buffer)[0]);
    }
  });

  it('float32ToFloat16 rounds half to even and saturates to infinity', () => {
    assert.equal(float32ToFloat16(1 + 2 ** -11), 0x3c00); // tie, rounds down to even
    assert.equal(float32ToFloat16(1 + 3 * 2 ** -11), 0x3c02); // tie, rounds up to even
    assert.equal(float32ToFloat16(65519), 0x7bff);
    assert.equal(float32ToFloat16(65520), 0x7c00);
    assert.equal(float32ToFloat16(-1e10), 0xfc00);
    assert.equal(float32ToFloat16(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal
    assert.equal(float32ToFloat16(1.5 * 2 ** -25), 0x0001);
    assert.equal(float32ToFloat16(2 ** -14 - 2 ** -25), 0x0400); // rounds up into the normals
    assert.equal(float32ToFloat16(-1e-10), 0x8000);
  });
});

describe('parseSafetensors rejects bad files', () => {
  const good = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('accepts the well-formed base case', () => {
    assert.deepEqual([...(parseSafetensors(craft(good, 8), 'ok').tensors.get('w')!.data)], [0, 0]);
  });

  it('a file too short for a header', () => rejects(new Uint8Array(5), /5 bytes, too short/));

  it('a header length beyond the file', () => {
    const bytes = craft(good, 8);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
    rejects(bytes, /header length 9223372036854775808 is beyond the end of the \d+-byte file/);
  });

  it('invalid JSON and non-object headers', () => {
    rejects(craft(null, 0, '{"w": {'), /header is not valid UTF-8 JSON/);
    rejects(craft(null, 0, '[1, 2]'), /header JSON is not an object/);
    const latin1 = craft(null, 0, '{"a":"?"}');
    latin1[latin1.indexOf(0x3f)] = 0xff;
    rejects(latin1, /not valid UTF-8 JSON/);
  });

  it('an unknown dtype', () => {
    rejects(craft({ w: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, 8), /tensor "w" has unsupported dtype "F8_E4M3" \(supported: BOOL, U8/);
  });

  it('invalid shapes and offsets', () => {
    rejects(craft({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8), /tensor "w" has invalid shape \[-2\]/);
    rejects(craft({ w: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, 8), /invalid shape/);
    rejects(craft({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 8), /tensor "w" has invalid data_offsets \[8,0\]/);
    rejects(craft({ w: { dtype: 'F32', shape: [2] } }, 8), /invalid data_offsets undefined/);
    rejects(craft({ w: 3 }, 8), /tensor "w" has no \{dtype, shape, data_offsets\}/);
  });

  it('offsets beyond the end of the file', () => {
    rejects(craft({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /tensor "w" has data_offsets \[0, 16\] beyond the end of the file \(data section is 8 bytes; truncated\?\)/);
  });

  it('a truncated fixture', SHARED_HF, () => {
    const bytes = readFileSync(C_MODEL);
    rejects(bytes.subarray(0, bytes.length - 100), /tensor "mobilenet_v2\.layer\.9\.reduce_1x1\.normalization\.weight" has data_offsets \[\d+, \d+\] beyond the end of the file/);
    rejects(bytes.subarray(0, 1000), /header length 37880 is beyond the end of the 1000-byte file/);
  });

  it('a byte length that does not match dtype and shape', () => {
    rejects(craft({ w: { dtype: 'I64', shape: [2, 3], data_offsets: [0, 8] } }, 8), /tensor "w" has 8 bytes but I64 \[2, 3\] needs 48/);
  });

  it('overlapping ranges, holes and undescribed trailing bytes', () => {
    rejects(craft({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, 12), /tensors "a" and "b" overlap \(data_offsets \[0, 8\] and \[4, 12\]\)/);
    rejects(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /4 unused bytes before tensor "w"/);
    rejects(craft(good, 12), /4 bytes after the last tensor are not described/);
  });

  it('metadata that is not a string map', () => {
    rejects(craft({ __metadata__: { format: 1 }, ...good }, 8), /"__metadata__" must map strings to strings/);
    rejects(craft({ __metadata__: { format: ['pt'] }, ...good }, 8), /"__metadata__" must map strings to strings/);
    rejects(craft({ __metadata__: 'pt', ...good }, 8), /"__metadata__" must map strings to strings/);
  });

  it('a header above the 100 MB limit, refused before it is read', () => {
    // The zero-filled buffer is not touched, so it costs no memory.
    const bytes = new Uint8Array(8 + CHECKPOINT_LIMITS.maxSafetensorsHeaderBytes + 16);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(CHECKPOINT_LIMITS.maxSafetensorsHeaderBytes + 1), true);
    rejects(bytes, /header length 100000001 exceeds the format's 100000000-byte limit/);
  });

  it('deeply nested or container-heavy JSON, refused before JSON.parse builds it', () => {
    const deep = 100_000;
    const start = performance.now();
    rejects(craft(null, 8, `{"w": {"dtype": "F32", "shape": ${'['.repeat(deep)}${']'.repeat(deep)}, "data_offsets": [0, 8]}}`), /header JSON nests deeper than 16 levels at byte \d+/);
    // Brackets inside strings (escaped quotes included) do not count.
    const quoted = JSON.stringify('\\"['.repeat(1000));
    assert.ok(parseSafetensors(craft(null, 8, `{"__metadata__": {"x": ${quoted}}, "w": ${JSON.stringify(good.w)}}`), 'ok').metadata.x);
    const many = CHECKPOINT_LIMITS.maxSafetensorsHeaderContainers;
    rejects(craft(null, 8, `{"w": {"dtype": "F32", "shape": [${'[],'.repeat(many)}[]], "data_offsets": [0, 8]}}`), /more than 1000000 arrays and objects/);
    assert.ok(performance.now() - start < 2000);
  });

  it('shapes whose element count overflows, and huge values in messages cut short', () => {
    rejects(craft({ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, 8), /tensor "w" has shape \[1099511627776,1099511627776\], too many elements for any file/);
    const name = 'n'.repeat(1_000_000);
    assert.throws(
      () => parseSafetensors(craft({ [name]: { dtype: 'F32', shape: new Array(100_000).fill(1), data_offsets: [0, 4] } }, 8), 'x'),
      (e: unknown) => e instanceof MobileNetV2Error && e.code === 'E_CHECKPOINT_CORRUPT' && e.message.length < 400,
    );
  });
});
