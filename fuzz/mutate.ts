/**
 * Input generators for the fuzz targets: fast-check arbitraries that mutate seed files. Byte-level
 * mutations (flips, inserts, deletes, boundary integers, truncation) work on any format; the
 * structure-aware ones (JSON values, zip header fields) reach checks a random byte rarely hits.
 */
import fc from 'fast-check';

/** Integers at the edges of the ranges parsers store sizes, offsets and counts in. */
export const BOUNDARY_INTS = [0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 53, -(2 ** 31)];

/** One edit of a byte string; `at` is taken modulo the length, so any seed fits. */
export type ByteMutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'int'; at: number; value: number; width: 1 | 2 | 4 | 8; littleEndian: boolean }
  | { kind: 'truncate'; at: number };

/** A position, biased to the first bytes where headers live. */
const position = fc.oneof(fc.nat(255), fc.nat(4095), fc.nat());

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('int' as const), at: position, value: fc.constantFrom(...BOUNDARY_INTS),
      width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), littleEndian: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
);

/** Writes `value` as a `width`-byte integer (two's complement for negatives, wrapping). */
export function writeInt(bytes: Uint8Array, at: number, value: number, width: 1 | 2 | 4 | 8, littleEndian = true): void {
  if (at + width > bytes.length) return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const big = BigInt.asUintN(width * 8, BigInt(value));
  for (let i = 0; i < width; i++) {
    const byte = Number((big >> BigInt(8 * i)) & 0xffn);
    view.setUint8(littleEndian ? at + i : at + width - 1 - i, byte);
  }
}

/** Applies `mutations` in order to a copy of `seed`. */
export function applyMutations(seed: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let out: Uint8Array = seed.slice();
  for (const m of mutations) {
    const at = m.at % (out.length + 1);
    if (m.kind === 'flip' && at < out.length) out[at]! ^= 1 << m.bit;
    else if (m.kind === 'insert') out = concat(out.subarray(0, at), m.bytes, out.subarray(at));
    else if (m.kind === 'delete') out = concat(out.subarray(0, at), out.subarray(at + m.length));
    else if (m.kind === 'int') writeInt(out, at, m.value, m.width, m.littleEndian);
    else if (m.kind === 'truncate') out = out.slice(0, at);
  }
  return out;
}

/** The bytes of `parts`, one after another. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** A list of 1–8 byte mutations. */
export const byteMutations = fc.array(byteMutation, { minLength: 1, maxLength: 8 });

/** Seeds with a few byte-level mutations applied. */
export function mutatedBytes(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.constantFrom(...seeds), byteMutations).map(([seed, ms]) => applyMutations(seed, ms));
}

/** JSON values that break parsers: boundary and non-integer numbers, odd strings, deep or big values. */
export const hostileJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...BOUNDARY_INTS, 1e308, -1e308, 0.5, -0.5, 1e-300, 2 ** 64, 3.7),
  fc.constantFrom('', '../../x', '\u0000', 'a'.repeat(100_000), '__proto__', 'constructor'),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom([], {}, [[]], null, true, Array.from({ length: 10_000 }, (_, i) => i)),
  fc.integer({ min: 1, max: 10 }).map((depth) => JSON.parse('['.repeat(depth * 100) + ']'.repeat(depth * 100)) as unknown),
);

type JsonPath = (string | number)[];

/** Paths in a parsed JSON value (objects' keys, arrays' indices) down to depth 8, the root included. */
function jsonPaths(value: unknown, prefix: JsonPath = []): JsonPath[] {
  const paths: JsonPath[] = [prefix];
  if (prefix.length >= 8) return paths;
  if (Array.isArray(value)) value.slice(0, 32).forEach((v, i) => paths.push(...jsonPaths(v, [...prefix, i])));
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value).slice(0, 256)) paths.push(...jsonPaths(v, [...prefix, k]));
  }
  return paths;
}

/** One structural edit of a JSON document: set, delete or add a key at a path. */
interface JsonEdit {
  readonly path: number;
  readonly op: 'set' | 'delete' | 'add';
  readonly key: string;
  readonly value: unknown;
}

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  path: fc.nat(),
  op: fc.constantFrom('set' as const, 'set' as const, 'delete' as const, 'add' as const),
  key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', '0', '-1', '4294967295', '__metadata__')),
  value: hostileJsonValue,
});

function applyJsonEdit(doc: unknown, edit: JsonEdit): unknown {
  const paths = jsonPaths(doc);
  const path = paths[edit.path % paths.length]!;
  if (path.length === 0) return edit.op === 'set' ? edit.value : doc;
  let parent = doc as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  // Values are cloned: the same constant may be edited into a document twice (no cycles).
  if (edit.op === 'set') parent[last] = structuredClone(edit.value);
  else if (edit.op === 'delete') delete parent[last];
  else if (typeof parent[last] === 'object' && parent[last] !== null && !Array.isArray(parent[last])) {
    Object.defineProperty(parent[last], edit.key, { value: structuredClone(edit.value), enumerable: true, configurable: true, writable: true });
  }
  return doc;
}

/** JSON documents (parsed seeds) with 1–4 structural edits, serialized back to text. */
export function mutatedJson(seeds: readonly unknown[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(jsonEdit, { minLength: 1, maxLength: 4 }))
    .map(([seed, edits]) => JSON.stringify(edits.reduce(applyJsonEdit, structuredClone(seed))) ?? 'null');
}

/** Offsets and widths of the size, offset, count, method and CRC fields of a zip's headers. */
export function zipFields(bytes: Uint8Array): { at: number; width: 2 | 4 }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: { at: number; width: 2 | 4 }[] = [];
  const add = (base: number, spec: readonly (readonly [number, 2 | 4])[]) => spec.forEach(([o, width]) => fields.push({ at: base + o, width }));
  for (let i = 0; i + 4 <= bytes.length; i++) {
    const sig = view.getUint32(i, true);
    if (sig === 0x04034b50) add(i, [[8, 2], [14, 4], [18, 4], [22, 4], [26, 2], [28, 2]]);
    else if (sig === 0x02014b50) add(i, [[10, 2], [16, 4], [20, 4], [24, 4], [28, 2], [30, 2], [32, 2], [42, 4]]);
    else if (sig === 0x06054b50) add(i, [[8, 2], [10, 2], [12, 4], [16, 4], [20, 2]]);
  }
  return fields;
}

/** A zip with 1–3 header fields set to boundary values or nudged by ±1. */
export function mutatedZipFields(seed: Uint8Array): fc.Arbitrary<Uint8Array> {
  const fields = zipFields(seed);
  const edit = fc.record({ field: fc.nat(), value: fc.oneof(fc.constantFrom(...BOUNDARY_INTS), fc.integer({ min: -2, max: 2 })), relative: fc.boolean() });
  return fc.array(edit, { minLength: 1, maxLength: 3 }).map((edits) => {
    const out = seed.slice();
    const view = new DataView(out.buffer);
    for (const e of edits) {
      const { at, width } = fields[e.field % fields.length]!;
      const old = width === 2 ? view.getUint16(at, true) : view.getUint32(at, true);
      writeInt(out, at, e.relative ? old + e.value : e.value, width);
    }
    return out;
  });
}
