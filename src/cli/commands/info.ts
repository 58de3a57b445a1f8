/**
 * `mobilenet-v2 info [--model M] [--size S|HxW] [--json] [--layers]`: what a checkpoint is — class,
 * config, parameter count, the processor's input size — and its multiply-accumulates at a size.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { isHeadKey, parameterSpecs } from '../../model/architecture.js';
import { isBuffer } from '../../model/layers.js';
import type { AnyMobileNetV2Model } from '../../model/modeling_mobilenet_v2.js';
import { numel } from '../../tensor.js';
import { addModelOptions, modelName, withPipeline, type ModelFlags } from '../support/command_helpers.js';
import { countMacs, type MacCount } from '../../model/model_summary.js';

interface InfoFlags extends ModelFlags {
  size?: [number, number];
  json?: boolean;
  layers?: boolean;
}

/** Parses `N` (square) or `HxW`. */
function parseSize(value: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(value.trim());
  const size: [number, number] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [0, 0];
  if (!(size[0] > 0 && size[1] > 0)) throw new InvalidArgumentError('must be N or HEIGHTxWIDTH with positive integers.');
  return size;
}

/** Parameters of the heads (classifier / DeepLabV3 head); the rest is the backbone. */
function headParameters(model: AnyMobileNetV2Model): number {
  return parameterSpecs(model.config, model.architecture)
    .filter((p) => isHeadKey(p.key) && !isBuffer(p.key))
    .reduce((n, p) => n + numel(p.shape), 0);
}

const thousands = (n: number): string => n.toLocaleString('en-US');
const millions = (n: number): string => `${(n / 1e6).toFixed(1)} M`;

function formatText(model: string, m: AnyMobileNetV2Model, input: string, size: [number, number], macs: MacCount, layers: boolean): string {
  const c = m.config;
  const total = m.numParameters();
  const head = headParameters(m);
  const lines = [
    `model:        ${model}`,
    `architecture: ${m.architecture}`,
    `config:       depth multiplier ${c.depthMultiplier}, output stride ${c.outputStride}, image size ${c.imageSize}, ` +
      `${c.numLabels} labels, ${c.hiddenAct}, tf_padding ${c.tfPadding}`,
    `parameters:   ${thousands(total)} (backbone ${thousands(total - head)}, head ${thousands(head)})`,
    `input:        ${input}`,
    `MACs:         ${millions(macs.total)} at ${size[0]}x${size[1]}`,
  ];
  if (m.loadReport.missingKeys.length) lines.push(`note:         ${m.loadReport.missingKeys.length} parameters absent from the checkpoint were initialised (e.g. ${m.loadReport.missingKeys[0]})`);
  if (layers) {
    const width = Math.max(...macs.layers.map((l) => l.name.length));
    for (const l of macs.layers) lines.push(`  ${l.name.padEnd(width)}  ${`[${l.output.join(', ')}]`.padEnd(16)}  ${thousands(l.macs).padStart(12)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Registers the `info` command. */
export function register(program: Command): void {
  const command = program.command('info').description("show a model's class, config, parameter count and multiply-accumulates (MACs) at an input size");
  addModelOptions(command, 'the shipped mobilenet_v2_1.0_224_quant classifier');
  command
    .option('--size <size>', "input size for the MACs: N or HEIGHTxWIDTH (default: the processor's crop size)", parseSize)
    .option('--layers', 'also list every layer with its output shape and MACs')
    .option('--json', 'print everything as one JSON object')
    .action(async (flags: InfoFlags) => {
      // Feature extraction accepts every model class, so any checkpoint can be described.
      await withPipeline('image-feature-extraction', flags, async ({ model, processor }) => {
        const crop = processor.settings.cropSize;
        const size = flags.size ?? [crop.height, crop.width];
        const macs = countMacs(model.config, model.architecture, size[0], size[1]);
        const name = modelName('image-feature-extraction', flags);
        if (flags.json) {
          const [total, head] = [model.numParameters(), headParameters(model)];
          process.stdout.write(`${JSON.stringify({
            model: name,
            architecture: model.architecture,
            config: model.config.toJSON(),
            preprocessor: JSON.parse(processor.toJsonString()) as unknown,
            parameters: { total, backbone: total - head, head },
            macs: { height: size[0], width: size[1], total: macs.total, ...(flags.layers ? { layers: macs.layers } : {}) },
            initialised: model.loadReport.missingKeys,
          }, null, 2)}\n`);
          return;
        }
        const s = processor.settings;
        const resize = !s.doResize ? 'no resize' : 'shortestEdge' in s.size ? `resize to shortest edge ${s.size.shortestEdge}` : `resize to ${s.size.height}x${s.size.width}`;
        const input = `${resize}${s.doCenterCrop ? `, centre crop ${crop.height}x${crop.width}` : ''}`;
        process.stdout.write(formatText(name, model, input, size, macs, flags.layers ?? false));
      });
    });
}
