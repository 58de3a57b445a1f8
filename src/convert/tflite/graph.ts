/**
 * Recognises a MobileNetV2 classifier or DeepLabV3 + MobileNetV2 segmenter in a TFLite graph: every
 * convolution is assigned to its transformers module by name (names.ts), and the wiring between them
 * is checked against transformers' module tree — stem → 16 inverted residuals (with their residual
 * ADDs) → conv_1x1 → pooling → classifier, or block 15 → [image pooling, ASPP] → concat → projection
 * → classifier. Anything else is rejected with an "unsupported model" error that says what was found.
 */
import { quote } from '../../describe.js';
import { MobileNetV2Error, check } from '../../errors.js';
import { formatShape } from '../../tensor.js';
import { moduleOfWeight, type NamingScheme } from './names.js';
import type { TfliteModel, TfliteOperator, TfliteTensor } from './reader.js';

/** A convolution of the file, assigned to its transformers module. */
export interface ConvNode {
  /** Module path without the `mobilenet_v2.` prefix, e.g. `layer.3.conv_3x3`. */
  readonly module: string;
  /** The CONV_2D or DEPTHWISE_CONV_2D operator. */
  readonly op: TfliteOperator;
  /** True for DEPTHWISE_CONV_2D. */
  readonly depthwise: boolean;
  /** The activation the conv reads. */
  readonly input: TfliteTensor;
  /** Constant weights: OHWI (CONV_2D) or 1HWC (DEPTHWISE_CONV_2D). */
  readonly weight: TfliteTensor;
  /** Constant bias (BatchNorm folded in), when the op has one. */
  readonly bias: TfliteTensor | undefined;
  /** The activation the conv writes (after its fused activation function). */
  readonly output: TfliteTensor;
}

/** A non-convolution node whose activations matter for integer execution (residual add, pooling, …). */
export interface AuxNode {
  /** transformers module path without prefix (`layer.3`, `pooler`, `segmentation_head.avg_pool`, …). */
  readonly name: string;
  /** The tensors it reads (constants included). */
  readonly inputs: readonly TfliteTensor[];
  /** The tensor it writes. */
  readonly output: TfliteTensor;
}

/** A recognised MobileNetV2 graph. */
export interface MobileNetV2Graph {
  /** Classifier (MobileNetV2ForImageClassification) or DeepLab segmenter (MobileNetV2ForSemanticSegmentation). */
  readonly task: 'classification' | 'segmentation';
  /** Naming scheme of the backbone. */
  readonly scheme: NamingScheme;
  /** The graph's image input, NHWC `[1, H, W, C]`. */
  readonly input: TfliteTensor;
  /** The graph's first output (softmax probabilities, or DeepLab's per-pixel classes). */
  readonly output: TfliteTensor;
  /** Convolutions by module path. DeepLab files have no `conv_1x1`. */
  readonly convs: ReadonlyMap<string, ConvNode>;
  /** Blocks (0..15) whose output is a residual ADD. */
  readonly residualBlocks: ReadonlySet<number>;
  /** Residual adds, pooling, upsampling and concatenation, in graph order. */
  readonly auxNodes: readonly AuxNode[];
}

/** Ops a recognised graph may contain; the checks below pin down where each may sit. */
const KNOWN_OPS = new Set([
  'CONV_2D', 'DEPTHWISE_CONV_2D', 'ADD', 'AVERAGE_POOL_2D', 'MEAN', 'RESHAPE', 'SQUEEZE', 'SOFTMAX',
  'QUANTIZE', 'DEQUANTIZE', 'RESIZE_BILINEAR', 'CONCATENATION', 'ARG_MAX',
]);
/** Ops that only change a tensor's representation (requantize, reshape), skipped when tracing wiring. */
const PASS_THROUGH = new Set(['QUANTIZE', 'DEQUANTIZE', 'RESHAPE', 'SQUEEZE']);

/** The op order of the backbone as transformers runs it. */
const BACKBONE_MODULES: readonly string[] = [
  'conv_stem.first_conv', 'conv_stem.conv_3x3', 'conv_stem.reduce_1x1',
  ...Array.from({ length: 16 }, (_, i) => ['expand_1x1', 'conv_3x3', 'reduce_1x1'].map((l) => `layer.${i}.${l}`)).flat(),
];
const SEGMENTATION_HEAD = ['conv_pool', 'conv_aspp', 'conv_projection', 'classifier'].map((m) => `segmentation_head.${m}`);

