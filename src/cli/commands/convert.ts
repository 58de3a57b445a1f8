/**
 * `mobilenet-v2 convert <model.tflite> --output <dir>`: turns one of Google's MobileNetV2 or
 * DeepLabV3 TFLite releases (float or quantized) into a transformers checkpoint folder.
 */
import type { Command } from 'commander';
import { convertTfliteFile } from '../../weights/tflite/convert_node.js';
import { QUANTIZATION_METADATA_KEY } from '../../quantization/record.js';

interface ConvertFlags {
  output: string;
  overwrite?: boolean;
}

/** Registers the `convert` command. */
export function register(program: Command): void {
  program
    .command('convert')
    .description('convert a MobileNetV2 classifier or DeepLabV3 + MobileNetV2 segmenter from TFLite (float, uint8 or int8) into a transformers checkpoint folder')
    .argument('<model.tflite>', 'the TFLite model file')
    .requiredOption('-o, --output <dir>', 'checkpoint folder to write (config.json, model.safetensors, preprocessor_config.json)')
    .option('--overwrite', 'write into a folder that already has files')
    .action(async (input: string, flags: ConvertFlags) => {
      const { converted, files } = await convertTfliteFile(input, flags.output, { overwrite: flags.overwrite });
      process.stdout.write(`${converted.description}\n`);
      if (converted.quantization) {
        process.stdout.write(`quantization: scales and zero points recorded in model.safetensors metadata "${QUANTIZATION_METADATA_KEY}"\n`);
      }
      process.stdout.write(`wrote ${files.join(', ')} to ${flags.output}\n`);
    });
}
