/**
 * `mobilenet-v2 convert <model.tflite> --output <dir> [--dtype float16]`: turns one of Google's
 * MobileNetV2 or DeepLabV3 TFLite releases (float or quantized) into a transformers checkpoint folder.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { STORAGE_DTYPES, type StorageDType } from '../../weights/dtype.js';
import { convertTfliteFile } from '../../convert/tflite/convert_node.js';
import { QUANTIZATION_METADATA_KEY } from '../../quantization/record.js';

interface ConvertFlags {
  output: string;
  overwrite?: boolean;
  dtype?: StorageDType;
}

/** A commander parser for `--dtype`. */
function storageDType(value: string): StorageDType {
  const dtype = STORAGE_DTYPES.find((d) => d === value);
  if (!dtype) throw new InvalidArgumentError(`must be ${STORAGE_DTYPES.join(' or ')}.`);
  return dtype;
}

/** Registers the `convert` command. */
export function register(program: Command): void {
  program
    .command('convert')
    .description('convert a MobileNetV2 classifier or DeepLabV3 + MobileNetV2 segmenter from TFLite (float, uint8 or int8) into a transformers checkpoint folder')
    .argument('<model.tflite>', 'the TFLite model file')
    .requiredOption('-o, --output <dir>', 'checkpoint folder to write (config.json, model.safetensors, preprocessor_config.json)')
    .option('--overwrite', 'write into a folder that already has files')
    .option('--dtype <dtype>', 'float32 (default), or float16 for half-size weights (1-D tensors stay float32)', storageDType)
    .action(async (input: string, flags: ConvertFlags) => {
      const { converted, files } = await convertTfliteFile(input, flags.output, { overwrite: flags.overwrite, dtype: flags.dtype });
      process.stdout.write(`${converted.description}\n`);
      if (converted.quantization) {
        process.stdout.write(`quantization: scales and zero points recorded in model.safetensors metadata "${QUANTIZATION_METADATA_KEY}"\n`);
      }
      process.stdout.write(`wrote ${files.join(', ')} to ${flags.output}\n`);
    });
}
