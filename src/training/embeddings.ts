/**
 * The frozen backbone's pooled features of a dataset, computed once per image and view and kept in
 * an {@link EmbeddingCache} keyed by the image's content hash, the backbone's weights, the
 * processor settings and the view (plain, or augmented view k of seed s). Images are decoded a
 * batch at a time (the next batch is read while the model runs), so memory holds one batch of
 * pixels, never the dataset. No Node APIs: the Node parts supply file reading and a disk cache.
 */
import { MobileNetV2Error } from '../errors.js';
import { isHeadKey } from '../model/architecture.js';
import { isRawImage, type RawImage } from '../processing/image.js';
import type { ImageFeatureExtractionPipeline } from '../pipelines/image_feature_extraction.js';
import { AUGMENT_KEY, augmentedView } from './augment.js';
import type { LabeledImage } from './dataset.js';
import { deriveSeed, seededRandom } from '../random.js';

/** Where embeddings are kept between runs (memory, a folder on disk, IndexedDB…). */
export interface EmbeddingCache {
  /** The vector stored under `key`, or undefined. */
  get(key: string): Promise<Float32Array | undefined>;
  /** Stores a vector under `key`; a cache that cannot store only costs speed, so this should not throw. */
  set(key: string, vector: Float32Array): Promise<void>;
}

/** An {@link EmbeddingCache} in memory (the default: reuse within one process only). */
export class MemoryEmbeddingCache implements EmbeddingCache {
  private readonly map = new Map<string, Float32Array>();

  /** The vector stored under `key`, or undefined. */
  async get(key: string): Promise<Float32Array | undefined> {
    return this.map.get(key);
  }

  /** Stores a vector under `key`. */
  async set(key: string, vector: Float32Array): Promise<void> {
    this.map.set(key, vector);
  }
}

/** Hex SHA-256 of bytes (Web Crypto, present in Node 20 and browsers). */
export async function sha256Hex(...parts: Uint8Array[]): Promise<string> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const joined = parts.length === 1 ? parts[0]! : new Uint8Array(total);
  if (parts.length > 1) parts.reduce((offset, p) => (joined.set(p, offset), offset + p.length), 0);
  const digest = await crypto.subtle.digest('SHA-256', joined as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

// An extractor's weights and processor never change: hash them once per extractor, not per dataset.
const spaces = new WeakMap<ImageFeatureExtractionPipeline, Promise<string>>();

/**
 * What the embeddings of an extractor depend on: its backbone's weights (not the classifier,
 * which pooled features never see) and its processor settings.
 */
export function embeddingSpace(extractor: ImageFeatureExtractionPipeline): Promise<string> {
  let space = spaces.get(extractor);
  if (!space) spaces.set(extractor, (space = hashSpace(extractor)));
  return space;
}

async function hashSpace(extractor: ImageFeatureExtractionPipeline): Promise<string> {
  const stateDict = await extractor.model.getStateDict();
  const keys = [...stateDict.keys()].filter((k) => !isHeadKey(k)).sort();
  const encoder = new TextEncoder();
  const parts = keys.flatMap((k) => {
    const t = stateDict.get(k)!;
    return [encoder.encode(`${k}:${t.shape.join('x')}:${t.dtype};`), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)];
  });
  return sha256Hex(encoder.encode(extractor.processor.toJsonString()), ...parts);
}

/** How to read the images of a dataset given as paths (the Node parts supply these). */
export interface ImageAccess {
  /** Reads a file's bytes (for the content hash). */
  readBytes?(path: string): Promise<Uint8Array>;
  /** Decodes file bytes; `name` names the image in errors. */
  decode?(bytes: Uint8Array, name: string): Promise<RawImage>;
}