function unsupported(source: string, why: string): MobileNetV2Error {
  return new MobileNetV2Error(
    `${source}: unsupported model: not a MobileNetV2 classifier or DeepLabV3 + MobileNetV2 segmenter (${why})`,
    { code: 'E_CHECKPOINT_MISMATCH' },
  );
}

/** Throws `E_CHECKPOINT_MISMATCH` ("unsupported model") with `message` unless `condition` holds. */
export function checkSupported(condition: unknown, message: () => string): asserts condition {
  check(condition, message, 'E_CHECKPOINT_MISMATCH');
}

/** `CONV_2D ×36, ADD ×10, …`: what a graph consists of, for error messages. */
function opCensus(model: TfliteModel): string {
  const counts = new Map<string, number>();
  for (const op of model.operators) counts.set(op.op, (counts.get(op.op) ?? 0) + 1);
  return [...counts].map(([op, n]) => `${op} ×${n}`).join(', ') || 'no operators';
}

/** Tracing of the graph's wiring: which op produced a tensor, looking through pass-through ops. */
class Wiring {
  private readonly producers = new Map<number, TfliteOperator>();

  constructor(private readonly model: TfliteModel) {
    for (const op of model.operators) for (const t of op.outputs) this.producers.set(t, op);
  }

  /** The op that computed `tensor`'s values (`undefined` for a graph input or constant). */
  origin(tensor: number): TfliteOperator | undefined {
    return this.producers.get(this.root(tensor));
  }

  /**
   * The tensor `tensor` is a requantized/reshaped copy of (itself if it is not one). Ends: the reader
   * guarantees that every operator reads only what earlier operators wrote, so each step goes back.
   */
  root(tensor: number): number {
    let op = this.producers.get(tensor);
    for (let steps = 0; op && PASS_THROUGH.has(op.op); steps++) {
      check(steps < this.model.operators.length, `the walk back from tensor ${tensor} does not end`, 'E_INTERNAL');
      tensor = op.inputs[0]!;
      op = this.producers.get(tensor);
    }
    return tensor;
  }

  /** Ops of kind `kind` reading (through pass-through ops) the values `producer` computed. */
  consumers(producer: TfliteOperator, kind: string): TfliteOperator[] {
    return this.model.operators.filter((op) => op.op === kind && op.inputs.some((t) => t >= 0 && this.origin(t) === producer));
  }

  describe(op: TfliteOperator | undefined): string {
    if (!op) return 'the graph input';
    const name = this.model.tensors[op.outputs[0]!]?.name.split(';')[0];
    return `${op.op} #${op.index}${name ? ` ("${name}")` : ''}`;
  }
}

/** Whether `op` has what the checks below read: one output, a first input, and a convolution's weights. */
function hasOperands(op: TfliteOperator): boolean {
  const needed = op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D' ? 2 : 1;
  return op.outputs.length === 1 && op.inputs.length >= needed && op.inputs.slice(0, needed).every((t) => t >= 0);
}

