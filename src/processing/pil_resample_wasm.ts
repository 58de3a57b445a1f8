/**
 * The two convolution passes of {@link pilResize} as WebAssembly SIMD kernels (pil_resample.wat):
 * the same bits as the JavaScript passes, several times faster. Where the runtime lacks WebAssembly
 * or its 128-bit SIMD (or a content security policy forbids compiling), {@link wasmResample}
 * returns undefined and the JavaScript passes run. The module is well under the 4 KB that Chrome
 * lets a page's main thread compile synchronously, so it is compiled on first use, in place.
 */
import type { Coefficients, Pixels8, Window } from './pil_resample.js';
import { PIL_RESAMPLE_WASM } from './pil_resample_wasm_module.js';

/** The module's exports (pointers and sizes in bytes or elements, see pil_resample.wat). */
interface Kernels {
  memory: WebAssembly.Memory;
  rows(src: number, stride: number, nrows: number, channels: number, mask: number, bounds: number, weights: number, wstride: number, nout: number, out: number): void;
  columns(rows: number, rowLength: number, row0: number, bounds: number, weights: number, ksize: number, nout: number, out: number): void;
  planes(src: number, n: number, channels: number, lut: number, out: number): void;
}

/** Options of the functions that run these kernels where they can. */
export interface KernelOptions {
  /** False runs the JavaScript code even where WebAssembly SIMD is available (tests compare the two). */
  wasm?: boolean;
}

/** Room after each buffer: the kernels read and write whole vectors past the ends. */
const SLACK = 16;
/** A larger memory (left by a big image) is dropped after the call rather than kept for good. */
const KEEP_BYTES = 32 << 20;
const PAGE = 65536;

let compiled: WebAssembly.Module | null | undefined; // null: not available here
let kept: Kernels | undefined;

