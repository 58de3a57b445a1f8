/**
 * Hostile torch.save checkpoints, each built here: zip bombs, corrupted bytes, huge integers,
 * deep or self-referencing values. Every one must fail fast with a one-line MobileNetV2Error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { zipSync } from 'fflate';
import { CHECKPOINT_LIMITS } from '../src/weights/limits.js';
import { parseTorchCheckpoint } from '../src/weights/pytorch.js';
import { crc32 } from '../src/weights/zip.js';
import { assertRejects, checkpoint, op, rawZip, statePickle, text, zeroBomb, type TensorSpec } from './weights_helpers.js';

const SOURCE = 'hostile.bin';
const MIB = 2 ** 20;

/** Asserts the rejection, and that it came within `seconds`. */
function rejects(bytes: Uint8Array, pattern: RegExp, code?: string, seconds = 2): void {
  const start = performance.now();
  assertRejects(() => parseTorchCheckpoint(bytes, SOURCE), SOURCE, pattern, code);
  const elapsed = (performance.now() - start) / 1000;
  assert.ok(elapsed < seconds, `took ${elapsed.toFixed(2)} s`);
}

/** Parses `bytes` in a fresh Node process: the outcome, its time and the process's peak RSS. */
function parseInChild(bytes: Uint8Array): { code?: string; message?: string; ms: number; maxRssMiB: number } {
  const dir = mkdtempSync(join(tmpdir(), 'hostile-'));
  try {
    const file = join(dir, SOURCE);
    writeFileSync(file, bytes);
    const script = `
      import { readFileSync } from 'node:fs';
      const { parseTorchCheckpoint } = await import(${JSON.stringify(new URL('../src/weights/pytorch.js', import.meta.url).href)});
      const bytes = readFileSync(${JSON.stringify(file)});
      const start = performance.now();
      let outcome = {};
      try { parseTorchCheckpoint(bytes, ${JSON.stringify(SOURCE)}); } catch (e) { outcome = { code: e.code, message: e.message }; }
      console.log(JSON.stringify({ ...outcome, ms: performance.now() - start, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(child.status, 0, child.stderr);
    return JSON.parse(child.stdout) as ReturnType<typeof parseInChild>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const floats = (key: string, numel: number): TensorSpec => ({ key, storage: key, numel, shape: [numel], stride: [1] });

describe('torch.save zip bombs', () => {
  const stream = zeroBomb(512); // ~530 KB that inflate to 512 MiB

  it('refuses central-directory entries that share one 512 MiB deflate stream, in bounded memory', () => {
    const keys = ['0', '1', '2', '3', '4', '5'];
    const pickle = statePickle(keys.map((k) => floats(k, 128 * MIB)));
    const bomb = rawZip(
      [{ name: 'archive/data.pkl', data: pickle }, { name: 'archive/data/0', data: stream, method: 8, size: 512 * MIB, crc: 0 }],
      keys.slice(1).map((k) => ({ name: `archive/data/${k}`, of: 'archive/data/0' })),
    );
    assert.ok(bomb.length < 600_000, `bomb is ${bomb.length} bytes`);
    rejects(bomb, /zip entries archive\/data\/0 and archive\/data\/1 overlap/);
    const child = parseInChild(bomb);
    assert.equal(child.code, 'E_CHECKPOINT_CORRUPT', child.message);
    assert.ok(child.maxRssMiB < 1536, `peak RSS ${child.maxRssMiB} MiB`);
    assert.ok(child.ms < 2000, `took ${child.ms} ms`);
  });

  it('stops inflating as soon as an entry exceeds its declared size, in bounded memory', () => {
    const bomb = rawZip([
      { name: 'archive/data.pkl', data: statePickle([floats('0', 10)]) },
      { name: 'archive/data/0', data: stream, method: 8, size: 40 },
    ]);
    rejects(bomb, /zip entry archive\/data\/0 inflates to more than the 40 bytes it declares/);
    const child = parseInChild(bomb);
    assert.equal(child.code, 'E_CHECKPOINT_CORRUPT', child.message);
    assert.ok(child.maxRssMiB < 512, `peak RSS ${child.maxRssMiB} MiB`);
  });

  it('refuses an entry whose declared size is not what its storage needs, before inflating it', () => {
    const zip = rawZip([
      { name: 'archive/data.pkl', data: statePickle([floats('0', 10)]) },
      { name: 'archive/data/0', data: stream, method: 8, size: 512 * MIB },
    ]);
    rejects(zip, /storage "0" has 536870912 bytes but 10 float32 elements need 40/, undefined, 0.5);
  });

  it('never inflates entries the pickle does not reference', () => {
    const storage = new Float32Array([1, 2, 3]);
    const zip = rawZip([
      { name: 'archive/data.pkl', data: statePickle([floats('0', 3)]) },
      { name: 'archive/data/0', data: new Uint8Array(storage.buffer) },
      { name: 'archive/extra', data: stream, method: 8, size: 512 * MIB },
    ]);
    const start = performance.now();
    assert.deepEqual([...parseTorchCheckpoint(zip, SOURCE).get('0')!.data], [1, 2, 3]);
    assert.ok(performance.now() - start < 500);
  });

  it('refuses a data.pkl above the size limit, and deflate streams that are broken or impossible', () => {
    const limit = CHECKPOINT_LIMITS.maxPickleBytes;
    rejects(rawZip([{ name: 'archive/data.pkl', data: zeroBomb(limit / MIB + 1), method: 8, size: limit + MIB }]), /data\.pkl is \d+ bytes, above the \d+-byte limit/);
    const entry = (data: Uint8Array, numel = 256) =>
      rawZip([{ name: 'archive/data.pkl', data: statePickle([floats('0', numel)]) }, { name: 'archive/data/0', data, method: 8, size: 4 * numel }]);
    rejects(entry(stream.subarray(0, 3000)), /zip entry archive\/data\/0 (is not a valid deflate stream|inflates to more than)/);
    rejects(entry(new Uint8Array([0x03, 0x00])), /zip entry archive\/data\/0 inflates to 0 of the 1024 bytes it declares/);
    rejects(entry(new Uint8Array(10), 250_000), /claims to inflate 10 bytes to an impossible 1000000/);
    rejects(entry(new Uint8Array([0xff, 0xff, 0xff])), /is not a valid deflate stream/);
  });
});

describe('torch.save zip integrity', () => {
  const storage = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]);
  const good = () => checkpoint(statePickle([floats('0', 8)]), { 0: storage });

  it('computes the standard CRC-32', () => {
    assert.equal(crc32(new Uint8Array(text('123456789'))), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
  });

  it('reads deflated entries, as a re-zipped checkpoint has them', () => {
    const big = new Float32Array(300_000).map((_, i) => i % 7);
    const files = { 'archive/data.pkl': statePickle([floats('w', big.length)]), 'archive/data/w': new Uint8Array(big.buffer) };
    const tensors = parseTorchCheckpoint(zipSync(files, { level: 6 }), SOURCE);
    assert.deepEqual(tensors.get('w')!.data, big);
  });

  it('refuses tensor bytes that fail their CRC-32', () => {
    const bytes = good();
    const at = Buffer.from(bytes).indexOf(Buffer.from(storage.buffer));
    bytes[at + 5]! ^= 0x10;
    rejects(bytes, /zip entry archive\/data\/0 fails its CRC-32 check \(corrupt file\)/);
  });

  it('reads a 14 MB checkpoint, CRC-32 included, in well under a second', () => {
    const big = new Float32Array(3_500_000).map((_, i) => Math.sin(i));
    const bytes = checkpoint(statePickle([floats('w', big.length)]), { w: big });
    const start = performance.now();
    const tensors = parseTorchCheckpoint(bytes, SOURCE);
    const ms = performance.now() - start;
    assert.equal(tensors.get('w')!.data[12345], big[12345]);
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  it('refuses duplicate names, encryption, unknown compression and a clipped directory', () => {
    const pkl = { name: 'archive/data.pkl', data: statePickle([floats('0', 1)]) };
    rejects(rawZip([pkl], [{ name: 'archive/data.pkl', of: 'archive/data.pkl' }]), /zip entry archive\/data\.pkl appears twice/);
    const method = rawZip([pkl, { name: 'archive/data/0', data: new Uint8Array(4), method: 12 as 8 }]);
    rejects(method, /zip entry archive\/data\/0 uses compression method 12; only stored and deflated/);
    const bytes = good();
    rejects(bytes.subarray(0, bytes.length - 30), /not a readable zip archive|zip archive is truncated|runs past/);
    const encrypted = good();
    const central = Buffer.from(encrypted).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    encrypted[central + 8] = 1;
    rejects(encrypted, /zip entry archive\/data\.pkl is encrypted/);
  });
});

describe('hostile pickles', () => {
  /** A checkpoint whose data.pkl is `body` after PROTO 2, ending in STOP. */
  const pickled = (...body: number[][]) => checkpoint(new Uint8Array([0x80, 0x02, ...body.flat(), 0x2e]), {});
  const le32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];

  it('refuses a 1 MB LONG4 integer (quadratic to decode) and over-long LONG1 integers at once', () => {
    rejects(pickled([0x8b, ...le32(MIB)], new Array<number>(MIB).fill(0x7f)), /1048576-byte integer at byte \d+ \(at most 8 are supported\)/, undefined, 0.5);
    rejects(pickled([0x8a, 9], new Array<number>(9).fill(1)), /9-byte integer/);
    // A length beyond the data is caught before reading.
    rejects(pickled([0x8a, 8, 1, 2]), /pickle is truncated at byte \d+ \(needs 8 more bytes\)/);
  });

  it('refuses state-dict keys that are not strings without formatting them', () => {
    // 25 levels of lists that each hold the previous one twice (via the memo): 2^25 leaves if printed.
    const shared = [0x5d, ...op.put(0), 0x30];
    for (let i = 0; i < 25; i++) shared.push(0x28, ...op.get(i), ...op.get(i), 0x6c, ...op.put(i + 1), 0x30);
    shared.push(...op.get(25));
    rejects(pickled([0x7d], shared, [0x4e, 0x73]), /state dict has a key that is a list or tuple, not a string/);
    // A list nested 50 000 deep: EMPTY_LIST × n, then APPEND × (n - 1).
    const n = 50_000;
    rejects(pickled([0x7d], new Array<number>(n).fill(0x5d), new Array<number>(n - 1).fill(0x61), [0x4e, 0x73]), /a key that is a list or tuple, not a string/);
    // A list that contains itself, as a key and as a value.
    const cycle = [0x5d, ...op.put(0), ...op.get(0), 0x61];
    rejects(pickled([0x7d], cycle, [0x4e, 0x73]), /a key that is a list or tuple/);
    rejects(pickled([0x7d], op.str('w'), cycle, [0x73]), /state dict entry "w" is not a tensor/);
  });

  it('bounds the number of opcodes, and so the values a pickle can create', () => {
    const limit = CHECKPOINT_LIMITS.maxPickleOpcodes;
    const child = parseInChild(pickled(new Array<number>(limit + 10).fill(0x5d)));
    assert.equal(child.code, 'E_CHECKPOINT_CORRUPT', child.message);
    assert.match(child.message!, new RegExp(`more than ${limit} opcodes`));
    assert.ok(child.maxRssMiB < 1536, `peak RSS ${child.maxRssMiB} MiB`);
  });

  it('checks lengths against the data left, and refuses odd protocols and repeated keys', () => {
    rejects(pickled([0x58, ...le32(0xffffffff)]), /pickle is truncated at byte \d+ \(needs 4294967295 more bytes\)/);
    rejects(pickled([0x42, ...le32(0x7fffffff)]), /needs 2147483647 more bytes/);
    rejects(pickled([0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), /pickle is truncated/);
    rejects(checkpoint(new Uint8Array([0x80, 0x06, 0x7d, 0x2e]), {}), /unsupported pickle protocol 6 at byte 0/);
    rejects(pickled([0x7d, 0x28], op.str('a'), [0x4e], op.str('a'), [0x4e, 0x75]), /a dict sets key "a" twice/);
    rejects(pickled(op.global('torch', 'x'.repeat(300))), /GLOBAL name at byte \d+ is too long/);
  });

  it('refuses tensors whose shape overflows, and strided views that would multiply memory', () => {
    const storage = { 0: new Float32Array(4) };
    const spec = (shape: number[], stride: number[], offset = 0): TensorSpec => ({ key: 'w', storage: '0', numel: 4, shape, stride, offset });
    rejects(checkpoint(statePickle([spec([65536, 65536, 65536, 65536], [1, 1, 1, 1])]), storage), /overruns storage "0" of 4 elements/);
    rejects(checkpoint(statePickle([spec([2, 2], [1, 2], 2 ** 31 - 1)]), storage), /at offset 2147483647 .* overruns storage/);
    // One transposed view of a storage is copied; more would each copy it again.
    const transposed = (key: string): TensorSpec => ({ ...spec([2, 2], [1, 2]), key });
    assert.deepEqual([...parseTorchCheckpoint(checkpoint(statePickle([transposed('a')]), storage), SOURCE).keys()], ['a']);
    rejects(checkpoint(statePickle([transposed('a'), transposed('b')]), storage), /strided tensors copy more elements than their storages hold/);
    rejects(checkpoint(statePickle([spec([4], [1]), { ...spec([2], [1]), key: 'v', numel: 2 }]), storage), /storage "0" is referenced both as 4 float32 and 2 float32 elements/);
  });
});
