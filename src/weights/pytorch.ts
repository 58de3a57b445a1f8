/**
 * Reader for `torch.save` checkpoints such as `pytorch_model.bin` (the zip format of torch ≥ 1.6):
 * `<archive>/data.pkl` pickles the state dict, each tensor referring through a persistent id to a
 * raw little-endian storage in `<archive>/data/<key>`. The pickle is decoded by the whitelisting
 * unpickler in ./pickle.ts: only the handful of constructors a state dict uses are allowed, so a
 * malicious checkpoint cannot run code (unlike `torch.load` without `weights_only`).
 */
import { unzipSync, type Unzipped } from 'fflate';
import { MobileNetV2Error, check } from '../errors.js';
import { formatShape, numel, type DType, type Tensor } from '../tensor.js';
import { allocate, itemSize, viewAs } from './dtype.js';
import { unpickle, type PickleCallable } from './pickle.js';

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

// Deflate cannot expand data more than ~1032×; a larger claimed size is a corrupt directory.
const MAX_DEFLATE_RATIO = 1032;

/**
 * Reads the tensors of a `torch.save` zip checkpoint (a state dict) without executing its pickle.
 * Tensors keep the storage dtype; strided views are copied to contiguous row-major data; tensors
 * that are contiguous share memory with the unzipped storage.
 *
 * @param bytes the whole file.
 * @param source the file name used in error messages.
 * @throws MobileNetV2Error naming `source` for a corrupt or truncated archive, a big-endian or
 *   legacy checkpoint, a pickle that references anything but tensor constructors, or tensors that
 *   do not fit their storage.
 */
export function parseTorchCheckpoint(bytes: Uint8Array, source: string): Map<string, Tensor> {
  // The legacy format (torch < 1.6) is a bare sequence of pickles starting with PROTO.
  check(bytes[0] !== 0x80, `${source}: legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a recent torch`);
  const files = unzip(bytes, source);
  const pickles = Object.keys(files).filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  check(pickles.length === 1, `${source}: expected one <archive>/data.pkl in the zip, found ${pickles.length}; not a torch.save checkpoint?`);
  const archive = pickles[0]!.slice(0, -'/data.pkl'.length);

  const byteorder = files[`${archive}/byteorder`];
  if (byteorder !== undefined) {
    const order = new TextDecoder().decode(byteorder).trim();
    check(order === 'little', `${source}: checkpoint was saved with byteorder "${order}"; only little-endian is supported`);
  }

  const storages = new Map<string, Storage>();
  const loadStorage = (pid: unknown): Storage => {
    const [kind, type, key, , count] = Array.isArray(pid) ? pid : [];
    check(
      kind === 'storage' && type instanceof StorageType && typeof key === 'string' && Number.isSafeInteger(count) && (count as number) >= 0,
      `${source}: unsupported persistent reference in data.pkl (expected a ('storage', type, key, location, numel) tuple)`,
    );
    let storage = storages.get(key);
    if (storage === undefined) {
      storage = readStorage(files, archive, key, type.dtype, count as number, source);
      storages.set(key, storage);
    }
    check(storage.dtype === type.dtype, `${source}: storage "${key}" is referenced as both ${storage.dtype} and ${type.dtype}`);
    return storage;
  };

  const state = unpickle(files[pickles[0]!]!, {
    source,
    findClass: (module, name) => findClass(module, name, source),
    persistentLoad: loadStorage,
  });
  return toStateDict(state, source);
}

function unzip(bytes: Uint8Array, source: string): Unzipped {
  const declared = new Map<string, number>();
  let files: Unzipped;
  try {
    files = unzipSync(bytes, {
      filter: (file) => {
        if (file.compression !== 0 && file.originalSize > MAX_DEFLATE_RATIO * file.size + 1024) {
          throw new Error(`entry ${file.name} claims an impossible size`);
        }
        declared.set(file.name, file.originalSize);
        return true;
      },
    });
  } catch (e) {
    throw new MobileNetV2Error(`${source}: not a readable zip archive (${(e as Error).message}); truncated or corrupt checkpoint?`);
  }
  // fflate silently clips stored entries that run past the end of the file.
  for (const [name, size] of declared) {
    check(files[name]!.length === size, `${source}: zip entry ${name} has ${files[name]!.length} of its ${size} bytes (truncated file?)`);
  }
  return files;
}