function kernels(): Kernels | undefined {
  if (compiled === undefined) {
    try {
      const bytes = Uint8Array.from(atob(PIL_RESAMPLE_WASM), (c) => c.charCodeAt(0));
      // validate() is false where SIMD is missing; compiling throws where WebAssembly is forbidden.
      compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return undefined;
  kept ??= new WebAssembly.Instance(compiled).exports as unknown as Kernels;
  return kept;
}

/** True when the WebAssembly kernels run here (false: the JavaScript passes do). */
export function hasWasmResample(): boolean {
  return kernels() !== undefined;
}

/** The coefficients of output indices `[first, first + count)`. */
function tables(c: Coefficients, first: number, count: number): [Int32Array, Int32Array] {
  return [c.bounds.subarray(2 * first, 2 * (first + count)), c.weights.subarray(first * c.ksize, (first + count) * c.ksize)];
}

/** Bytes of one output pixel's weights in the horizontal table: two i16x8 vectors per tap pair. */
const pairBytes = (c: Coefficients): number => Math.ceil(c.ksize / 2) * 32;

/**
 * The horizontal tables of output indices `[first, first + count)` as the `rows` kernel reads them
 * (see pil_resample.wat): byte offsets and pair counts; weights split into 15-bit low and high halves.
 */
function pairTables(c: Coefficients, first: number, count: number, channels: number): [Int32Array, Int16Array] {
  const bounds = new Int32Array(2 * count);
  const half = pairBytes(c) / 2;
  const weights = new Int16Array(count * half);
  const [from, ws] = tables(c, first, count);
  for (let i = 0; i < count; i++) {
    bounds[2 * i] = from[2 * i]! * channels;
    bounds[2 * i + 1] = Math.ceil(from[2 * i + 1]! / 2);
    for (let t = 0; t < from[2 * i + 1]!; t++) {
      const w = ws[i * c.ksize + t]!;
      // Pillow's weights stay far below 2^30, so w >> 15 fits 16 bits.
      const at = i * half + (t >> 1) * 16 + (t & 1);
      for (let lane = 0; lane < 8; lane += 2) [weights[at + lane], weights[at + 8 + lane]] = [w & 0x7fff, w >> 15];
    }
  }
  return [bounds, weights];
}

/** The swizzle that spreads a pair of pixels into [c0_k, c0_k+1, c1_k, c1_k+1, …] 16-bit lanes (0x80: zero). */
function pairMask(channels: number): Uint8Array {
  const mask = new Uint8Array(16).fill(0x80);
  for (let c = 0; c < channels; c++) [mask[4 * c], mask[4 * c + 2]] = [c, channels + c];
  return mask;
}

/**
 * Runs `job` with buffers of `sizes` bytes laid out one after the other in the module's memory
 * (16-byte aligned, each with {@link SLACK} after it), `at` their offsets. Undefined when
 * WebAssembly SIMD is not available or its memory cannot grow this far.
 */
function inMemory<T>(sizes: readonly number[], job: (k: Kernels, at: number[]) => T): T | undefined {
  const k = kernels();
  if (!k) return undefined;
  const at: number[] = [];
  let end = 0;
  for (const size of sizes) {
    at.push(end);
    end += Math.ceil((size + SLACK) / 16) * 16;
  }
  try {
    const grow = Math.ceil(end / PAGE) - k.memory.buffer.byteLength / PAGE;
    if (grow > 0) k.memory.grow(grow);
  } catch {
    return undefined; // RangeError: no memory this large; the JavaScript code may still manage
  }
  const result = job(k, at);
  if (k.memory.buffer.byteLength > KEEP_BYTES) kept = undefined;
  return result;
}

/**
 * The horizontal pass over source rows `[row0, row1)`, then the vertical pass when `vertical` is
 * given, for the output pixels of `window`: what pil_resample.ts's resampleRows and resampleColumns
 * give. Undefined when WebAssembly SIMD is not available or its memory cannot grow this far.
 */
export function wasmResample(src: Pixels8, horizontal: Coefficients, vertical: Coefficients | undefined, row0: number, row1: number, window: Window): Uint8Array | undefined {
  const { data, width, channels } = src;
  const stride = width * channels;
  const rowLength = window.width * channels;
  const [hBounds, hWeights] = pairTables(horizontal, window.left, window.width, channels);
  const [vBounds, vWeights] = vertical ? tables(vertical, window.top, window.height) : [new Int32Array(0), new Int32Array(0)];
  // Tables, source rows, horizontal output, output.
  const sizes = [16, hBounds.byteLength, hWeights.byteLength, vBounds.byteLength, vWeights.byteLength,
    (row1 - row0) * stride, (row1 - row0) * rowLength, vertical ? window.height * rowLength : 0];
  return inMemory(sizes, (k, at) => {
    const [mask, hb, hw, vb, vw, source, mid, out] = at as [number, number, number, number, number, number, number, number];
    const { buffer } = k.memory;
    new Int32Array(buffer, hb, hBounds.length).set(hBounds);
    new Int16Array(buffer, hw, hWeights.length).set(hWeights);
    new Int32Array(buffer, vb, vBounds.length).set(vBounds);
    new Int32Array(buffer, vw, vWeights.length).set(vWeights);
    const heap = new Uint8Array(buffer);
    heap.set(pairMask(channels), mask);
    heap.set(data.subarray(row0 * stride, row1 * stride), source);
    k.rows(source, stride, row1 - row0, channels, mask, hb, hw, pairBytes(horizontal), window.width, mid);
    if (!vertical) return heap.slice(mid, mid + (row1 - row0) * rowLength);
    k.columns(mid, rowLength, row0, vb, vw, vertical.ksize, window.height, out);
    return heap.slice(out, out + window.height * rowLength);
  });
}

/**
 * Interleaved bytes (`channels` per pixel) to channel planes of float32, each byte `v` of channel
 * `c` becoming `lut[c * 256 + v]`: the processor's rescale + normalise + HWC → CHW. Undefined
 * when WebAssembly SIMD is not available or its memory cannot grow this far.
 */
export function wasmPlanes(data: Uint8Array, channels: number, lut: Float32Array): Float32Array | undefined {
  const n = data.length / channels;
  return inMemory([data.length, lut.byteLength, data.length * 4], (k, at) => {
    const [src, table, out] = at as [number, number, number];
    new Uint8Array(k.memory.buffer).set(data, src);
    new Float32Array(k.memory.buffer, table, lut.length).set(lut);
    k.planes(src, n, channels, table, out);
    return new Float32Array(k.memory.buffer.slice(out, out + data.length * 4));
  });
}
