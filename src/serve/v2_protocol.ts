/**
 * The KServe v2 / Triton inference protocol's JSON tensors, as far as this server speaks it: one
 * FP32 input `pixel_values` `[N, C, H, W]` (data flat in row-major order or nested as the shape
 * says), FP32 outputs by name. See https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol
 * No Node APIs.
 */
import { describeValue } from '../describe.js';
import { check } from '../errors.js';
import { float32Tensor, formatShape, numel, type Float32Tensor } from '../tensor.js';

/** The name of the one input tensor. */
const V2_INPUT = 'pixel_values';

/** The version every served model reports (one version per server). */
const V2_MODEL_VERSION = '1';

/** A tensor in v2 JSON. */
export interface V2Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly datatype: 'FP32';
  readonly data: number[];
}

/** A tensor's description in model metadata (-1: any size). */
export interface V2TensorMetadata {
  readonly name: string;
  readonly datatype: 'FP32';
  readonly shape: readonly number[];
}

/** `GET /v2/models/{name}`. */
export interface V2ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: 'onnxruntime_onnx';
  readonly inputs: readonly V2TensorMetadata[];
  readonly outputs: readonly V2TensorMetadata[];
}

/** A checked infer request. */
export interface V2InferRequest {
  /** The request's id, echoed in the response. */
  readonly id?: string;
  /** The input, `[N, C, H, W]`. */
  readonly pixelValues: Float32Tensor;
  /** The outputs asked for (all of the model's when the request names none). */
  readonly outputs: readonly string[];
}

/** What the parser needs to know of the model. */
export interface V2ModelSpec {
  /** Input channels. */
  readonly channels: number;
  /** The model's output names. */
  readonly outputs: readonly string[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Copies `data` (flat, or nested as `shape` says) into `out`, checking every number. */
function fill(data: unknown, shape: readonly number[], out: Float32Array): void {
  let at = 0;
  const walk = (value: unknown, depth: number, path: string): void => {
    check(Array.isArray(value), () => `${V2_INPUT}.data${path}: expected an array, got ${describeValue(value)}`);
    const flatHere = at === 0 && depth === 0 && value.length === out.length && (value.length === 0 || !Array.isArray(value[0]));
    const expected = flatHere ? out.length : shape[depth]!;
    check(value.length === expected, () => `${V2_INPUT}.data${path}: expected ${expected} values for shape ${formatShape(shape)}, got ${value.length}`);
    if (flatHere || depth === shape.length - 1) {
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        check(typeof v === 'number', () => `${V2_INPUT}.data${path}[${i}]: expected a number, got ${describeValue(v)}`);
        out[at++] = v;
      }
      return;
    }
    for (let i = 0; i < value.length; i++) walk(value[i], depth + 1, `${path}[${i}]`);
  };
  walk(data, 0, '');
}

/**
 * Checks a v2 infer request body and builds its input tensor.
 *
 * @throws MobileNetV2Error (E_INVALID_ARGUMENT) naming the field at fault.
 */
export function parseInferRequest(body: unknown, spec: V2ModelSpec): V2InferRequest {
  check(isObject(body), 'an infer request is a JSON object {"inputs": [...], "outputs": [...]}');
  const { id, inputs, outputs } = body;
  check(id === undefined || typeof id === 'string', '"id" must be a string');
  check(Array.isArray(inputs) && inputs.length === 1 && isObject(inputs[0]), `"inputs" must hold one tensor, ${V2_INPUT}`);
  const input = inputs[0];
  check(input.name === V2_INPUT, () => `unknown input ${describeValue(input.name)}; the model takes ${V2_INPUT}`);
  check(input.datatype === 'FP32', () => `${V2_INPUT}: datatype must be FP32, got ${describeValue(input.datatype)}`);
  const shape = input.shape;
  check(Array.isArray(shape) && shape.length === 4 && shape.every((d) => Number.isSafeInteger(d) && (d as number) > 0),
    () => `${V2_INPUT}: shape must be [N, C, H, W] of positive integers, got ${describeValue(shape)}`);
  const dims = shape as number[];
  check(dims[1] === spec.channels, () => `${V2_INPUT}: the model takes ${spec.channels} channels, shape ${formatShape(dims)} has ${dims[1]}`);
  // The data must hold numel values, so a shape far beyond the body's size fails here, before allocating.
  check(Array.isArray(input.data) && (input.data.length === numel(dims) || input.data.length === dims[0]),
    () => `${V2_INPUT}.data: expected ${numel(dims)} values (flat) or ${dims[0]} nested arrays for shape ${formatShape(dims)}`);
  const data = new Float32Array(numel(dims));
  fill(input.data, dims, data);
  let names = spec.outputs;
  if (outputs !== undefined) {
    check(Array.isArray(outputs) && outputs.length > 0 && outputs.every((o) => isObject(o) && typeof o.name === 'string'),
      '"outputs" must be a non-empty list of {"name": ...}');
    names = outputs.map((o) => (o as { name: string }).name);
    for (const name of names) check(spec.outputs.includes(name), () => `unknown output ${describeValue(name)}; the model has ${spec.outputs.join(', ')}`);
  }
  return { ...(id !== undefined ? { id } : {}), pixelValues: float32Tensor(data, dims), outputs: names };
}

/** The v2 infer response for `outputs` of a model run. */
export function inferResponse(modelName: string, request: V2InferRequest, outputs: Readonly<Record<string, Float32Tensor>>): object {
  return {
    model_name: modelName,
    model_version: V2_MODEL_VERSION,
    ...(request.id !== undefined ? { id: request.id } : {}),
    outputs: request.outputs.map((name): V2Tensor => ({ name, shape: outputs[name]!.shape, datatype: 'FP32', data: Array.from(outputs[name]!.data) })),
  };
}

/**
 * Model metadata from the outputs of a warm-up run: the batch axis and every axis past the
 * channels are -1 (the model takes any batch and image size).
 */
export function modelMetadata(name: string, channels: number, outputs: Readonly<Record<string, Float32Tensor>>): V2ModelMetadata {
  return {
    name,
    versions: [V2_MODEL_VERSION],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: V2_INPUT, datatype: 'FP32', shape: [-1, channels, -1, -1] }],
    outputs: Object.entries(outputs).map(([output, t]) => ({ name: output, datatype: 'FP32', shape: t.shape.map((d, i) => (i === 1 ? d : -1)) })),
  };
}
