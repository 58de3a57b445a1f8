import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { zipSync } from 'fflate';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { parseTorchCheckpoint } from '../src/weights/pytorch.js';
import { HF_FIXTURES, requireFixtures } from './helpers.js';
import { assertRejects, assertSameTensors, checkpoint, op, statePickle, text, type TensorSpec } from './weights_helpers.js';

function rejects(bytes: Uint8Array, pattern: RegExp, code?: string): void {
  assertRejects(() => parseTorchCheckpoint(bytes, 'pytorch_model.bin'), 'pytorch_model.bin', pattern, code);
}

describe('parseTorchCheckpoint on the HF fixtures', () => {
  for (const name of ['c_cls_050_64_nopad', 'f_seg_035_os8_65']) {
    it(`${name}: pytorch_model.bin holds exactly model.safetensors`, requireFixtures(join(HF_FIXTURES, name, 'pytorch_model.bin')), () => {
      const bin = parseTorchCheckpoint(readFileSync(join(HF_FIXTURES, name, 'pytorch_model.bin')), 'pytorch_model.bin');
      const { tensors } = parseSafetensors(readFileSync(join(HF_FIXTURES, name, 'model.safetensors')), 'model.safetensors');
      assertSameTensors(bin, tensors);
    });
  }
  it('reads the zip64 end record torch writes when the classic one defers to it', requireFixtures(join(HF_FIXTURES, 'c_cls_050_64_nopad/pytorch_model.bin')), () => {
    const bin = readFileSync(join(HF_FIXTURES, 'c_cls_050_64_nopad/pytorch_model.bin'));
    const patched = new Uint8Array(bin);
    const end = Buffer.from(patched).lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    new DataView(patched.buffer).setUint32(end + 16, 0xffffffff, true); // directory offset: see zip64
    assertSameTensors(parseTorchCheckpoint(patched, 'zip64.bin'), parseTorchCheckpoint(bin, 'pytorch_model.bin'));
    new DataView(patched.buffer).setUint32(end - 20, 0, true); // no zip64 locator
    rejects(patched, /zip64 archive without its zip64 end record/);
  });
});

