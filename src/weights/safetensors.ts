/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{"__metadata__": {str: str}, name: {dtype, shape,
 * data_offsets: [begin, end]}, …}` padded with spaces, then the tensors' bytes, relative offsets
 * from the end of the header. The reader validates the file as strictly as the reference loader
 * (which also forbids holes in the data section, to rule out polyglot files); the writer produces
 * byte-for-byte what the Rust/Python library writes.
 */
import { oneLine } from '../describe.js';
import { MobileNetV2Error, check } from '../errors.js';
import { formatShape, numel, type DType, type Tensor } from '../tensor.js';
import { hasStorageOf, itemSize, tensorBytes, viewAs } from './dtype.js';
import { CHECKPOINT_LIMITS, checkFile } from './limits.js';

/** safetensors dtype names, in the library's order of increasing alignment (the writer sorts by it). */
const DTYPES: ReadonlyArray<readonly [string, DType]> = [
  ['BOOL', 'bool'],
  ['U8', 'uint8'],
  ['I8', 'int8'],
  ['I16', 'int16'],
  ['F16', 'float16'],
  ['BF16', 'bfloat16'],
  ['I32', 'int32'],
  ['F32', 'float32'],
  ['F64', 'float64'],
  ['I64', 'int64'],
];
const FROM_NAME = new Map(DTYPES);
const TO_NAME = new Map(DTYPES.map(([name, dtype]) => [dtype, name]));
const ALIGNMENT_RANK = new Map(DTYPES.map(([, dtype], rank) => [dtype, rank]));

const METADATA_KEY = '__metadata__';

/** A parsed safetensors file. */
export interface Safetensors {
  /** Tensors by name, in file order; their data are views onto the input bytes where aligned. */
  tensors: Map<string, Tensor>;
  /** The `__metadata__` string map (e.g. `{format: "pt"}`); empty when absent. */
  metadata: Record<string, string>;
}

/** One validated header entry: a tensor's description and its byte range in the data section. */
export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** A validated safetensors header: what the file holds, without the tensor data. */
export interface SafetensorsHeader {
  /** Tensor descriptions sorted by offset. */
  entries: TensorEntry[];
  /** The `__metadata__` string map; empty when absent. */
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file (8 + header length). */
  dataStart: number;
}

/**
 * Length of the file prefix that holds the header (8 + header length), read from the first 8
 * bytes, so a caller can read only the header of a large file.
 */
export function safetensorsPrefixLength(first8: Uint8Array, fileSize: number, source: string): number {
  checkFile(first8.length >= 8 && fileSize >= 8, `${source}: file has ${fileSize} bytes, too short for a safetensors header`);
  const headerLength = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  checkFile(
    headerLength <= BigInt(fileSize - 8),
    () => `${source}: header length ${headerLength} is beyond the end of the ${fileSize}-byte file (not a safetensors file, or truncated?)`,
  );
  // The reference loader's limit too; checked before anything is decoded.
  const limit = CHECKPOINT_LIMITS.maxSafetensorsHeaderBytes;
  checkFile(headerLength <= BigInt(limit), `${source}: header length ${headerLength} exceeds the format's ${limit}-byte limit`);
  return 8 + Number(headerLength);
}

/**
 * Parses and validates the header of a safetensors file of `fileSize` bytes from its prefix (at
 * least {@link safetensorsPrefixLength} bytes): every tensor's dtype, shape and byte range, which
 * must tile the data section exactly. No tensor data is needed.
 */
export function parseSafetensorsHeader(prefix: Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  const dataStart = safetensorsPrefixLength(prefix, fileSize, source);
  checkFile(prefix.length >= dataStart, `${source}: only ${prefix.length} of the ${dataStart} header bytes were given`);
  const header = parseHeaderJson(prefix.subarray(8, dataStart), source);
  const dataLength = fileSize - dataStart;
  const metadata = readMetadata(header[METADATA_KEY], source);
  const entries = Object.entries(header)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, info]) => readEntry(name, info, dataLength, source));
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkCoverage(entries, dataLength, source);
  return { entries, metadata, dataStart };
}