/** Assigns every convolution to a module; rejects unknown ops and convolutions with foreign names. */
function findConvs(model: TfliteModel, source: string): { convs: Map<string, ConvNode>; scheme: NamingScheme } {
  const convs = new Map<string, ConvNode>();
  const schemes = new Set<NamingScheme>();
  const foreign: string[] = [];
  for (const op of model.operators) {
    if (op.op !== 'CONV_2D' && op.op !== 'DEPTHWISE_CONV_2D') continue;
    const weight = model.tensors[op.inputs[1] ?? -1];
    const match = weight?.data ? moduleOfWeight(weight.name) : undefined;
    if (!match || !weight) {
      foreign.push(weight ? `"${weight.name.split(';')[0]}"` : `${op.op} #${op.index}`);
      continue;
    }
    checkSupported(!convs.has(match.module), () => `${source}: unsupported model: two convolutions map to ${match.module}`);
    if (match.scheme !== 'DeepLab') schemes.add(match.scheme);
    const bias = op.inputs[2] !== undefined && op.inputs[2] >= 0 ? model.tensors[op.inputs[2]] : undefined;
    convs.set(match.module, {
      module: match.module, op, depthwise: op.op === 'DEPTHWISE_CONV_2D', weight, bias,
      input: model.tensors[op.inputs[0]!]!, output: model.tensors[op.outputs[0]!]!,
    });
  }
  const unknownOps = [...new Set(model.operators.map((op) => op.op).filter((op) => !KNOWN_OPS.has(op)))];
  const malformed = model.operators.find((op) => KNOWN_OPS.has(op.op) && !hasOperands(op));
  checkSupported(malformed === undefined, () => `${source}: unsupported model: ${malformed!.op} #${malformed!.index} has ${malformed!.inputs.length} inputs and ${malformed!.outputs.length} outputs`);
  if (convs.size === 0 || foreign.length > 0 || unknownOps.length > 0 || schemes.size !== 1) {
    const why = [`found ${opCensus(model)}`];
    if (unknownOps.length) why.push(`operators MobileNetV2 does not use: ${unknownOps.join(', ')}`);
    if (foreign.length) why.push(`convolutions whose weights match no MobileNetV2 layer name: ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}`);
    if (schemes.size > 1) why.push('layer names mix the TF-slim and Keras schemes');
    throw unsupported(source, why.join('; '));
  }
  return { convs, scheme: [...schemes][0]! };
}

/**
 * Finds the MobileNetV2 structure in `model` or throws {@link MobileNetV2Error} ("unsupported model")
 * explaining what does not fit.
 */
export function recogniseGraph(model: TfliteModel, source: string): MobileNetV2Graph {
  const { convs, scheme } = findConvs(model, source);
  const task = convs.has('segmentation_head.classifier') ? 'segmentation' : 'classification';
  const required = [...BACKBONE_MODULES, ...(task === 'segmentation' ? SEGMENTATION_HEAD : ['conv_1x1', 'classifier'])];
  const missing = required.filter((m) => !convs.has(m));
  if (missing.length) {
    throw unsupported(source, `found ${opCensus(model)}; missing layers: ${missing.slice(0, 6).join(', ')}${missing.length > 6 ? ', …' : ''}`);
  }
  checkSupported(model.inputs.length === 1, () => `${source}: unsupported model: ${model.inputs.length} graph inputs, MobileNetV2 has one image input`);
  const input = model.tensors[model.inputs[0]!]!;
  checkSupported(input.shape.length === 4 && input.shape[0] === 1,
    () => `${source}: unsupported model: input ${quote(input.name)} has shape ${formatShape(input.shape)}, expected NHWC [1, H, W, C]`);

  const wiring = new Wiring(model);
  const conv = (m: string): ConvNode => convs.get(m)!;
  const expectInput = (node: ConvNode, from: TfliteOperator | undefined, what: string): void => {
    const actual = wiring.origin(node.op.inputs[0]!);
    if (actual !== from || (!from && wiring.root(node.op.inputs[0]!) !== model.inputs[0])) {
      throw unsupported(source, `${node.module} reads ${wiring.describe(actual)}, but in MobileNetV2 it reads ${what}`);
    }
  };
  const auxNodes: AuxNode[] = [];
  const aux = (name: string, op: TfliteOperator): void => {
    auxNodes.push({ name, inputs: op.inputs.filter((t) => t >= 0).map((t) => model.tensors[t]!), output: model.tensors[op.outputs[0]!]! });
  };

  // Backbone: each conv reads the previous one; a block's output is its projection or the ADD of
  // projection and block input.
  expectInput(conv(BACKBONE_MODULES[0]!), undefined, 'the graph input');
  let previous = conv(BACKBONE_MODULES[0]!);
  let blockOutput: TfliteOperator = previous.op;
  const residualBlocks = new Set<number>();
  for (const module of BACKBONE_MODULES.slice(1)) {
    const node = conv(module);
    const startsBlock = module.endsWith('expand_1x1');
    expectInput(node, startsBlock ? blockOutput : previous.op, startsBlock ? 'the previous block\'s output' : previous.module);
    if (module.endsWith('reduce_1x1')) {
      const blockInput = module.startsWith('conv_stem') ? undefined : wiring.origin(conv(module.replace('reduce_1x1', 'expand_1x1')).op.inputs[0]!);
      const add = blockInput && wiring.consumers(node.op, 'ADD').find((op) => op.inputs.some((t) => wiring.origin(t) === blockInput));
      const index = Number(module.split('.')[1]);
      if (add) {
        residualBlocks.add(index);
        aux(`layer.${index}`, add);
      }
      blockOutput = add ?? node.op;
    }
    previous = node;
  }
  if (convs.has('conv_1x1')) expectInput(conv('conv_1x1'), blockOutput, 'the output of block 15');

  if (task === 'classification') {
    const pool = wiring.origin(conv('classifier').op.inputs[0]!);
    checkGlobalPool(model, pool, wiring, conv('conv_1x1').op, source, 'classifier');
    aux('pooler', pool);
  } else {
    const pool = wiring.origin(conv('segmentation_head.conv_pool').op.inputs[0]!);
    checkGlobalPool(model, pool, wiring, blockOutput, source, 'segmentation_head.conv_pool');
    aux('segmentation_head.avg_pool', pool);
    expectInput(conv('segmentation_head.conv_aspp'), blockOutput, 'the output of block 15');
    const concat = checkConcat(model, wiring, convs, source);
    aux('segmentation_head.upsample', wiring.origin(concat.inputs[0]!)!);
    aux('segmentation_head.concat', concat);
    expectInput(conv('segmentation_head.classifier'), conv('segmentation_head.conv_projection').op, 'segmentation_head.conv_projection');
  }
  checkSupported(model.outputs.length >= 1, () => `${source}: unsupported model: the graph has no output`);
  return { task, scheme, input, output: model.tensors[model.outputs[0]!]!, convs, residualBlocks, auxNodes };
}

