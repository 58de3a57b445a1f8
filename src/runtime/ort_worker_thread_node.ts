/**
 * Worker-thread side of {@link createWorkerSession}: owns one onnxruntime-node session and runs it
 * on request. onnxruntime-node's `run` is synchronous on the calling thread, so running it here
 * keeps the main thread's event loop free while the model works.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { WorkerSessionReply, WorkerSessionRequest, WireTensor } from './ort_worker_node.js';

const { model, options } = workerData as { model: Uint8Array | string; options: ort.InferenceSession.SessionOptions };
const port = parentPort!;

function toWire(tensor: ort.Tensor): WireTensor {
  return { type: tensor.type, data: tensor.data as WireTensor['data'], dims: [...tensor.dims] };
}

/** Runs or releases the session as `request` asks; every failure goes back as a reply, never thrown. */
async function answer(session: ort.InferenceSession, request: WorkerSessionRequest): Promise<void> {
  if (request.type === 'release') {
    // The worker ends either way; a failing release has nobody left to tell.
    await session.release().catch(() => undefined);
    port.close();
    return;
  }
  let reply: WorkerSessionReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const feeds = Object.fromEntries(Object.entries(request.feeds).map(([name, t]) => [name, new ort.Tensor(t.type as 'float32', t.data, t.dims)]));
    const results = await session.run(feeds, request.fetches ?? session.outputNames);
    const outputs: Record<string, WireTensor> = {};
    for (const [name, value] of Object.entries(results)) {
      outputs[name] = toWire(value);
      transfer.push((value.data as WireTensor['data']).buffer as ArrayBuffer);
    }
    reply = { type: 'result', id: request.id, outputs };
  } catch (err) {
    reply = { type: 'error', id: request.id, message: (err as Error).message };
  }
  port.postMessage(reply, transfer);
}

try {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  port.on('message', (request: WorkerSessionRequest) => void answer(session, request));
  port.postMessage({ type: 'ready', inputNames: session.inputNames, outputNames: session.outputNames } satisfies WorkerSessionReply);
} catch (err) {
  port.postMessage({ type: 'error', id: -1, message: (err as Error).message } satisfies WorkerSessionReply);
}