/**
 * Parses a safetensors file held in memory. Tensor data are views sharing memory with `bytes` when
 * aligned for their element type (the normal case), copies otherwise.
 *
 * @param bytes the whole file.
 * @param source the file name used in error messages.
 * @throws MobileNetV2Error naming `source` (and the tensor) for any malformed or truncated file.
 */
export function parseSafetensors(bytes: Uint8Array, source: string): Safetensors {
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes, bytes.length, source);
  const tensors = new Map<string, Tensor>();
  for (const { name, dtype, shape, begin } of entries) {
    tensors.set(name, { dtype, shape, data: viewAs(dtype, bytes, dataStart + begin, numel(shape)) });
  }
  return { tensors, metadata };
}

function parseHeaderJson(headerBytes: Uint8Array, source: string): Record<string, unknown> {
  checkNesting(headerBytes, source);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new MobileNetV2Error(`${source}: header is not valid UTF-8 JSON (${oneLine((e as Error).message)}); not a safetensors file?`, {
      code: 'E_CHECKPOINT_CORRUPT',
      cause: e,
    });
  }
  checkFile(isRecord(header), `${source}: header JSON is not an object; not a safetensors file?`);
  return header;
}

/**
 * Refuses JSON nested deeper, or holding more arrays and objects, than any header needs, before
 * JSON.parse builds it: a 100 MB header of `[[[…` or `[[],[],…` would otherwise cost gigabytes
 * (and the error messages below could not print what they describe).
 */
function checkNesting(bytes: Uint8Array, source: string): void {
  const { maxSafetensorsHeaderDepth: maxDepth, maxSafetensorsHeaderContainers: maxContainers } = CHECKPOINT_LIMITS;
  let depth = 0;
  let containers = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === 0x5c /* \ */) i++;
      else if (b === 0x22 /* " */) inString = false;
    } else if (b === 0x22) {
      inString = true;
    } else if (b === 0x5b /* [ */ || b === 0x7b /* { */) {
      checkFile(++depth <= maxDepth, () => `${source}: header JSON nests deeper than ${maxDepth} levels at byte ${8 + i}`);
      checkFile(++containers <= maxContainers, () => `${source}: header JSON has more than ${maxContainers} arrays and objects`);
    } else if (b === 0x5d /* ] */ || b === 0x7d /* } */) {
      depth--;
    }
  }
}

function readMetadata(value: unknown, source: string): Record<string, string> {
  if (value === undefined) return {};
  checkFile(
    isRecord(value) && Object.values(value).every((v) => typeof v === 'string'),
    `${source}: "${METADATA_KEY}" must map strings to strings`,
  );
  return { ...(value as Record<string, string>) };
}

function readEntry(name: string, info: unknown, dataLength: number, source: string): TensorEntry {
  const where = `${source}: tensor ${preview(name)}`;
  checkFile(isRecord(info), `${where} has no {dtype, shape, data_offsets} description`);
  const dtype = FROM_NAME.get(info.dtype as string);
  checkFile(
    dtype !== undefined,
    () => `${where} has unsupported dtype ${preview(info.dtype)} (supported: ${[...FROM_NAME.keys()].join(', ')})`,
  );
  const shape = info.shape;
  checkFile(
    Array.isArray(shape) && shape.every(isNonNegativeInteger),
    () => `${where} has invalid shape ${preview(shape)} (expected a list of non-negative integers)`,
  );
  const offsets = info.data_offsets;
  checkFile(
    Array.isArray(offsets) && offsets.length === 2 && offsets.every(isNonNegativeInteger) && offsets[0]! <= offsets[1]!,
    () => `${where} has invalid data_offsets ${preview(offsets)} (expected [begin, end] with begin <= end)`,
  );
  const [begin, end] = offsets as [number, number];
  checkFile(
    end <= dataLength,
    `${where} has data_offsets [${begin}, ${end}] beyond the end of the file (data section is ${dataLength} bytes; truncated?)`,
  );
  const expected = numel(shape) * itemSize(dtype);
  // Past 2^53 the product is inexact, and far beyond any file anyway.
  checkFile(Number.isSafeInteger(expected), () => `${where} has shape ${preview(shape)}, too many elements for any file`);
  checkFile(
    end - begin === expected,
    () => `${where} has ${end - begin} bytes but ${String(info.dtype)} ${cut(formatShape(shape))} needs ${expected}`,
  );
  return { name, dtype, shape: [...shape], begin, end };
}