/** Options of {@link embedDataset}. */
export interface EmbedOptions extends ImageAccess {
  /**
   * Keep the output map of this block (0..15), `[C, H, W]` per view, instead of the pooled
   * features: the input of the blocks after it, for fine-tuning them.
   */
  readonly block?: number;
  /** Augmented views per image besides the plain one (default 0). */
  readonly augment?: number;
  /** Seed of the augmentation (default 0). */
  readonly seed?: number;
  /** Where embeddings persist (default: a fresh memory cache). */
  readonly cache?: EmbeddingCache;
  /** Called for an image that cannot be read or decoded; it is skipped. Default: throw. */
  onSkip?(item: LabeledImage, error: unknown): void;
  /** Called after each batch with the images done so far. */
  onProgress?(done: number, total: number): void;
}

/** The embedded images: those kept, and for each its views' vectors (plain first). */
export interface EmbeddedSet<T extends LabeledImage> {
  readonly items: T[];
  readonly views: Float32Array[][];
  /** Embedding size (1280 for width 1.0; C·H·W for block maps). */
  readonly dim: number;
  /** Shape of one view: `[dim]`, or `[C, H, W]` for block maps. */
  readonly shape: number[];
  /** Images whose every view came from the cache. */
  readonly cached: number;
}

/** Name of item `i` in messages. */
export function itemName(item: LabeledImage, i?: number): string {
  return item.name ?? (typeof item.image === 'string' ? item.image : `image ${i ?? '?'}`);
}

/** An item's bytes (for hashing) and a way to decode it. */
async function openItem(item: LabeledImage, i: number, access: ImageAccess): Promise<{ hash: string; decode: () => Promise<RawImage> }> {
  const name = itemName(item, i);
  const image = item.image;
  if (isRawImage(image)) {
    const dims = new TextEncoder().encode(`${image.width}x${image.height}x${image.channels}`);
    return { hash: await sha256Hex(dims, image.data), decode: async () => image };
  }
  const need = (what: keyof ImageAccess) => new MobileNetV2Error(`${name}: images given as ${typeof image === 'string' ? 'paths' : 'bytes'} need options.${what}; pass decoded pixels instead`);
  let bytes: Uint8Array;
  if (typeof image === 'string') {
    if (!access.readBytes) throw need('readBytes');
    bytes = await access.readBytes(image);
  } else {
    bytes = image;
  }
  if (!access.decode) throw need('decode');
  const decode = access.decode.bind(access);
  return { hash: await sha256Hex(bytes), decode: () => decode(bytes, name) };
}

/** An item read and hashed, its views looked up in the cache, and its decode started if a view is missing. */
type Opened<T> = { item: T; keys: string[]; hash: string; vectors: Array<Float32Array | undefined>; image: Promise<RawImage> | null } | { item: T; error: unknown };

/**
 * Embeds every view of every image, reading each view from the cache when it is there and running
 * the backbone (in the extractor's batch size) only for the rest. The next batch is read, looked
 * up and decoded while the backbone runs the current one.
 */
