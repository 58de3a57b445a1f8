/**
 * Post-training calibration of a float checkpoint: the float graph is run on a few representative
 * images with every quantizable activation exposed as an output, and each activation's observed
 * range becomes uint8 parameters. The result is a quantization record in the same format as the
 * TFLite importer's, so {@link quantizeGraph} treats both alike and the record can be saved with
 * the checkpoint.
 */
import { check } from '../errors.js';
import { encodeModel, OnnxDataType, type ModelProto, type ValueInfoProto } from '../onnx/proto.js';
import { createSession, getOrtModule, type SessionOptions } from '../runtime/ort.js';
import type { Float32Tensor } from '../tensor.js';
import { activationParams } from './affine.js';
import { INPUT_KEY, type QuantizationPlan } from './points.js';
import { QUANTIZATION_FORMAT, type ActivationQuant, type QuantizationRecord } from './record.js';

/** How activation ranges are taken from the calibration images. */
export type CalibrationMethod =
  /** The smallest and largest value seen (TFLite's and ONNX Runtime's default). */
  | 'minmax'
  /** Per image the 0.01% / 99.99% quantiles, then the widest over the images: ignores rare outliers. */
  | 'percentile';

/** Options of {@link calibrate}. */
export interface CalibrationOptions {
  /** Range estimator (default `minmax`). */
  readonly method?: CalibrationMethod;
  /** ONNX Runtime settings for the calibration session. */
  readonly session?: SessionOptions;
}

/** Fraction of values a percentile range may leave outside on each side. */
const PERCENTILE_TAIL = 1e-4;

/** `[lo, hi]` of a tensor's values per the method. */
function valueRange(data: Float32Array, method: CalibrationMethod): [number, number] {
  if (method === 'minmax') {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return [lo, hi];
  }
  const sorted = Float32Array.from(data).sort();
  const k = Math.floor(PERCENTILE_TAIL * (sorted.length - 1));
  return [sorted[k]!, sorted[sorted.length - 1 - k]!];
}

/**
 * Calibrates the activations of `floatGraph` (a graph built by this library, with its head, and
 * the plan its builder recorded; neither is changed) on `batches` of pixel values (`[B, C, H, W]`,
 * preprocessed as for inference).
 *
 * @param source describes the calibration in the record (e.g. the image names).
 * @throws MobileNetV2Error when no batch is given.
 */
export async function calibrate(
  floatGraph: ModelProto, plan: QuantizationPlan, batches: readonly Float32Tensor[], source: string, options: CalibrationOptions = {},
): Promise<QuantizationRecord> {
  check(batches.length > 0, 'calibration needs at least one image');
  const method = options.method ?? 'minmax';
  const points = plan.activations;
  const graph = floatGraph.graph;
  const outputs = new Set([...graph.output, ...graph.input].map((o) => o.name));
  const extra: ValueInfoProto[] = [];
  for (const { tensor } of points) {
    if (outputs.has(tensor)) continue;
    // Element type only: ONNX Runtime infers the shape.
    extra.push({ name: tensor, type: { tensorType: { elemType: OnnxDataType.FLOAT } } } as ValueInfoProto);
    outputs.add(tensor);
  }
  const model: ModelProto = { ...floatGraph, graph: { ...graph, output: [...graph.output, ...extra] } };
  const session = await createSession(encodeModel(model), options.session);
  const ranges = new Map<string, [number, number]>();
  const widen = (key: string, [lo, hi]: [number, number]): void => {
    const r = ranges.get(key);
    ranges.set(key, r ? [Math.min(r[0], lo), Math.max(r[1], hi)] : [lo, hi]);
  };
  const ort = getOrtModule();
  try {
    for (const batch of batches) {
      const inputName = model.graph.input[0]!.name;
      const results = await session.run({ [inputName]: new ort.Tensor('float32', batch.data, [...batch.shape]) });
      for (const { key, tensor } of points) {
        widen(key, valueRange((key === INPUT_KEY ? batch.data : results[tensor]!.data) as Float32Array, method));
      }
      for (const value of Object.values(results)) value.dispose();
    }
  } finally {
    await session.release();
  }
  const activations: Record<string, ActivationQuant> = {};
  for (const [key, [lo, hi]] of ranges) if (key !== INPUT_KEY) activations[key] = { inputs: [], output: activationParams(lo, hi) };
  const [inLo, inHi] = ranges.get(INPUT_KEY)!;
  return {
    format: QUANTIZATION_FORMAT, version: 1, source: `calibration on ${source} (${method})`,
    input: activationParams(inLo, inHi), output: null, weights: {}, activations,
  };
}
