/**
 * `mobilenet-v2 preprocess`: run the image processor on image files, each on its own (as the
 * reference fixtures do), and write `pixel_values.N` (float32 CHW) and, with segmentation maps,
 * `labels.N` (int64 HW) to a safetensors file — the inputs transformers would compute.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { check, MobileNetV2Error } from '../../errors.js';
import { checkOutputFile, writeFileAtomic } from '../../node/write_folder.js';
import { loadImage, loadSegmentationMap } from '../../processing/image_io_node.js';
import { MobileNetV2ImageProcessor } from '../../processing/processor.js';
import { formatShape, type Tensor } from '../../tensor.js';
import { serializeSafetensors } from '../../weights/safetensors.js';

interface PreprocessFlags {
  processor?: string;
  model?: string;
  segmentationMaps?: string[];
  output: string;
  resized?: boolean;
}

/** The processor from `--processor FILE` or `--model DIR` (its preprocessor_config.json). */
async function processorFrom(flags: PreprocessFlags): Promise<MobileNetV2ImageProcessor> {
  check((flags.processor === undefined) !== (flags.model === undefined), 'give exactly one of --processor <preprocessor_config.json> and --model <dir>');
  const path = flags.processor ?? join(flags.model!, 'preprocessor_config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MobileNetV2Error(code === 'ENOENT' ? `${path}: processor config not found` : `${path}: cannot read (${(err as Error).message})`, { code: 'E_FILE_NOT_FOUND', cause: err });
  }
  return MobileNetV2ImageProcessor.fromJsonText(text, path);
}

/** Registers the `preprocess` command. */
export function register(program: Command): void {
  program
    .command('preprocess')
    .description('turn images (and segmentation maps) into pixel_values / labels exactly as transformers\' MobileNetV2ImageProcessor does')
    .argument('<images...>', 'image files (JPEG, PNG, WebP, GIF, TIFF, BMP)')
    .option('--processor <file>', 'preprocessor_config.json to use')
    .option('--model <dir>', 'model folder whose preprocessor_config.json to use')
    .option('--segmentation-maps <maps...>', 'one segmentation map per image (palette or grey PNG/BMP)')
    .option('--resized', 'also write resized_u8.N, the 8-bit image after resizing and before cropping')
    .requiredOption('-o, --output <file.safetensors>', 'safetensors file to write')
    .action(async (images: string[], flags: PreprocessFlags) => {
      await checkOutputFile(flags.output);
      const processor = await processorFrom(flags);
      const maps = flags.segmentationMaps ?? [];
      check(maps.length === 0 || maps.length === images.length, `got ${images.length} image(s) but ${maps.length} segmentation map(s); give one map per image`);
      const tensors: Array<[string, Tensor]> = [];
      for (const [i, path] of images.entries()) {
        const result = processor.preprocessImage(await loadImage(path), undefined, { keepResized: flags.resized, name: path });
        tensors.push([`pixel_values.${i}`, result.pixelValues]);
        if (result.resized) {
          const { data, height, width, channels } = result.resized;
          tensors.push([`resized_u8.${i}`, { dtype: 'uint8', shape: [height, width, channels], data }]);
        }
        if (maps[i] !== undefined) tensors.push([`labels.${i}`, processor.preprocessSegmentationMap(await loadSegmentationMap(maps[i]), undefined, maps[i])]);
      }
      await writeFileAtomic(flags.output, serializeSafetensors(tensors));
      const shapes = [...new Set(tensors.filter(([name]) => name.startsWith('pixel_values')).map(([, t]) => formatShape(t.shape)))];
      process.stdout.write(`wrote pixel_values for ${images.length} image(s) (${shapes.join(', ')})${maps.length ? ' and labels' : ''} to ${flags.output}\n`);
    });
}
