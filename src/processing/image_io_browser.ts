/**
 * Image decoding in a browser: ImageData, image elements, canvases, ImageBitmaps and Blobs (or
 * encoded bytes) become the same {@link RawImage} the Node loader gives, converted to RGB as
 * transformers' `load_image` does (alpha dropped, EXIF orientation applied). The browser's own
 * decoder is used (createImageBitmap + a 2-D canvas), with colour management and alpha
 * premultiplication turned off where the browser allows; JPEG decoders may still differ from
 * Pillow's by a level here and there, and canvases lose the colour of fully transparent pixels.
 *
 * The pixel limit (./pixel_limit.ts) is checked from the file's header before the browser decodes
 * it (PNG, JPEG, GIF, WebP, BMP; other formats once the browser has read their size), and from the
 * size of any element, canvas or bitmap before a canvas of that size is made.
 */
import { check, MobileNetV2Error } from '../errors.js';
import { checkRawImage, isRawImage, toRgb, type RawImage } from './image.js';
import { imageSize } from './image_size.js';
import { checkImagePixels, readOptions, type ImageReadOptions } from './pixel_limit.js';

/** What {@link loadImageInBrowser} accepts. */
export type BrowserImageSource =
  | RawImage
  | ImageData
  | HTMLImageElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | ImageBitmap
  | Blob
  | Uint8Array;

// Keep the file's pixels as stored: no colour-space conversion (Pillow does none), no premultiplied
// alpha (which would darken semi-transparent pixels), EXIF orientation applied (exif_transpose).
const BITMAP_OPTIONS: ImageBitmapOptions = { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' };

/** RGBA canvas pixels → RGB {@link RawImage}. */
function fromImageData(image: ImageData): RawImage {
  const { width, height, data } = image;
  return toRgb({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height, channels: 4 });
}

type Drawable = HTMLImageElement | HTMLCanvasElement | OffscreenCanvas | ImageBitmap;

function newCanvas(width: number, height: number): OffscreenCanvas | HTMLCanvasElement {
  if (typeof OffscreenCanvas !== 'undefined') return new OffscreenCanvas(width, height);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

/** Draws `source` 1:1 onto a canvas and reads its pixels back, within the pixel limit. */
function readPixels(source: Drawable, width: number, height: number, what: string, maxPixels: number): RawImage {
  check(width > 0 && height > 0, `${what}: image size ${width}x${height} is empty (is the image loaded?)`, 'E_IMAGE_DECODE');
  checkImagePixels(width, height, what, maxPixels);
  const canvas = newCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  check(context !== null, `${what}: this browser gives no 2-D canvas context to read pixels with`);
  context.drawImage(source, 0, 0);
  return fromImageData(context.getImageData(0, 0, width, height));
}

/** Reads `source` through an ImageBitmap, so that the no-colour-conversion options apply. */
async function readBitmap(source: Blob | HTMLImageElement, what: string, maxPixels: number): Promise<RawImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(source, BITMAP_OPTIONS);
  } catch (err) {
    throw new MobileNetV2Error(`${what}: the browser cannot decode this image (corrupt, truncated or unsupported format): ${(err as Error).message}`, { code: 'E_IMAGE_DECODE', cause: err });
  }
  try {
    return readPixels(bitmap, bitmap.width, bitmap.height, what, maxPixels);
  } finally {
    bitmap.close();
  }
}

/** Decodes encoded bytes, refusing a header above the pixel limit before the browser decodes anything. */
async function decodeBlob(blob: Blob, what: string, maxPixels: number): Promise<RawImage> {
  check(blob.size > 0, `${what}: empty file`, 'E_IMAGE_DECODE');
  // A JPEG's frame header may follow large EXIF segments: read the whole (compressed) file.
  const size = imageSize(new Uint8Array(await blob.arrayBuffer()));
  if (size) checkImagePixels(size.width, size.height, what, maxPixels);
  return readBitmap(blob, what, maxPixels);
}

/**
 * Decodes a browser image source into 8-bit RGB pixels.
 *
 * @param nameOrOptions names the image in error messages (default "image"), or `{ name, maxPixels }`
 *   (`maxPixels`: the pixel limit for this image, 0 = none; default: the process's).
 * @throws MobileNetV2Error for empty or undecodable images and images not loaded yet
 *   (E_IMAGE_DECODE), and images above the pixel limit (E_IMAGE_TOO_LARGE).
 */
export async function loadImageInBrowser(source: BrowserImageSource, nameOrOptions?: string | ImageReadOptions): Promise<RawImage> {
  const { name, maxPixels } = readOptions(nameOrOptions, 'image');
  if (isRawImage(source)) {
    checkRawImage(source, name);
    return toRgb(source);
  }
  if (source instanceof Uint8Array) return decodeBlob(new Blob([source as Uint8Array<ArrayBuffer>]), name, maxPixels);
  if (typeof ImageData !== 'undefined' && source instanceof ImageData) return fromImageData(source);
  if (typeof Blob !== 'undefined' && source instanceof Blob) return decodeBlob(source, name, maxPixels);
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) {
    check(source.complete && source.naturalWidth > 0, `${name}: the image element has not finished loading (or failed to load)`, 'E_IMAGE_DECODE');
    checkImagePixels(source.naturalWidth, source.naturalHeight, name, maxPixels);
    return readBitmap(source, name, maxPixels);
  }
  const drawable = source as Drawable;
  return readPixels(drawable, drawable.width, drawable.height, name, maxPixels);
}