/** Tensors sorted by offset must tile the data section exactly: no overlaps, holes or trailing bytes. */
function checkCoverage(entries: readonly TensorEntry[], dataLength: number, source: string): void {
  let position = 0;
  let previous: TensorEntry | undefined;
  for (const entry of entries) {
    const name = preview(entry.name);
    checkFile(
      entry.begin >= position,
      () => `${source}: tensors ${preview(previous!.name)} and ${name} overlap (data_offsets [${previous!.begin}, ${previous!.end}] and [${entry.begin}, ${entry.end}])`,
    );
    checkFile(entry.begin === position, `${source}: ${entry.begin - position} unused bytes before tensor ${name} (holes are not allowed)`);
    position = entry.end;
    previous = entry;
  }
  checkFile(position === dataLength, `${source}: ${dataLength - position} bytes after the last tensor are not described by the header`);
}

/**
 * Serializes tensors to the safetensors format exactly as the reference (Rust/Python) library
 * does: tensors ordered by decreasing dtype alignment then by name, compact JSON header with
 * `__metadata__` first, padded with spaces to a multiple of 8 bytes. Scalars have shape `[]`.
 *
 * @param tensors tensors by name (a Map or any iterable of `[name, tensor]`).
 * @param metadata optional `__metadata__` strings, written in insertion order (e.g. `{format: "pt"}`,
 *   which transformers expects on PyTorch checkpoints).
 * @throws MobileNetV2Error when a name is duplicated or reserved, or a tensor's data do not match
 *   its dtype and shape.
 */
export function serializeSafetensors(
  tensors: Map<string, Tensor> | Iterable<readonly [string, Tensor]>,
  metadata?: Record<string, string>,
): Uint8Array {
  const items = [...tensors].map(([name, tensor]) => ({ name, tensor, key: utf8(name) }));
  const seen = new Set<string>();
  for (const { name, tensor } of items) {
    check(!seen.has(name), `duplicate tensor name ${JSON.stringify(name)}`);
    seen.add(name);
    validateTensor(name, tensor);
  }
  items.sort((a, b) => ALIGNMENT_RANK.get(b.tensor.dtype)! - ALIGNMENT_RANK.get(a.tensor.dtype)! || compareBytes(a.key, b.key));

  const fields: string[] = [];
  if (metadata !== undefined) {
    const pairs = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    fields.push(`"${METADATA_KEY}":{${pairs.join(',')}}`);
  }
  let offset = 0;
  for (const { name, tensor } of items) {
    const end = offset + tensor.data.byteLength;
    const info = `{"dtype":"${TO_NAME.get(tensor.dtype)}","shape":[${tensor.shape.join(',')}],"data_offsets":[${offset},${end}]}`;
    fields.push(`${JSON.stringify(name)}:${info}`);
    offset = end;
  }
  const json = utf8(`{${fields.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const { tensor } of items) {
    out.set(tensorBytes(tensor), position);
    position += tensor.data.byteLength;
  }
  return out;
}

function validateTensor(name: string, tensor: Tensor): void {
  const what = `tensor ${JSON.stringify(name)}`;
  check(name !== METADATA_KEY, `${what}: this name is reserved for the header's metadata`);
  check(TO_NAME.has(tensor.dtype), () => `${what} has unsupported dtype ${JSON.stringify(tensor.dtype)}`);
  check(hasStorageOf(tensor.dtype, tensor.data), () => `${what}: ${tensor.data.constructor.name} cannot hold ${tensor.dtype} data`);
  check(tensor.shape.every(isNonNegativeInteger), () => `${what} has invalid shape ${formatShape(tensor.shape)}`);
  check(
    tensor.data.length === numel(tensor.shape),
    () => `${what} has ${tensor.data.length} elements but shape ${formatShape(tensor.shape)} needs ${numel(tensor.shape)}`,
  );
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Byte-wise order of UTF-8 strings, which is how Rust compares the names. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** A JSON value for an error message, cut short (the header's nesting is bounded, so this cannot recurse deeply). */
function preview(value: unknown): string {
  return cut(JSON.stringify(value) ?? String(value));
}

function cut(text: string): string {
  return oneLine(text, 100);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
