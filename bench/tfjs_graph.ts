/**
 * The tfjs peer: the same float ONNX graph the library exports (BatchNorm already folded) rebuilt
 * with tfjs ops — fused conv2d / depthwiseConv2d with ReLU6, add, mean, matMul — in NHWC, the
 * layout tfjs' wasm kernels use. Reading the weights from the exported graph guarantees that every
 * engine runs the same numbers.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { decodeModel, OnnxDataType, type AttributeProto, type NodeProto, type TensorProto } from '../src/onnx/proto.js';

type Tf = typeof TF;

function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

function floats(t: TensorProto): Float32Array {
  if (t.dataType !== OnnxDataType.FLOAT) throw new Error(`tfjs peer: initializer ${t.name} is not float32`);
  return new Float32Array(new Uint8Array(t.rawData).buffer);
}

/** A compiled graph: NCHW float input in, the classifier's logits (or segmentation logits, NCHW) out. */
export interface TfjsGraph {
  run(input: TF.Tensor4D): TF.Tensor;
  dispose(): void;
}

/** Conv weight OIHW → HWIO (dense) or HW C 1 (depthwise), as tfjs wants. */
function convFilter(tf: Tf, t: TensorProto, depthwise: boolean): TF.Tensor4D {
  const [o, i, h, w] = t.dims as [number, number, number, number];
  const oihw = tf.tensor4d(floats(t), [o, i, h, w]);
  const filter = depthwise ? tf.transpose(oihw, [2, 3, 0, 1]) : tf.transpose(oihw, [2, 3, 1, 0]);
  oihw.dispose();
  return filter;
}

/**
 * Compiles the classification or segmentation graph. Supports exactly the ops the library emits
 * for those models: Conv (+ Clip / Relu), Add, GlobalAveragePool, Flatten, Gemm.
 */
export function compileTfjs(tf: Tf, onnx: Uint8Array, output: string): TfjsGraph {
  const graph = decodeModel(onnx).graph;
  const inits = new Map(graph.initializer.map((t) => [t.name, t]));
  const consumers = new Map<string, NodeProto[]>();
  for (const n of graph.node) for (const i of n.input) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const weights: TF.Tensor[] = [];
  type Step = (env: Map<string, TF.Tensor>) => void;
  const steps: Step[] = [];
  const fusedAway = new Set<NodeProto>();
  for (const node of graph.node) {
    if (fusedAway.has(node)) continue;
    const [x, w, b] = node.input;
    const out = node.output[0]!;
    switch (node.opType) {
      case 'Conv': {
        const group = attr(node, 'group')?.i ?? 1;
        const weight = inits.get(w!)!;
        const depthwise = group > 1;
        if (depthwise && group !== weight.dims[0]) throw new Error('tfjs peer: grouped (non-depthwise) conv');
        const filter = convFilter(tf, weight, depthwise);
        const bias = b ? tf.tensor1d(floats(inits.get(b)!)) : undefined;
        weights.push(filter, ...(bias ? [bias] : []));
        const stride = (attr(node, 'strides')?.ints ?? [1, 1]) as [number, number];
        const dilation = (attr(node, 'dilations')?.ints ?? [1, 1]) as [number, number];
        const kernel = weight.dims[2]!;
        // The library pads ⌊(k−1)/2⌋·d on stride 1 and uses SAME_UPPER on strided convs: both are TF's 'same'.
        const pad = kernel === 1 ? 'valid' : 'same';
        const next = consumers.get(out) ?? [];
        const act = next.length === 1 && (next[0]!.opType === 'Clip' || next[0]!.opType === 'Relu') ? next[0]! : undefined;
        if (act) fusedAway.add(act);
        const activation = act ? (act.opType === 'Clip' ? 'relu6' : 'relu') : 'linear';
        const target = act ? act.output[0]! : out;
        steps.push((env) => {
          const args = { x: env.get(x!) as TF.Tensor4D, filter, strides: stride, pad, dilations: dilation, bias, activation } as const;
          env.set(target, depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args));
        });
        break;
      }
      case 'Add':
        steps.push((env) => env.set(out, tf.add(env.get(x!)!, env.get(w!)!)));
        break;
      case 'Relu':
        steps.push((env) => env.set(out, tf.relu(env.get(x!)!)));
        break;
      case 'GlobalAveragePool':
        steps.push((env) => env.set(out, tf.mean(env.get(x!)!, [1, 2], true)));
        break;
      case 'Flatten':
        steps.push((env) => env.set(out, tf.reshape(env.get(x!)!, [env.get(x!)!.shape[0], -1])));
        break;
      case 'Gemm': {
        const weight = inits.get(w!)!;
        const wt = tf.transpose(tf.tensor2d(floats(weight), weight.dims as [number, number]));
        const bias = tf.tensor1d(floats(inits.get(b!)!));
        weights.push(wt, bias);
        steps.push((env) => env.set(out, tf.add(tf.matMul(env.get(x!) as TF.Tensor2D, wt), bias)));
        break;
      }
      default:
        throw new Error(`tfjs peer: unsupported op ${node.opType} (${node.name})`);
    }
  }
  const inputName = graph.input[0]!.name;
  return {
    run(input) {
      return tf.tidy(() => {
        const env = new Map<string, TF.Tensor>([[inputName, tf.transpose(input, [0, 2, 3, 1])]]);
        for (const step of steps) step(env);
        const result = env.get(output)!;
        return result.rank === 4 ? tf.transpose(result, [0, 3, 1, 2]) : result;
      });
    },
    dispose() {
      for (const t of weights) t.dispose();
    },
  };
}
