/**
 * `mobilenet-v2 export-onnx --model M --output model.onnx [--dtype int8] [--calibrate IMAGES...]`:
 * writes the model's ONNX graph (BatchNorm folded, dynamic batch and image size) for other
 * runtimes; with `--dtype int8` the integer QDQ graph.
 */
import type { Command } from 'commander';
import { MobileNetV2Error } from '../../errors.js';
import { resolveModelFiles } from '../../hub/resolve_node.js';
import { loadPretrained } from '../../model/modeling_mobilenet_v2.js';
import { addModelOptions, checkModelFlags, type ModelFlags } from '../support/command_helpers.js';
import { DEFAULT_CLASSIFIER } from '../../pipelines/default_models_node.js';
import { loadImageProcessor } from '../../pipelines/pipeline.js';
import { toRgb } from '../../processing/image.js';
import { loadImage } from '../../processing/image_io_node.js';
import { checkOutputFile, writeFileAtomic } from '../../node/write_folder.js';

interface ExportFlags extends ModelFlags {
  output: string;
  calibrate?: string[];
  overwrite?: boolean;
}

/** Registers the `export-onnx` command. */
export function register(program: Command): void {
  const command = program
    .command('export-onnx')
    .description('write the model as an ONNX graph (float32, or the integer QDQ graph with --dtype int8) for other runtimes');
  addModelOptions(command, 'the shipped mobilenet_v2_1.0_224_quant classifier')
    .requiredOption('-o, --output <file>', 'the .onnx file to write')
    .option('--overwrite', 'replace an existing output file')
    .option('--calibrate <images...>', 'int8 for a float checkpoint: measure activation ranges on these images (a few representative photos)')
    .action(async (flags: ExportFlags) => {
      checkModelFlags(flags);
      await checkOutputFile(flags.output, flags.overwrite ?? false);
      const files = await resolveModelFiles(flags.model ?? DEFAULT_CLASSIFIER, flags.revision !== undefined ? { revision: flags.revision } : {});
      const model = await loadPretrained(files, flags.threads !== undefined ? { threads: flags.threads } : {});
      const dtype = flags.dtype ?? 'fp32';
      try {
        if (flags.calibrate?.length) {
          if (dtype !== 'int8') throw new MobileNetV2Error('--calibrate only applies to --dtype int8');
          const processor = await loadImageProcessor(files);
          const pixelValues = [];
          for (const file of flags.calibrate) pixelValues.push(processor.preprocess([toRgb(await loadImage(file))]).pixelValues);
          await model.calibrate(pixelValues, { source: `${flags.calibrate.length} images` });
        }
        const bytes = await model.exportOnnx({}, dtype);
        await writeFileAtomic(flags.output, bytes);
        const how = dtype === 'int8' ? `int8 QDQ graph, quantization from ${model.quantization!.source}` : 'float32 graph';
        process.stdout.write(
          `wrote ${flags.output} (${model.architecture}, ${how}, ${(bytes.length / 1e6).toFixed(1)} MB): ` +
            'input pixel_values float32 [batch, channels, height, width]\n',
        );
      } finally {
        await model.dispose();
      }
    });
}
