/**
 * `mobilenet-v2 forward`: run a checkpoint on tensors from a safetensors file and write every
 * output under transformers' names — the bridge for comparing with Python numbers.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { PROBLEM_TYPES, type ProblemType } from '../../config/configuration_mobilenet_v2.js';
import { check, MobileNetV2Error } from '../../errors.js';
import { loadPretrained, MobileNetV2Model, type AnyMobileNetV2Model, type ModelOutput } from '../../model/modeling_mobilenet_v2.js';
import { postProcessSemanticSegmentation } from '../../model/post_processing.js';
import { checkOutputFile, writeFileAtomic } from '../../node/write_folder.js';
import '../../node/setup.js';
import type { Float32Tensor, Tensor } from '../../tensor.js';
import { toFloat32 } from '../../weights/dtype.js';
import { parseSafetensors, serializeSafetensors } from '../../weights/safetensors.js';

interface ForwardFlags {
  model: string;
  inputs: string;
  output: string;
  hiddenStates?: boolean;
  inputName: string;
  targetSizes?: string;
  problemType: string[];
  debug?: boolean;
}

/** Parses `HxW,HxW,...`. */
function parseTargetSizes(text: string): Array<[number, number]> {
  return text.split(',').map((item) => {
    const m = /^(\d+)x(\d+)$/.exec(item.trim());
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new MobileNetV2Error(`--target-sizes: "${item}" is not HEIGHTxWIDTH`);
    return [Number(m[1]), Number(m[2])];
  });
}

/** Parses `--problem-type [VARIANT=]TYPE` entries into variant → type ('' = every variant). */
function parseProblemTypes(entries: readonly string[]): Map<string, ProblemType> {
  const map = new Map<string, ProblemType>();
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const [variant, type] = eq < 0 ? ['', entry] : [entry.slice(0, eq), entry.slice(eq + 1)];
    check((PROBLEM_TYPES as readonly string[]).includes(type), `--problem-type: "${type}" is not one of ${PROBLEM_TYPES.join(', ')}`);
    map.set(variant, type as ProblemType);
  }
  return map;
}

/** Pixel values as a float32 NCHW tensor (a 3-D CHW tensor gets a batch dimension). */
function asBatch(name: string, t: Tensor): Float32Tensor {
  check(t.dtype.startsWith('float') || t.dtype.startsWith('bfloat'), `input "${name}" has dtype ${t.dtype}; pixel values must be floating point`);
  const shape = t.shape.length === 3 ? [1, ...t.shape] : [...t.shape];
  return { dtype: 'float32', shape, data: toFloat32(t) };
}

/** Every output tensor of one run, under transformers' names with the input's suffix (`.N`, `@TAG`). */
function namedOutputs(output: ModelOutput, suffix: string): Array<[string, Tensor]> {
  const named: Array<[string, Tensor | undefined]> = [
    ['logits', output.logits], ['last_hidden_state', output.lastHiddenState], ['pooler_output', output.poolerOutput],
    ...(output.hiddenStates ?? []).map((t, i): [string, Tensor] => [`hidden_states.${i}`, t]),
    ...Object.entries(output.debug ?? {}),
  ];
  return named.filter((e): e is [string, Tensor] => e[1] !== undefined).map(([k, t]) => [k + suffix, t]);
}

