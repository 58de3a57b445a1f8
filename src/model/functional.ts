/**
 * Small tensor functions the heads need outside the ONNX graph (they run on logits, which are
 * tiny): PyTorch's bilinear `interpolate` and an argmax over channels.
 */
import type { Float32Tensor } from '../tensor.js';

/** Source index pairs and weights of one axis of a bilinear resize. */
export interface AxisWeights { i0: Int32Array; i1: Int32Array; w1: Float32Array }

/**
 * PyTorch `upsample_bilinear2d` sampling positions for one axis. align_corners=false:
 * `src = max(0, (dst + 0.5)·in/out − 0.5)`; align_corners=true: `src = dst·(in−1)/(out−1)`.
 */
export function axisWeights(inSize: number, outSize: number, alignCorners: boolean): AxisWeights {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w1 = new Float32Array(outSize);
  const scale = alignCorners ? (outSize > 1 ? (inSize - 1) / (outSize - 1) : 0) : inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    const src = alignCorners ? d * scale : Math.max(0, scale * (d + 0.5) - 0.5);
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[d] = lo;
    i1[d] = Math.min(lo + 1, inSize - 1);
    w1[d] = src - lo;
  }
  return { i0, i1, w1 };
}

/** Bilinear resize of an NCHW float32 tensor to `[height, width]`, as `torch.nn.functional.interpolate`. */
export function interpolateBilinear(x: Float32Tensor, height: number, width: number, alignCorners = false): Float32Tensor {
  const [n, c, inH, inW] = x.shape as [number, number, number, number];
  const ys = axisWeights(inH, height, alignCorners);
  const xs = axisWeights(inW, width, alignCorners);
  const out = new Float32Array(n * c * height * width);
  for (let plane = 0; plane < n * c; plane++) {
    const src = plane * inH * inW;
    const dst = plane * height * width;
    for (let oy = 0; oy < height; oy++) {
      const r0 = src + ys.i0[oy]! * inW;
      const r1 = src + ys.i1[oy]! * inW;
      const wy = ys.w1[oy]!;
      for (let ox = 0; ox < width; ox++) {
        const a = xs.i0[ox]!;
        const b = xs.i1[ox]!;
        const wx = xs.w1[ox]!;
        const top = x.data[r0 + a]! * (1 - wx) + x.data[r0 + b]! * wx;
        const bottom = x.data[r1 + a]! * (1 - wx) + x.data[r1 + b]! * wx;
        out[dst + oy * width + ox] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return { dtype: 'float32', shape: [n, c, height, width], data: out };
}

/** Index of the largest channel at each pixel of one `[C, H, W]` item (ties → first index). */
export function argmaxChannels(data: Float32Array, channels: number, pixels: number, offset = 0): BigInt64Array {
  const out = new BigInt64Array(pixels);
  for (let p = 0; p < pixels; p++) {
    let best = 0;
    let bestValue = data[offset + p]!;
    for (let c = 1; c < channels; c++) {
      const v = data[offset + c * pixels + p]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out[p] = BigInt(best);
  }
  return out;
}

/** Softmax of each row of a `[rows, n]` matrix (numerically stable). */
export function softmaxRows(data: Float32Array, n: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < data.length / n; r++) {
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, data[r * n + i]!);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += out[r * n + i] = Math.exp(data[r * n + i]! - max);
    for (let i = 0; i < n; i++) out[r * n + i]! /= sum;
  }
  return out;
}
