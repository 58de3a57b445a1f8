/**
 * `mobilenet-v2 embed [--model M] --output FILE IMAGES|DIRS...`: one embedding per image, saved as
 * safetensors (`embeddings` [N, C] float32, the files in the metadata) or JSON.
 */
import { extname } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { MobileNetV2Error } from '../../errors.js';
import { checkOutputFile, writeFileAtomic } from '../../node/write_folder.js';
import {
  addImageCommand, imageFiles, modelName, parseBlockIndex, processFiles, withPipeline, type BatchFlags,
} from '../support/command_helpers.js';
import { embeddingJson } from '../../pipelines/result_json.js';
import { float32Tensor } from '../../tensor.js';
import { serializeSafetensors } from '../../weights/safetensors.js';

type Format = 'safetensors' | 'json';

interface EmbedFlags extends BatchFlags {
  output: string;
  format?: Format;
  outIndex?: number;
}

function parseFormat(value: string): Format {
  if (value !== 'safetensors' && value !== 'json') throw new InvalidArgumentError('must be safetensors or json.');
  return value;
}

/** What the output file records besides the vectors. */
interface EmbeddingSet {
  files: string[];
  vectors: Float32Array[];
  dim: number;
  model: string;
  layer: string;
}

/** safetensors: tensor `embeddings` [N, C]; metadata `files` (JSON list, row order), `model`, `layer`. */
function toSafetensors(set: EmbeddingSet): Uint8Array {
  const data = new Float32Array(set.vectors.length * set.dim);
  set.vectors.forEach((v, i) => data.set(v, i * set.dim));
  const embeddings = float32Tensor(data, [set.vectors.length, set.dim]);
  return serializeSafetensors(new Map([['embeddings', embeddings]]), { files: JSON.stringify(set.files), model: set.model, layer: set.layer });
}

/** JSON: `{"model","layer","dim","embeddings":[{"file","embedding":[...]}]}`. */
function toJson(set: EmbeddingSet): string {
  const embeddings = set.files.map((file, i) => ({ file, ...embeddingJson(set.vectors[i]!) }));
  return `${JSON.stringify({ model: set.model, layer: set.layer, dim: set.dim, embeddings })}\n`;
}

/** Registers the `embed` command. */
export function register(program: Command): void {
  addImageCommand(program, 'embed', 'compute one embedding per image (the pooled features of the last layer, or of a chosen block) and save them to a file', 'the shipped mobilenet_v2_1.0_224_quant classifier')
    .requiredOption('-o, --output <file>', 'file to write: safetensors (tensor "embeddings" [N, C], metadata "files") or JSON')
    .option('--format <format>', 'safetensors or json (default: json for a .json file, else safetensors)', parseFormat)
    .option('--out-index <k>', 'embed the output of block k (0..15) instead of the last layer, averaged over positions', parseBlockIndex)
    .action(async (args: string[], flags: EmbedFlags, cmd: Command) => {
      const format: Format = flags.format ?? (extname(flags.output).toLowerCase() === '.json' ? 'json' : 'safetensors');
      await checkOutputFile(flags.output);
      const { files } = await imageFiles(args);
      const set: EmbeddingSet = {
        files: [], vectors: [], dim: 0,
        model: modelName('image-feature-extraction', flags),
        layer: flags.outIndex === undefined ? 'pooled last layer' : `pooled layer.${flags.outIndex}`,
      };
      const { failed } = await withPipeline('image-feature-extraction', { ...flags, worker: files.length > 1 }, (extractor) => processFiles(cmd, flags, files, null, extractor,
        async (images) => (await extractor.run(images, flags.outIndex === undefined ? {} : { outIndex: flags.outIndex })).map((t) => t.data),
        (file, _image, vector) => {
          set.files.push(file);
          set.vectors.push(vector);
          set.dim = vector.length;
        }));
      if (set.files.length === 0) throw new MobileNetV2Error(`no image could be embedded; ${flags.output} not written`, { code: 'E_IMAGE_DECODE' });
      await writeFileAtomic(flags.output, format === 'json' ? toJson(set) : toSafetensors(set));
      const failures = failed > 0 ? ` (${failed} of ${files.length} images failed)` : '';
      process.stdout.write(`wrote ${set.files.length} embeddings of ${set.dim} floats (${set.layer}, ${format}) to ${flags.output}${failures}\n`);
    });
}
