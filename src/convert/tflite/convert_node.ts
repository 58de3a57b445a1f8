/**
 * Node side of the TFLite importer: reads a `.tflite` file and writes the converted transformers
 * checkpoint folder (config.json, model.safetensors, preprocessor_config.json). Files are staged in
 * a temporary folder and renamed into place, so a failed conversion leaves no partial checkpoint.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { MobileNetV2Error } from '../../errors.js';
import { writeFolder } from '../../node/write_folder.js';
import type { SaveOptions } from '../../model/saving.js';
import { checkpointFiles, importTflite, type TfliteImport } from './importer.js';

/** Options of {@link convertTfliteFile}. */
export interface ConvertOptions extends SaveOptions {
  /** Allow writing into a folder that already has files (ours are replaced, others kept). */
  readonly overwrite?: boolean;
}

/** What {@link convertTfliteFile} did. */
export interface ConvertResult {
  /** The conversion (config, state dict, quantization record, description). */
  readonly converted: TfliteImport;
  /** Names of the files written into the output folder. */
  readonly files: readonly string[];
}

async function folderEntries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new MobileNetV2Error(`cannot use output folder ${dir}: ${(err as Error).message}`);
  }
}

/**
 * Converts `input` (a `.tflite` file) into a checkpoint folder `outputDir` that transformers'
 * and this library's `fromPretrained` load.
 *
 * @throws MobileNetV2Error when the input cannot be read or converted, or `outputDir` already has
 *   files and `overwrite` is not set; nothing is written then.
 */
export async function convertTfliteFile(input: string, outputDir: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(input);
  } catch (err) {
    throw new MobileNetV2Error(`cannot read ${input}: ${(err as Error).message}`);
  }
  const converted = importTflite(bytes, basename(input));
  const existing = await folderEntries(outputDir);
  if (existing.length > 0 && !options.overwrite) {
    throw new MobileNetV2Error(`output folder ${outputDir} is not empty (has ${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}); pass --overwrite to write into it`);
  }
  const files = checkpointFiles(converted, options);
  await writeFolder(outputDir, files);
  return { converted, files: Object.keys(files) };
}
