/**
 * Reader for `torch.save` checkpoints such as `pytorch_model.bin` (the zip format of torch ≥ 1.6):
 * `<archive>/data.pkl` pickles the state dict, each tensor referring through a persistent id to a
 * raw little-endian storage in `<archive>/data/<key>`. The pickle is decoded by the whitelisting
 * unpickler in ./pickle.ts: only the handful of constructors a state dict uses are allowed, so a
 * malicious checkpoint cannot run code (unlike `torch.load` without `weights_only`).
 */
import { oneLine, quote } from '../describe.js';
import { check } from '../errors.js';
import { formatShape, numel, type DType, type Tensor } from '../tensor.js';
import { allocate, itemSize, viewAs } from './dtype.js';
import { CHECKPOINT_LIMITS, checkFile } from './limits.js';
import { unpickle, type PickleCallable } from './pickle.js';
import { readZipDirectory, readZipEntry, type ZipEntry } from './zip.js';

/** A torch storage class named in a checkpoint (`torch.FloatStorage`…), with the dtype it holds. */
class StorageType {
  constructor(readonly dtype: DType) {}
}

/** One storage blob: `numel` elements of `dtype` from `data/<key>`. */
class Storage {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly bytes: Uint8Array,
    readonly numel: number,
  ) {}
}

const STORAGE_TYPES: Record<string, DType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  // torch ≥ 2 may reference a byte-addressed storage; its element count is its size in bytes.
  UntypedStorage: 'uint8',
};

/** State of one parse that the whitelisted constructors share. */
interface Context {
  source: string;
  /**
   * Elements strided (non-contiguous) tensors may still copy. Each loaded storage adds its size,
   * so copies can at most double the memory of the storages, however many tensors view them.
   */
  copyBudget: number;
}

/**
 * Reads the tensors of a `torch.save` zip checkpoint (a state dict) without executing its pickle.
 * Tensors keep the storage dtype; strided views are copied to contiguous row-major data; tensors
 * that are contiguous share memory with the storage (for stored entries, the input `bytes`).
 * Only the zip entries the pickle references are read, each checked against its CRC-32 and the
 * size the pickle implies, so a hostile file cannot make it decompress more than that.
 *
 * @param bytes the whole file.
 * @param source the file name used in error messages.
 * @throws MobileNetV2Error naming `source`: `E_CHECKPOINT_UNSAFE` for a pickle that calls
 *   anything but tensor constructors; `E_CHECKPOINT_CORRUPT` for a corrupt, truncated or
 *   overlapping archive, a big-endian or legacy checkpoint, or tensors that do not fit their
 *   storage.
 */
export function parseTorchCheckpoint(bytes: Uint8Array, source: string): Map<string, Tensor> {
  // The legacy format (torch < 1.6) is a bare sequence of pickles starting with PROTO.
  checkFile(bytes[0] !== 0x80, `${source}: legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a recent torch`);
  const entries = readZipDirectory(bytes, source);
  const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  checkFile(pickles.length === 1, `${source}: expected one <archive>/data.pkl in the zip, found ${pickles.length}; not a torch.save checkpoint?`);
  const archive = pickles[0]!.slice(0, -'/data.pkl'.length);
  const read = (entry: ZipEntry) => readZipEntry(bytes, entry, source);

  const byteorder = entries.get(`${archive}/byteorder`);
  if (byteorder !== undefined) {
    checkFile(byteorder.size <= 16, `${source}: ${oneLine(byteorder.name)} holds ${byteorder.size} bytes, not a byte order`);
    const order = new TextDecoder().decode(read(byteorder)).trim();
    checkFile(order === 'little', `${source}: checkpoint was saved with byteorder ${quote(order)}; only little-endian is supported`);
  }

  const pickle = entries.get(pickles[0]!)!;
  checkFile(
    pickle.size <= CHECKPOINT_LIMITS.maxPickleBytes,
    `${source}: ${oneLine(pickle.name)} is ${pickle.size} bytes, above the ${CHECKPOINT_LIMITS.maxPickleBytes}-byte limit for a state dict`,
  );
  const context: Context = { source, copyBudget: 0 };
  const storages = new Map<string, Storage>();
  const loadStorage = (pid: unknown): Storage => {
    const [kind, type, key, , count] = Array.isArray(pid) ? (pid as unknown[]) : [];
    checkFile(
      kind === 'storage' && type instanceof StorageType && typeof key === 'string' && isIndex(count),
      `${source}: unsupported persistent reference in data.pkl (expected a ('storage', type, key, location, numel) tuple)`,
    );
    let storage = storages.get(key);
    if (storage === undefined) {
      const entry = entries.get(`${archive}/data/${key}`);
      checkFile(entry !== undefined, () => `${source}: storage ${quote(key)} is missing from the archive (expected ${oneLine(`${archive}/data/${key}`)})`);
      const needed = count * itemSize(type.dtype);
      checkFile(entry.size === needed, () => `${source}: storage ${quote(key)} has ${entry.size} bytes but ${count} ${type.dtype} elements need ${needed}`);
      storage = new Storage(key, type.dtype, read(entry), count);
      storages.set(key, storage);
      context.copyBudget += count;
    }
    checkFile(
      storage.dtype === type.dtype && storage.numel === count,
      () => `${source}: storage ${quote(key)} is referenced both as ${storage.numel} ${storage.dtype} and ${count} ${type.dtype} elements`,
    );
    return storage;
  };

  const state = unpickle(read(pickle), {
    source,
    findClass: (module, name) => findClass(module, name, context),
    persistentLoad: loadStorage,
  });
  return toStateDict(state, source);
}

