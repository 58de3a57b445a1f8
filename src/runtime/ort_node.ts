/** Registers `onnxruntime-node` as the runtime (imported by the Node entry point). */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { setOrtModule } from './ort.js';
import { createWorkerSession } from './ort_worker_node.js';

/**
 * ONNX Runtime's own default takes every core. Measured on a busy 2-core machine, one intra-op
 * thread ran MobileNetV2 in 4 ms where two took 15 ms (they contend with each other, with
 * decoding and with everything else), so one core is left free: 1 thread on 2 cores, 3 on 4, at
 * most 4 (MobileNetV2's small layers gain little beyond that).
 */
const DEFAULT_THREADS = Math.max(1, Math.min(4, availableParallelism() - 1));

setOrtModule({ InferenceSession: ort.InferenceSession, Tensor: ort.Tensor, defaultThreads: DEFAULT_THREADS, createWorkerSession });
