/**
 * The decode worker thread (see ./prepare_pool_node.ts): for each task message, read an image file,
 * decode it and, when asked, preprocess it into pixel values — the very code the main thread would
 * run, so the pixels are the same bit for bit. The buffers go back transferred, not copied; errors
 * go back as their message and code, since a worker cannot throw a MobileNetV2Error across.
 */
import { parentPort } from 'node:worker_threads';
import { MobileNetV2Error, type MobileNetV2ErrorCode } from '../errors.js';
import type { Float32Tensor } from '../tensor.js';
import type { RawImage } from './image.js';
import { loadImage } from './image_io_node.js';
import { settingsKey } from './precomputed.js';
import { MobileNetV2ImageProcessor } from './processor.js';
import type { ImageProcessorSettings } from './processor_config.js';

/** One image to prepare. */
export interface PrepareTask {
  /** A file path or the encoded bytes. */
  readonly source: string | Uint8Array;
  /** The image's name in messages. */
  readonly name: string;
  /** The pixel limit (0 = none), the main thread's: a worker has its own process-wide setting. */
  readonly maxPixels: number;
  /** Resolved processor settings to preprocess with; none: decode only. */
  readonly settings?: ImageProcessorSettings;
}

/** What comes back: the RGB image and its `[C, H, W]` pixel values, or why it failed. */
export type PrepareReply =
  | { readonly image: RawImage; readonly pixelValues?: Float32Tensor }
  | { readonly error: { readonly message: string; readonly code?: MobileNetV2ErrorCode } };

// One processor per settings: building one parses and validates every setting.
const processors = new Map<string, MobileNetV2ImageProcessor>();

function processorFor(settings: ImageProcessorSettings): MobileNetV2ImageProcessor {
  const key = settingsKey(settings);
  let processor = processors.get(key);
  if (!processor) processors.set(key, (processor = new MobileNetV2ImageProcessor(settings)));
  return processor;
}

/** Its own ArrayBuffer, so that transferring it moves exactly these bytes (sharp's may be shared or external). */
function owned<T extends Uint8Array | Float32Array>(data: T): T {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer ? data : (data.slice() as T);
}

/** Prepares one image; never throws (failures are the reply). */
async function prepare(task: PrepareTask): Promise<{ reply: PrepareReply; buffers: ArrayBuffer[] }> {
  let reply: PrepareReply;
  const buffers: ArrayBuffer[] = [];
  try {
    const decoded = await loadImage(task.source, { name: task.name, maxPixels: task.maxPixels });
    const image = { ...decoded, data: owned(decoded.data) };
    buffers.push(image.data.buffer as ArrayBuffer);
    if (task.settings) {
      const pv = processorFor(task.settings).preprocessImage(image, undefined, { name: task.name }).pixelValues;
      const pixelValues = { ...pv, data: owned(pv.data) };
      buffers.push(pixelValues.data.buffer as ArrayBuffer);
      reply = { image, pixelValues };
    } else {
      reply = { image };
    }
  } catch (err) {
    const code = err instanceof MobileNetV2Error ? err.code : undefined;
    reply = { error: { message: err instanceof Error ? err.message : String(err), ...(code ? { code } : {}) } };
  }
  return { reply, buffers };
}

const port = parentPort!;
port.on('message', (task: PrepareTask) => void prepare(task).then(({ reply, buffers }) => port.postMessage(reply, buffers)));