export async function embedDataset<T extends LabeledImage>(
  extractor: ImageFeatureExtractionPipeline, items: readonly T[], options: EmbedOptions = {},
): Promise<EmbeddedSet<T>> {
  const augment = options.augment ?? 0;
  const seed = options.seed ?? 0;
  const cache = options.cache ?? new MemoryEmbeddingCache();
  const space = await embeddingSpace(extractor);
  const block = options.block;
  const what = block === undefined ? '' : `:block${block}`;
  const viewKeys = (hash: string) => Array.from({ length: augment + 1 }, (_, v) => `${space}:${hash}:${v === 0 ? 'plain' : `aug${v}:${seed}:${AUGMENT_KEY}`}${what}`);
  let shape: number[] | null = null;
  const stored = new MapStore(block !== undefined, (found) => {
    if (shape === null) shape = found;
    else if (found.join() !== shape.join()) {
      throw new MobileNetV2Error(`block ${block} gave maps of shape [${found.join(', ')}] and [${shape.join(', ')}]: fine-tuning needs one input size (a processor that crops every image to the same size)`);
    }
  });
  const openOne = async (item: T, i: number): Promise<Opened<T>> => {
    try {
      const { hash, decode } = await openItem(item, i, options);
      const keys = viewKeys(hash);
      const vectors = await Promise.all(keys.map(async (key) => stored.unpack(await cache.get(key))));
      const image = vectors.every((v) => v !== undefined) ? null : decode();
      image?.catch(() => undefined); // awaited in order below; not an unhandled rejection meanwhile
      return { item, keys, hash, vectors, image };
    } catch (error) {
      return { item, error };
    }
  };
  const open = (start: number) => Promise.all(items.slice(start, start + extractor.batchSize).map((item, k) => openOne(item, start + k)));
  const kept: T[] = [];
  const views: Float32Array[][] = [];
  let dim = 0;
  let cached = 0;
  let next = items.length > 0 ? open(0) : null;
  for (let start = 0; start < items.length; start += extractor.batchSize) {
    const batch = await next!;
    next = start + extractor.batchSize < items.length ? open(start + extractor.batchSize) : null;
    // Run only the views missing from the cache, in one go.
    const pending: Array<{ entry: Extract<Opened<T>, { keys: string[] }>; view: number; image: RawImage }> = [];
    for (const entry of batch) {
      if ('error' in entry) {
        skip(options, entry.item, entry.error);
        continue;
      }
      if (!entry.image) {
        cached++;
        continue;
      }
      let image: RawImage;
      try {
        image = await entry.image;
      } catch (error) {
        skip(options, entry.item, error);
        entry.vectors = [];
        continue;
      }
      entry.vectors.forEach((v, view) => {
        if (v !== undefined) return;
        const random = seededRandom(deriveSeed(seed, entry.hash, String(view)));
        pending.push({ entry, view, image: view === 0 ? image : augmentedView(image, random) });
      });
    }
    for (let p = 0; p < pending.length; p += extractor.batchSize) {
      const chunk = pending.slice(p, p + extractor.batchSize);
      const out = await extractor.features(chunk.map((c) => c.image), block === undefined ? {} : { outIndex: block, pool: false });
      const size = out.data.length / chunk.length;
      for (const [i, { entry, view }] of chunk.entries()) {
        const packed = stored.pack(out.data.subarray(i * size, (i + 1) * size), out.shape.slice(1));
        entry.vectors[view] = stored.unpack(packed);
        await cache.set(entry.keys[view]!, packed);
      }
    }
    for (const entry of batch) {
      if ('error' in entry || entry.vectors.length === 0) continue;
      kept.push(entry.item);
      views.push(entry.vectors as Float32Array[]);
      dim = entry.vectors[0]!.length;
    }
    options.onProgress?.(Math.min(items.length, start + extractor.batchSize), items.length);
  }
  return { items: kept, views, dim, shape: shape ?? [dim], cached };
}

/**
 * Cached values: pooled vectors as they are; block maps with their `[C, H, W]` in front, so that
 * a map read from the cache brings its shape. Every shape seen goes to `onShape`.
 */
class MapStore {
  constructor(private readonly maps: boolean, private readonly onShape: (shape: number[]) => void) {}

  /** The value to cache for a view's features of `shape`. */
  pack(data: Float32Array, shape: number[]): Float32Array {
    if (!this.maps) return data.slice();
    const packed = new Float32Array(3 + data.length);
    packed.set(shape.slice(-3));
    packed.set(data, 3);
    return packed;
  }

  /** A view's features from a cached value, or undefined for a miss (or a damaged map). */
  unpack(value: Float32Array | undefined): Float32Array | undefined {
    if (value === undefined) return undefined;
    if (!this.maps) {
      this.onShape([value.length]);
      return value;
    }
    const shape = Array.from(value.subarray(0, 3));
    if (value.length < 3 || shape.reduce((a, b) => a * b, 1) !== value.length - 3) return undefined;
    this.onShape(shape);
    return value.subarray(3);
  }
}

function skip(options: EmbedOptions, item: LabeledImage, error: unknown): void {
  if (!options.onSkip) throw error;
  options.onSkip(item, error);
}
