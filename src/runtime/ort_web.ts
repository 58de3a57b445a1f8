/**
 * Registers `onnxruntime-web` as the runtime (imported by the browser entry point) and exposes the
 * few settings a page needs: where the WebAssembly files are served and how many threads to use.
 *
 * The package's default build is the JSEP one: a single SIMD + threads WebAssembly binary
 * (`ort-wasm-simd-threaded.jsep.wasm` with its `.mjs` loader) that runs both the `wasm` and the
 * `webgpu` execution providers, so one import serves every browser.
 */
import { check, MobileNetV2Error } from '../errors.js';
import { setOrtModule } from './ort.js';

// onnxruntime-web is an optional peer dependency (Node users never need its 140 MB), so it is
// imported dynamically: a browser app without it gets this error rather than a bare module failure.
const ort = await import('onnxruntime-web').catch((cause: unknown) => {
  throw new MobileNetV2Error('cannot load onnxruntime-web: install onnxruntime-web beside mobilenet-v2 for the browser build (npm install onnxruntime-web)', { code: 'E_RUNTIME', cause });
});
setOrtModule(ort);

/** Settings of the WebAssembly runtime; they take effect when the first model is loaded. */
export interface OrtWebOptions {
  /**
   * URL of the folder (ending in `/`) serving `ort-wasm-simd-threaded.jsep.mjs` and `.wasm` from
   * `onnxruntime-web/dist`. Default: next to the script that loaded onnxruntime-web, which only
   * works when that script was not bundled.
   */
  readonly wasmPaths?: string;
  /**
   * WebAssembly threads. Default: onnxruntime-web's choice, `min(4, ceil(cores / 2))` on a
   * cross-origin isolated page (served with `Cross-Origin-Opener-Policy: same-origin` and
   * `Cross-Origin-Embedder-Policy: require-corp`), else 1, since threads need SharedArrayBuffer.
   */
  readonly numThreads?: number;
}

/** Applies `options` to onnxruntime-web; call before loading the first model. */
export function configureOrtWeb(options: OrtWebOptions): void {
  if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
  if (options.numThreads !== undefined) {
    check(Number.isInteger(options.numThreads) && options.numThreads > 0, `numThreads must be a positive integer, got ${options.numThreads}`);
    ort.env.wasm.numThreads = options.numThreads;
  }
}

/** WebAssembly threads in use: set by onnxruntime-web when the first model loads (undefined before, unless configured). */
export function wasmThreads(): number | undefined {
  return ort.env.wasm.numThreads;
}

/** The part of the WebGPU API this module looks at (so that no WebGPU type package is needed). */
interface GpuNavigator {
  readonly gpu?: { requestAdapter(): Promise<unknown> };
}

/**
 * Whether this browser can run the `webgpu` execution provider: it has `navigator.gpu` and gives
 * an adapter (headless or GPU-less browsers often have the API but no adapter).
 */
export async function hasWebGpu(): Promise<boolean> {
  const gpu = (globalThis.navigator as GpuNavigator | undefined)?.gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/** Execution providers to ask for: `['webgpu', 'wasm']` where WebGPU works, else `['wasm']`. */
export async function preferredExecutionProviders(): Promise<string[]> {
  return (await hasWebGpu()) ? ['webgpu', 'wasm'] : ['wasm'];
}