async function runInput(
  model: AnyMobileNetV2Model, inputs: Map<string, Tensor>, name: string, suffix: string, flags: ForwardFlags,
  problemTypes: Map<string, ProblemType>, out: Map<string, Tensor>,
): Promise<void> {
  const pixelValues = asBatch(name + suffix, inputs.get(name + suffix)!);
  const isSeg = model.architecture === 'MobileNetV2ForSemanticSegmentation';
  const output = await model.forward(pixelValues, { outputHiddenStates: flags.hiddenStates ?? false, ...(isSeg ? { debug: flags.debug ?? false } : {}) });
  for (const [k, t] of namedOutputs(output, suffix)) out.set(k, t);

  // model.loss leaves the config as loaded, so each labels variant starts from it.
  const loadedProblemType = model.config.problemType;
  for (const [key, labels] of inputs) {
    const m = /^labels(?:_(.+?))?((?:\.\d+)?(?:@.+)?)$/.exec(key);
    if (!m || (m[2] ?? '') !== suffix || model instanceof MobileNetV2Model) continue;
    const variant = m[1] ?? '';
    const problemType = problemTypes.get(variant) ?? problemTypes.get('') ?? loadedProblemType ?? undefined;
    const loss = model.loss(output.logits!, asLabelBatch(labels, pixelValues), problemType);
    out.set(`loss${variant ? `_${variant}` : ''}${suffix}`, { dtype: 'float32', shape: [], data: new Float32Array([loss]) });
  }
  if (isSeg) {
    postProcessSemanticSegmentation(output).forEach((t, i) => out.set(`post_processed_no_target.${i}${suffix}`, t));
    if (flags.targetSizes) {
      postProcessSemanticSegmentation(output, parseTargetSizes(flags.targetSizes)).forEach((t, i) => out.set(`post_processed.${i}${suffix}`, t));
    }
  }
}

/** Labels with a batch dimension when the pixel values had none (`preprocess` writes `labels.N` as HW). */
function asLabelBatch(labels: Tensor, pixelValues: Float32Tensor): Tensor {
  return labels.shape.length === pixelValues.shape.length - 2 ? { ...labels, shape: [1, ...labels.shape] } : labels;
}

async function forward(flags: ForwardFlags): Promise<void> {
  await checkOutputFile(flags.output);
  const problemTypes = parseProblemTypes(flags.problemType);
  const inputBytes = await readFile(flags.inputs).catch((err: NodeJS.ErrnoException) => {
    throw new MobileNetV2Error(`${flags.inputs}: cannot read inputs (${err.code ?? err.message})`, { code: 'E_FILE_NOT_FOUND', cause: err });
  });
  const inputs = parseSafetensors(inputBytes, flags.inputs).tensors;
  // `NAME`, `NAME@TAG`, and `preprocess`'s `NAME.N` (one image, CHW), each run on its own.
  const pattern = new RegExp(`^${flags.inputName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}((?:\\.\\d+)?(?:@.+)?)$`);
  const suffixes = [...inputs.keys()].map((k) => pattern.exec(k)).filter((m) => m !== null).map((m) => m[1]!);
  check(suffixes.length > 0, `${flags.inputs}: no tensor named "${flags.inputName}", "${flags.inputName}.N" or "${flags.inputName}@TAG" (found: ${[...inputs.keys()].join(', ')})`);
  const model = await loadPretrained(flags.model);
  try {
    const out = new Map<string, Tensor>();
    for (const suffix of suffixes) await runInput(model, inputs, flags.inputName, suffix, flags, problemTypes, out);
    await writeFileAtomic(flags.output, serializeSafetensors(out, { format: 'pt' }));
    process.stdout.write(`wrote ${out.size} tensors from ${suffixes.length} input(s) to ${flags.output}\n`);
  } finally {
    await model.dispose();
  }
}

/** Registers `forward`. */
export function register(program: Command): void {
  program
    .command('forward')
    .description('run a model on tensors from a safetensors file and write its outputs (transformers names)')
    .requiredOption('--model <dir>', 'model folder or hub id (class from config.json "architectures")')
    .requiredOption('--inputs <file>', 'safetensors with pixel_values[@TAG] (NCHW or CHW) and optional labels[_VARIANT][@TAG]')
    .requiredOption('--output <file>', 'safetensors file to write')
    .option('--hidden-states', 'also write hidden_states.0 … hidden_states.15')
    .option('--input-name <name>', 'name of the pixel tensor', 'pixel_values')
    .option('--target-sizes <HxW,...>', 'segmentation: write post_processed.N resized to these sizes')
    .option('--problem-type <[VARIANT=]TYPE>', 'problem_type for one labels variant or all (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--debug', 'segmentation: also write the head intermediates (debug.*)')
    .action(async (flags: ForwardFlags) => forward(flags));
}