/** The whitelist: everything a plain state dict needs, and nothing that could run code. */
function findClass(module: string, name: string, context: Context): StorageType | PickleCallable {
  if (module === 'torch' && Object.hasOwn(STORAGE_TYPES, name)) return new StorageType(STORAGE_TYPES[name]!);
  const qualified = `${module}.${name}`;
  check(
    Object.hasOwn(ALLOWED, qualified),
    () => `${context.source}: pickle tries to call ${oneLine(qualified)}, which is not an allowed tensor constructor`,
    'E_CHECKPOINT_UNSAFE',
  );
  return (args) => ALLOWED[qualified]!(args, context);
}

const ALLOWED: Record<string, (args: readonly unknown[], context: Context) => unknown> = {
  // OrderedDict() then SETITEMS: how a state dict pickles.
  'collections.OrderedDict': (args, { source }) => {
    checkFile(args.length === 0, `${source}: OrderedDict is called with unsupported arguments`);
    return new Map();
  },
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  'torch._utils._rebuild_tensor_v2': (args, context) => rebuildTensor(args, context),
  // nn.Parameter(data, requires_grad, backward_hooks[, state]): the data is the tensor.
  'torch._utils._rebuild_parameter': (args, { source }) => parameterData(args, source),
  'torch._utils._rebuild_parameter_with_state': (args, { source }) => parameterData(args, source),
};

function parameterData(args: readonly unknown[], source: string): Tensor {
  checkFile(isTensor(args[0]), `${source}: _rebuild_parameter is called without a tensor`);
  return args[0];
}

/** A tensor viewing `storage` with an offset and strides, materialised as contiguous data. */
function rebuildTensor(args: readonly unknown[], context: Context): Tensor {
  const { source } = context;
  const [storage, offset, size, stride] = args;
  checkFile(
    storage instanceof Storage && isIndex(offset) && isIndexList(size) && isIndexList(stride) && size.length === stride.length,
    `${source}: _rebuild_tensor_v2 is called with unexpected arguments`,
  );
  const shape = [...size];
  const count = numel(shape);
  // Both sums stay exact or exceed storage.numel (< 2^53), so the comparisons below are sound.
  const lastIndex = offset + shape.reduce((sum, dim, i) => sum + (dim - 1) * stride[i]!, 0);
  checkFile(
    count === 0 || lastIndex < storage.numel,
    () => `${source}: tensor ${formatShape(shape)} at offset ${offset} with strides ${formatShape(stride)} overruns storage ${quote(storage.key)} of ${storage.numel} elements`,
  );
  // Only overlapping strides (expanded tensors, never in a state dict) could need more elements
  // than the storage; refusing them also bounds the allocation below.
  checkFile(count <= storage.numel, () => `${source}: tensor ${formatShape(shape)} has more elements than its storage ${quote(storage.key)} (overlapping strides are not supported)`);
  const { dtype } = storage;
  if (count === 0) return { dtype, shape, data: allocate(dtype, 0) };
  if (isContiguous(shape, stride)) return { dtype, shape, data: viewAs(dtype, storage.bytes, offset * itemSize(dtype), count) };

  checkFile(count <= context.copyBudget, () => `${source}: strided tensors copy more elements than their storages hold (many views of one storage?)`);
  context.copyBudget -= count;
  const elements = viewAs(dtype, storage.bytes, 0, storage.numel);
  const data = allocate(dtype, count);
  const index = new Array<number>(shape.length).fill(0);
  let from = offset;
  for (let i = 0; i < count; i++) {
    data[i] = elements[from]!;
    // Odometer over the multi-index, moving `from` by the strides.
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) {
        from += stride[d]!;
        break;
      }
      from -= (shape[d]! - 1) * stride[d]!;
      index[d] = 0;
    }
  }
  return { dtype, shape, data };
}

/** Row-major contiguity, ignoring the strides of size-1 dimensions (torch leaves those arbitrary). */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

function toStateDict(state: unknown, source: string): Map<string, Tensor> {
  checkFile(state instanceof Map, `${source}: data.pkl does not hold a state dict (a dict of tensors)`);
  const tensors = new Map<string, Tensor>();
  for (const [key, value] of state) {
    // Named by type only: formatting an attacker's nested value could recurse without bound.
    checkFile(typeof key === 'string', () => `${source}: state dict has a key that is ${describe(key)}, not a string`);
    checkFile(isTensor(value), () => `${source}: state dict entry ${quote(key)} is not a tensor`);
    tensors.set(key, value);
  }
  return tensors;
}

/** What kind of pickle value this is, without looking inside it. */
function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list or tuple';
  if (value instanceof Map) return 'a dict';
  if (value === null) return 'None';
  return `of type ${typeof value}`;
}

// Pickle values are primitives, arrays, Maps or what the whitelist returns, so only a rebuilt
// tensor can have these properties.
function isTensor(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && 'shape' in value && 'data' in value && 'dtype' in value;
}

function isIndex(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isIndexList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isIndex);
}
