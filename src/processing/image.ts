/**
 * The decoded-image type shared by the image decoders (Node and browser) and the image processor,
 * plus the channel conversions Pillow's `Image.convert("RGB")` performs, which transformers'
 * `load_image` applies to every picture it opens. No Node APIs: this runs in a browser too.
 */
import { check } from '../errors.js';

/** Interleaved 8-bit pixels, row-major, `channels` values per pixel (HWC). */
export interface RawImage {
  /** `width * height * channels` bytes, top row first. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 1 = grey ("L"), 2 = grey + alpha ("LA"), 3 = RGB, 4 = RGBA. */
  channels: 1 | 2 | 3 | 4;
}

/** True when `value` looks like a {@link RawImage} (as opposed to a tensor). */
export function isRawImage(value: unknown): value is RawImage {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<RawImage>;
  return v.data instanceof Uint8Array && typeof v.width === 'number' && typeof v.height === 'number' && typeof v.channels === 'number';
}

/**
 * Checks that `image` is a well-formed, non-empty {@link RawImage}.
 *
 * @param what names the image in the error message (a file name, "image 2", …).
 * @throws MobileNetV2Error when sizes are not positive integers, the channel count is not 1–4 or
 *   `data` has the wrong length.
 */
export function checkRawImage(image: RawImage, what: string): void {
  const { width, height, channels, data } = image;
  check(
    Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0,
    `${what}: image size ${width}x${height} is empty or not an integer size`,
  );
  check(channels === 1 || channels === 2 || channels === 3 || channels === 4, `${what}: ${channels} channels; expected 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA)`);
  check(
    data.length === width * height * channels,
    `${what}: pixel data has ${data.length} bytes but ${width}x${height}x${channels} needs ${width * height * channels}`,
  );
}

/**
 * Converts to 3-channel RGB the way Pillow's `convert("RGB")` does: grey is replicated, alpha is
 * dropped without compositing onto a background (so fully transparent pixels keep their colour).
 * An RGB image is returned as is.
 */
export function toRgb(image: RawImage): RawImage {
  const { data, width, height, channels } = image;
  if (channels === 3) return image;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  if (channels === 4) {
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      out[3 * i] = data[j]!;
      out[3 * i + 1] = data[j + 1]!;
      out[3 * i + 2] = data[j + 2]!;
    }
  } else {
    for (let i = 0, j = 0; i < n; i++, j += channels) {
      const v = data[j]!;
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    }
  }
  return { data: out, width, height, channels: 3 };
}

/**
 * Pillow's CMYK → RGB conversion (`cmyk2rgb` in libImaging/Convert.c): no colour management, just
 * `r = 255 - k - c·(255 - k)/255` in integer arithmetic. Input is 4 bytes per pixel (C, M, Y, K,
 * 0 = no ink).
 */
export function cmykToRgb(cmyk: Uint8Array, width: number, height: number): RawImage {
  const n = width * height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const nk = 255 - cmyk[4 * i + 3]!;
    for (let c = 0; c < 3; c++) {
      // MULDIV255(a, b) = ((t >> 8) + t) >> 8 with t = a*b + 128: Pillow's exact rounding of a*b/255.
      const t = cmyk[4 * i + c]! * nk + 128;
      out[3 * i + c] = Math.max(0, nk - (((t >> 8) + t) >> 8));
    }
  }
  return { data: out, width, height, channels: 3 };
}
