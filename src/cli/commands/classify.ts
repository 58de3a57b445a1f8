/**
 * `mobilenet-v2 classify [--model M] [--top-k K] [--json] IMAGES|DIRS...`: the best classes of
 * each image, with the shipped ImageNet classifier unless `--model` names another.
 */
import type { Command } from 'commander';
import {
  addImageCommand, imageFiles, JsonStream, positiveInteger, processFiles, withPipeline, type BatchFlags,
} from '../support/command_helpers.js';
import { DEFAULT_TOP_K, type ClassificationResult } from '../../pipelines/image_classification.js';
import { classificationJson } from '../../pipelines/result_json.js';

interface ClassifyFlags extends BatchFlags {
  topK: number;
  json?: boolean;
}

/** Text form: the file, then one line per class: probability, class index, label. */
function formatText(file: string, predictions: readonly ClassificationResult[]): string {
  const lines = predictions.map((p) => `  ${(p.score * 100).toFixed(1).padStart(5)}%  ${String(p.index).padStart(4)}  ${p.label}`);
  return `${file}\n${lines.join('\n')}\n`;
}

/** Registers the `classify` command. */
export function register(program: Command): void {
  addImageCommand(program, 'classify', 'classify images: the top-k classes and their probabilities', 'the shipped mobilenet_v2_1.0_224_quant ImageNet classifier')
    .option('-k, --top-k <k>', 'classes to show per image', positiveInteger, DEFAULT_TOP_K)
    .option('--json', 'print {"file","predictions":[{"index","label","score"}]} per image (an array for several images or a folder)')
    .action(async (args: string[], flags: ClassifyFlags, cmd: Command) => {
      const { files, several } = await imageFiles(args);
      const json = flags.json ? new JsonStream(several) : null;
      await withPipeline('image-classification', { ...flags, worker: files.length > 1 }, (classifier) => processFiles(cmd, flags, files, json, classifier,
        (images) => classifier.run(images, { topK: flags.topK }),
        (file, _image, predictions) => {
          if (json) json.write({ file, ...classificationJson(predictions) });
          else process.stdout.write(formatText(file, predictions));
        }));
    });
}