/** Checks that `pool` averages all of `from`'s output (AVERAGE_POOL_2D over the full window, or MEAN over H, W). */
function checkGlobalPool(
  model: TfliteModel, pool: TfliteOperator | undefined, wiring: Wiring, from: TfliteOperator, source: string, reader: string,
): asserts pool is TfliteOperator {
  const ok = (() => {
    if (!pool || wiring.origin(pool.inputs[0]!) !== from) return false;
    const [, h, w] = model.tensors[pool.inputs[0]!]!.shape;
    const out = model.tensors[pool.outputs[0]!]!.shape;
    const oneByOne = out.length === 2 || (out[1] === 1 && out[2] === 1);
    if (pool.op === 'AVERAGE_POOL_2D') return oneByOne && pool.options.filterH === h && pool.options.filterW === w;
    if (pool.op !== 'MEAN') return false;
    const axes = model.tensors[pool.inputs[1]!]?.data;
    if (!axes || axes.length !== 8) return false;
    const view = new DataView(axes.buffer, axes.byteOffset, 8);
    return oneByOne && view.getInt32(0, true) === 1 && view.getInt32(4, true) === 2;
  })();
  if (!ok) {
    throw unsupported(source, `${reader} reads ${wiring.describe(pool)}, but in MobileNetV2 it reads a global average pool of ${wiring.describe(from)}`);
  }
}

/** Checks DeepLab's `concat([upsample(conv_pool), conv_aspp])` feeding the projection; returns the concat. */
function checkConcat(model: TfliteModel, wiring: Wiring, convs: ReadonlyMap<string, ConvNode>, source: string): TfliteOperator {
  const projection = convs.get('segmentation_head.conv_projection')!;
  const concat = wiring.origin(projection.op.inputs[0]!);
  const [first, second] = concat?.op === 'CONCATENATION' && concat.inputs.length === 2 ? concat.inputs.map((t) => wiring.origin(t)) : [];
  const axis = concat?.options.axis;
  const upsample = first?.op === 'RESIZE_BILINEAR' ? first : undefined;
  if (
    !concat || !upsample || (axis !== 3 && axis !== -1) ||
    wiring.origin(upsample.inputs[0]!) !== convs.get('segmentation_head.conv_pool')!.op ||
    second !== convs.get('segmentation_head.conv_aspp')!.op
  ) {
    throw unsupported(source,
      `segmentation_head.conv_projection reads ${wiring.describe(concat)}, but in MobileNetV2 it reads the channel concatenation of the upsampled image pooling and the ASPP branch`);
  }
  checkSupported(model.tensors[upsample.inputs[0]!]!.shape.slice(1, 3).every((d) => d === 1),
    () => `${source}: unsupported model: the image-pooling branch is not 1×1 before ${wiring.describe(upsample)}`);
  return concat;
}
