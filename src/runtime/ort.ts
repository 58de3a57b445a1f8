/**
 * ONNX Runtime access. The core never imports a concrete runtime: the Node entry point registers
 * `onnxruntime-node`, the browser entry point `onnxruntime-web`. Both implement
 * `onnxruntime-common`'s interfaces, which is all the model code sees.
 */
import type * as ortCommon from 'onnxruntime-common';
import { MobileNetV2Error } from '../errors.js';

/** What the library needs from an ONNX Runtime package. */
export interface OrtModule {
  /** `InferenceSession` factory of the runtime package. */
  readonly InferenceSession: typeof ortCommon.InferenceSession;
  /** `Tensor` constructor of the runtime package. */
  readonly Tensor: typeof ortCommon.Tensor;
  /** Intra-op threads when the caller sets none (undefined: the runtime's own default). */
  readonly defaultThreads?: number;
  /** Creates a session that runs in a worker thread (Node only; see `SessionOptions.worker`). */
  readonly createWorkerSession?: (model: Uint8Array | string, options: ortCommon.InferenceSession.SessionOptions) => Promise<ortCommon.InferenceSession>;
}

let registered: OrtModule | null = null;

/** Registers the runtime package to use (done by the Node and browser entry points). */
export function setOrtModule(ort: OrtModule): void {
  registered = ort;
}

/** The registered runtime; throws if no entry point registered one. */
export function getOrtModule(): OrtModule {
  if (!registered) {
    throw new MobileNetV2Error('no ONNX Runtime registered: import "mobilenet-v2" (Node) or "mobilenet-v2/browser"', { code: 'E_RUNTIME' });
  }
  return registered;
}

/** Numeric precision a model runs in: float32, or integer (int8 weights, uint8 activations). */
export type ModelDType = 'fp32' | 'int8';

/** Session settings exposed to users. */
export interface SessionOptions {
  /**
   * `int8` runs the integer (QDQ) graph: the checkpoint's own quantization (models converted from
   * quantized TFLite files) or the ranges of `model.calibrate()`. Default `fp32`.
   */
  readonly dtype?: ModelDType;
  /**
   * Intra-op threads. Default in Node: one core fewer than the machine has (at least 1, at most 4),
   * which leaves a core to decode and preprocess the next images; in browsers the runtime's choice.
   */
  readonly threads?: number;
  /**
   * Node: run inference in a worker thread. onnxruntime-node blocks the JavaScript thread while a
   * model runs; in a worker, decoding and preprocessing of the next images overlap inference
   * (worth it over many images; costs a thread start for one).
   */
  readonly worker?: boolean;
  /** Execution providers in order of preference (default `['cpu']` in Node, `['wasm']` in browsers). */
  readonly executionProviders?: readonly string[];
}

/** Creates an inference session from ONNX model bytes or an .onnx file path (Node). */
export async function createSession(model: Uint8Array | string, options: SessionOptions = {}): Promise<ortCommon.InferenceSession> {
  const ort = getOrtModule();
  const sessionOptions: ortCommon.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...((options.threads ?? ort.defaultThreads) !== undefined ? { intraOpNumThreads: options.threads ?? ort.defaultThreads } : {}),
    ...(options.executionProviders ? { executionProviders: [...options.executionProviders] } : {}),
  };
  if (!options.worker) {
    return typeof model === 'string' ? ort.InferenceSession.create(model, sessionOptions) : ort.InferenceSession.create(model, sessionOptions);
  }
  if (!ort.createWorkerSession) throw new MobileNetV2Error('worker sessions need Node.js (worker_threads)', { code: 'E_RUNTIME' });
  return ort.createWorkerSession(model, sessionOptions);
}