function readStorage(files: Unzipped, archive: string, key: string, dtype: DType, count: number, source: string): Storage {
  const bytes = files[`${archive}/data/${key}`];
  check(bytes !== undefined, `${source}: storage "${key}" is missing from the archive (expected ${archive}/data/${key})`);
  const needed = count * itemSize(dtype);
  check(bytes.length >= needed, `${source}: storage "${key}" has ${bytes.length} bytes but ${count} ${dtype} elements need ${needed}`);
  return new Storage(key, dtype, bytes, count);
}

/** The whitelist: everything a plain state dict needs, and nothing that could run code. */
function findClass(module: string, name: string, source: string): StorageType | PickleCallable {
  if (module === 'torch' && Object.hasOwn(STORAGE_TYPES, name)) return new StorageType(STORAGE_TYPES[name]!);
  const qualified = `${module}.${name}`;
  check(Object.hasOwn(ALLOWED, qualified), `${source}: pickle tries to call ${qualified}, which is not an allowed tensor constructor`);
  return (args) => ALLOWED[qualified]!(args, source);
}

const ALLOWED: Record<string, (args: readonly unknown[], source: string) => unknown> = {
  // OrderedDict() then SETITEMS: how a state dict pickles.
  'collections.OrderedDict': (args, source) => {
    check(args.length === 0, `${source}: OrderedDict is called with unsupported arguments`);
    return new Map();
  },
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  'torch._utils._rebuild_tensor_v2': (args, source) => rebuildTensor(args, source),
  // nn.Parameter(data, requires_grad, backward_hooks[, state]): the data is the tensor.
  'torch._utils._rebuild_parameter': (args, source) => parameterData(args, source),
  'torch._utils._rebuild_parameter_with_state': (args, source) => parameterData(args, source),
};

function parameterData(args: readonly unknown[], source: string): Tensor {
  check(isTensor(args[0]), `${source}: _rebuild_parameter is called without a tensor`);
  return args[0];
}

/** A tensor viewing `storage` with an offset and strides, materialised as contiguous data. */
function rebuildTensor(args: readonly unknown[], source: string): Tensor {
  const [storage, offset, size, stride] = args;
  check(
    storage instanceof Storage && isIndex(offset) && isIndexList(size) && isIndexList(stride) && size.length === stride.length,
    `${source}: _rebuild_tensor_v2 is called with unexpected arguments`,
  );
  const shape = [...size];
  const count = numel(shape);
  const lastIndex = offset + shape.reduce((sum, dim, i) => sum + (dim - 1) * stride[i]!, 0);
  check(
    count === 0 || lastIndex < storage.numel,
    () => `${source}: tensor ${formatShape(shape)} at offset ${offset} with strides ${formatShape(stride)} overruns storage "${storage.key}" of ${storage.numel} elements`,
  );
  // Only overlapping strides (expanded tensors, never in a state dict) could need more elements
  // than the storage; refusing them also bounds the allocation below.
  check(count <= storage.numel, () => `${source}: tensor ${formatShape(shape)} has more elements than its storage "${storage.key}" (overlapping strides are not supported)`);
  const { dtype } = storage;
  if (count === 0) return { dtype, shape, data: allocate(dtype, 0) };
  if (isContiguous(shape, stride)) return { dtype, shape, data: viewAs(dtype, storage.bytes, offset * itemSize(dtype), count) };

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
  check(state instanceof Map, `${source}: data.pkl does not hold a state dict (a dict of tensors)`);
  const tensors = new Map<string, Tensor>();
  for (const [key, value] of state) {
    check(typeof key === 'string', `${source}: state dict has a non-string key ${String(key)}`);
    check(isTensor(value), `${source}: state dict entry "${key}" is not a tensor`);
    tensors.set(key, value);
  }
  return tensors;
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