describe('parseTorchCheckpoint on crafted checkpoints', () => {
  const storage = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const specs: TensorSpec[] = [
    { key: 'w', storage: '0', numel: 10, offset: 1, shape: [2, 3], stride: [3, 1] },
    { key: 'w_t', storage: '0', numel: 10, offset: 1, shape: [3, 2], stride: [1, 3] }, // w transposed
    { key: 'tail', storage: '0', numel: 10, offset: 7, shape: [3, 1], stride: [1, 5], parameter: true },
    { key: 'num_batches_tracked', storage: '1', type: 'LongStorage', numel: 1, shape: [], stride: [] },
    { key: 'half', storage: '2', type: 'HalfStorage', numel: 2, shape: [2], stride: [1] },
    { key: 'empty', storage: '0', numel: 10, shape: [0, 5], stride: [5, 1] },
  ];
  const storages = { 0: storage, 1: new BigInt64Array([42n]), 2: new Uint16Array([0x3c00, 0xc000]) };

  it('honours storage offsets, strides, shared storages, dtypes and scalars', () => {
    const tensors = parseTorchCheckpoint(checkpoint(statePickle(specs), storages, { 'archive/byteorder': new Uint8Array(text('little')) }), 'crafted.bin');
    assert.deepEqual([...tensors.keys()], specs.map((s) => s.key));
    const values = (key: string) => [...tensors.get(key)!.data];
    assert.deepEqual(values('w'), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(values('w_t'), [1, 4, 2, 5, 3, 6]);
    assert.deepEqual(tensors.get('w_t')!.shape, [3, 2]);
    assert.deepEqual(values('tail'), [7, 8, 9]);
    assert.deepEqual(tensors.get('num_batches_tracked'), { dtype: 'int64', shape: [], data: new BigInt64Array([42n]) });
    assert.equal(tensors.get('half')!.dtype, 'float16');
    assert.deepEqual(values('half'), [0x3c00, 0xc000]);
    assert.deepEqual(tensors.get('empty')!.shape, [0, 5]);
    assert.equal(tensors.get('empty')!.data.length, 0);
  });

  it('refuses pickles that call anything but tensor constructors, without running them', () => {
    // pickle.dumps(os.system("ls"), protocol=2) as the brief spells it.
    const osSystem = new Uint8Array(Buffer.from('\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.', 'latin1'));
    rejects(checkpoint(osSystem, {}), /pickle tries to call os\.system, which is not an allowed tensor constructor/, 'E_CHECKPOINT_UNSAFE');
    // Protocol 4 style: STACK_GLOBAL builtins.eval.
    const evil = new Uint8Array([0x80, 0x04, 0x8c, 8, ...text('builtins'), 0x8c, 4, ...text('eval'), 0x93, ...op.tuple(op.str('1')), 0x52, 0x2e]);
    rejects(checkpoint(evil, {}), /pickle tries to call builtins\.eval, which is not an allowed tensor constructor/, 'E_CHECKPOINT_UNSAFE');
    rejects(checkpoint(new Uint8Array([0x80, 0x02, ...op.global('torch', 'load'), 0x2e]), {}), /pickle tries to call torch\.load/, 'E_CHECKPOINT_UNSAFE');
    // A storage type is not callable.
    rejects(checkpoint(new Uint8Array([0x80, 0x02, ...op.global('torch', 'FloatStorage'), 0x29, 0x52, 0x2e]), {}), /calls a value that is not an allowed callable/, 'E_CHECKPOINT_UNSAFE');
  });

  it('rejects an unknown opcode, a truncated pickle and other malformed pickles', () => {
    rejects(checkpoint(new Uint8Array([0x80, 0x02, 0x7d, 0xff, 0x2e]), {}), /unsupported pickle opcode 0xff at byte 3/);
    const pickle = statePickle(specs);
    rejects(checkpoint(pickle.subarray(0, 100), storages), /pickle is truncated at byte \d+/);
    rejects(checkpoint(new Uint8Array([0x80, 0x02, 0x68, 7, 0x2e]), {}), /memo entry 7 is read before it is written/);
    rejects(checkpoint(new Uint8Array([0x80, 0x02, 0x74, 0x2e]), {}), /no MARK before byte 2/);
    rejects(checkpoint(new Uint8Array([0x80, 0x02, 0x5d, 0x2e]), {}), /data\.pkl does not hold a state dict/);
    rejects(checkpoint(new Uint8Array([0x80, 0x02, 0x7d, ...op.str('a'), ...op.int(1), 0x73, 0x2e]), {}), /state dict entry "a" is not a tensor/);
  });

  it('rejects tensors that do not fit their storage and missing storages', () => {
    rejects(checkpoint(statePickle([{ key: 'w', storage: '0', numel: 10, offset: 5, shape: [2, 3], stride: [3, 1] }]), storages),
      /tensor \[2, 3\] at offset 5 with strides \[3, 1\] overruns storage "0" of 10 elements/);
    rejects(checkpoint(statePickle([{ key: 'w', storage: '0', numel: 20, shape: [20], stride: [1] }]), storages),
      /storage "0" has 40 bytes but 20 float32 elements need 80/);
    rejects(checkpoint(statePickle([{ key: 'w', storage: '9', numel: 1, shape: [1], stride: [1] }]), storages),
      /storage "9" is missing from the archive \(expected archive\/data\/9\)/);
    rejects(checkpoint(statePickle([{ key: 'w', storage: '0', numel: 10, shape: [100], stride: [0] }]), storages),
      /overlapping strides are not supported/);
    rejects(checkpoint(statePickle([{ key: 'c', storage: '0', type: 'ComplexFloatStorage', numel: 1, shape: [1], stride: [1] }]), storages),
      /pickle tries to call torch\.ComplexFloatStorage/, 'E_CHECKPOINT_UNSAFE');
  });

  it('rejects big-endian, legacy, non-torch and corrupt archives', requireFixtures(join(HF_FIXTURES, 'c_cls_050_64_nopad/pytorch_model.bin')), () => {
    rejects(checkpoint(statePickle(specs), storages, { 'archive/byteorder': new Uint8Array(text('big')) }), /saved with byteorder "big"; only little-endian/);
    rejects(new Uint8Array([0x80, 0x02, 0x8a, 0x0a]), /legacy \(pre-1\.6, non-zip\) torch\.save format/);
    rejects(zipSync({ 'model.onnx': new Uint8Array(4) }), /expected one <archive>\/data\.pkl in the zip, found 0/);
    rejects(new Uint8Array(text('definitely not a zip file')), /not a readable zip archive .*truncated or corrupt checkpoint\?/);
    const bin = readFileSync(join(HF_FIXTURES, 'c_cls_050_64_nopad/pytorch_model.bin'));
    rejects(bin.subarray(0, bin.length - 1000), /not a readable zip archive/);
    rejects(bin.subarray(0, 1000), /not a readable zip archive/);
  });

  it('detects a zip entry that runs past the end of the file', () => {
    const zip = checkpoint(statePickle(specs), storages);
    // Claim a huge size for the last entry in the central directory: fflate alone would clip it silently.
    const last = Buffer.from(zip).lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    new DataView(zip.buffer).setUint32(last + 20, 0x7fffffff, true);
    new DataView(zip.buffer).setUint32(last + 24, 0x7fffffff, true);
    rejects(zip, /zip entry archive\/data\/2 has 2147483647 bytes of data, past the end of the entries \(truncated file\?\)/);
  });
});
