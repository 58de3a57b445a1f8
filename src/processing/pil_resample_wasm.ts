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
  rows(src: number, stride: number, nrows: number, channels: number, bounds: number, weights: number, ksize: number, nout: number, out: number): void;
  columns(rows: number, rowLength: number, row0: number, bounds: number, weights: number, ksize: number, nout: number, out: number): void;
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

/**
 * The horizontal pass over source rows `[row0, row1)`, then the vertical pass when `vertical` is
 * given, for the output pixels of `window`: what pil_resample.ts's resampleRows and resampleColumns
 * give. Undefined when WebAssembly SIMD is not available or its memory cannot grow this far.
 */
export function wasmResample(src: Pixels8, horizontal: Coefficients, vertical: Coefficients | undefined, row0: number, row1: number, window: Window): Uint8Array | undefined {
  const k = kernels();
  if (!k) return undefined;
  const { data, width, channels } = src;
  const stride = width * channels;
  const rowLength = window.width * channels;
  const [hBounds, hWeights] = tables(horizontal, window.left, window.width);
  const [vBounds, vWeights] = vertical ? tables(vertical, window.top, window.height) : [new Int32Array(0), new Int32Array(0)];
  // Buffers one after the other, 16-byte aligned: tables, source rows, horizontal output, output.
  const sizes = [hBounds.byteLength, hWeights.byteLength, vBounds.byteLength, vWeights.byteLength,
    (row1 - row0) * stride, (row1 - row0) * rowLength, vertical ? window.height * rowLength : 0];
  const at: number[] = [];
  let end = 0;
  for (const size of sizes) {
    at.push(end);
    end += Math.ceil((size + SLACK) / 16) * 16;
  }
  const [hb, hw, vb, vw, source, mid, out] = at as [number, number, number, number, number, number, number];
  try {
    const grow = Math.ceil(end / PAGE) - k.memory.buffer.byteLength / PAGE;
    if (grow > 0) k.memory.grow(grow);
  } catch {
    return undefined; // RangeError: no memory this large; the JavaScript passes may still manage
  }
  const { buffer } = k.memory;
  new Int32Array(buffer, hb, hBounds.length).set(hBounds);
  new Int32Array(buffer, hw, hWeights.length).set(hWeights);
  new Int32Array(buffer, vb, vBounds.length).set(vBounds);
  new Int32Array(buffer, vw, vWeights.length).set(vWeights);
  const heap = new Uint8Array(buffer);
  heap.set(data.subarray(row0 * stride, row1 * stride), source);
  k.rows(source, stride, row1 - row0, channels, hb, hw, horizontal.ksize, window.width, mid);
  if (vertical) k.columns(mid, rowLength, row0, vb, vw, vertical.ksize, window.height, out);
  const result = vertical ? heap.slice(out, out + window.height * rowLength) : heap.slice(mid, mid + (row1 - row0) * rowLength);
  if (buffer.byteLength > KEEP_BYTES) kept = undefined;
  return result;
}
