/** Assertions and hostile-file builders shared by the checkpoint-format tests. */
import assert from 'node:assert/strict';
import { deflateRawSync, constants } from 'node:zlib';
import { zipSync } from 'fflate';
import { MobileNetV2Error } from '../src/errors.js';
import type { Tensor } from '../src/tensor.js';
import { crc32 } from '../src/weights/zip.js';

/** A tensor's raw bytes, for exact comparisons. */
export function rawBytes(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/**
 * Asserts that `parse` throws a one-line MobileNetV2Error with `code` (default
 * E_CHECKPOINT_CORRUPT) that starts with `source: ` and matches `pattern`.
 */
export function assertRejects(parse: () => unknown, source: string, pattern: RegExp, code = 'E_CHECKPOINT_CORRUPT'): void {
  assert.throws(parse, (e: unknown) => {
    assert.ok(e instanceof MobileNetV2Error, `expected MobileNetV2Error, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${source}: `), `message does not name ${source}: ${e.message}`);
    assert.ok(!e.message.includes('\n'), `message is not one line: ${e.message}`);
    assert.match(e.message, pattern);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

/** Asserts both maps hold the same names, dtypes, shapes and exact data. */
export function assertSameTensors(got: Map<string, Tensor>, want: Map<string, Tensor>): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [name, t] of want) {
    const g = got.get(name)!;
    assert.equal(g.dtype, t.dtype, name);
    assert.deepEqual(g.shape, t.shape, name);
    assert.ok(rawBytes(g).equals(rawBytes(t)), `${name}: data differ`);
  }
}

export const text = (s: string) => [...new TextEncoder().encode(s)];
const u16 = (n: number) => [n & 0xff, (n >> 8) & 0xff];
const u32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];

/** Hand-assembled pickle opcodes (protocol 2, as torch.save writes). */
export const op = {
  str: (s: string) => [0x58, ...u32(text(s).length), ...text(s)], // BINUNICODE
  int: (n: number) => [0x4a, ...u32(n)], // BININT
  global: (module: string, name: string) => [0x63, ...text(`${module}\n${name}\n`)],
  tuple: (...items: number[][]) => [0x28, ...items.flat(), 0x74], // MARK … TUPLE
  put: (i: number) => [0x71, i], // BINPUT
  get: (i: number) => [0x68, i], // BINGET
  orderedDict: [0x63, ...text('collections\nOrderedDict\n'), 0x29, 0x52], // OrderedDict()
};

/** One state-dict entry of {@link statePickle}. */
export interface TensorSpec {
  key: string;
  storage: string;
  type?: string;
  numel: number;
  offset?: number;
  shape: number[];
  stride: number[];
  parameter?: boolean;
}

/** The data.pkl torch.save writes for an OrderedDict state dict (with `_metadata` set by BUILD). */
export function statePickle(specs: readonly TensorSpec[]): Uint8Array {
  const entries = specs.map((s) => {
    const storage = op.tuple(op.str('storage'), op.global('torch', s.type ?? 'FloatStorage'), op.str(s.storage), op.str('cpu'), op.int(s.numel));
    const rebuild = [
      ...op.get(1),
      ...op.tuple([...storage, 0x51], op.int(s.offset ?? 0), op.tuple(...s.shape.map(op.int)), op.tuple(...s.stride.map(op.int)), [0x89], op.orderedDict),
      0x52,
    ];
    const tensor = s.parameter
      ? [...op.global('torch._utils', '_rebuild_parameter'), ...op.tuple(rebuild, [0x88], op.orderedDict), 0x52]
      : rebuild;
    return [...op.str(s.key), ...tensor];
  });
  const metadata = [0x7d, ...op.str('_metadata'), ...op.orderedDict, ...op.str(''), 0x7d, ...op.str('version'), ...op.int(1), 0x73, 0x73, 0x73];
  return new Uint8Array([
    0x80, 0x02,
    ...op.global('torch._utils', '_rebuild_tensor_v2'), ...op.put(1), 0x30, // memoised, then popped
    ...op.orderedDict, 0x28, ...entries.flat(), 0x75, // SETITEMS
    ...metadata, 0x62, // BUILD
    0x2e,
  ]);
}

/** A torch.save-style zip (stored entries) of a pickle and its storages. */
export function checkpoint(pickle: Uint8Array, storages: Record<string, ArrayBufferView>, extra: Record<string, Uint8Array> = {}): Uint8Array {
  const files: Record<string, Uint8Array> = { 'archive/data.pkl': pickle, ...extra };
  for (const [key, data] of Object.entries(storages)) files[`archive/data/${key}`] = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return zipSync(files, { level: 0 });
}

/** A zip entry for {@link rawZip}, written exactly as described (sizes and CRC may lie). */
export interface RawEntry {
  name: string;
  /** The entry's bytes as stored in the file (already deflated when `method` is 8). */
  data: Uint8Array;
  method?: 0 | 8;
  /** Declared uncompressed size (default: `data.length`). */
  size?: number;
  /** Declared CRC-32 (default: that of `data`). */
  crc?: number;
}

/**
 * A zip archive written field by field, so tests can make it lie. Each entry gets a local header
 * and its data; `aliases` add central-directory entries that point at another entry's local
 * header under a new name, which is how the overlapping zip bomb multiplies one stream.
 */
export function rawZip(entries: readonly RawEntry[], aliases: ReadonlyArray<{ name: string; of: string }> = []): Uint8Array {
  const parts: number[][] = [];
  const central: number[][] = [];
  const offsets = new Map<string, { at: number; fields: number[] }>();
  let at = 0;
  for (const e of entries) {
    const fields = [...u16(e.method ?? 0), 0, 0, 0, 0, ...u32(e.crc ?? crc32(e.data)), ...u32(e.data.length), ...u32(e.size ?? e.data.length)];
    const local = [...u32(0x04034b50), ...u16(20), ...u16(0), ...fields, ...u16(text(e.name).length), ...u16(0), ...text(e.name)];
    offsets.set(e.name, { at, fields });
    parts.push(local);
    at += local.length + e.data.length;
  }
  for (const { name, of } of [...entries.map((e) => ({ name: e.name, of: e.name })), ...aliases]) {
    const { at: headerAt, fields } = offsets.get(of)!;
    central.push([...u32(0x02014b50), ...u16(20), ...u16(20), ...u16(0), ...fields, ...u16(text(name).length), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...u32(headerAt), ...text(name)]);
  }
  const directory = central.flat();
  const end = [...u32(0x06054b50), 0, 0, 0, 0, ...u16(central.length), ...u16(central.length), ...u32(directory.length), ...u32(at), 0, 0];
  const chunks = entries.flatMap((e, i) => [new Uint8Array(parts[i]!), e.data]);
  return new Uint8Array(Buffer.concat([...chunks, new Uint8Array(directory), new Uint8Array(end)]));
}

/**
 * A raw deflate stream of `mib` MiB of zeros, about 1 KB per MiB, built in milliseconds: one
 * fully flushed (self-contained, byte-aligned) block for 1 MiB, repeated, then an empty final block.
 */
export function zeroBomb(mib: number): Uint8Array {
  const block = deflateRawSync(Buffer.alloc(2 ** 20), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  return new Uint8Array(Buffer.concat([...new Array<Buffer>(mib).fill(block), Buffer.from([0x03, 0x00])]));
}
