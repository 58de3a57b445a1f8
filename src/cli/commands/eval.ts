/**
 * `mobilenet-v2 eval DATA_DIR --model DIR`: top-1/top-5, per-class accuracy and the confusion
 * matrix of a classifier on a folder of class subfolders; with `--masks DIR`, pixel accuracy and
 * IoU per class of a segmentation model on images and their VOC-palette masks.
 */
import type { Command } from 'commander';
import { failureLine } from '../support/batch_runner.js';
import { addModelOptions, positiveInteger, type ModelFlags } from '../support/command_helpers.js';
import { DEFAULT_BATCH_SIZE } from '../../pipelines/base.js';
import type { EvaluationResult, SegmentationEvaluation } from '../../training/metrics.js';
import { itemName } from '../../training/embeddings.js';
import { evaluateFolder, evaluateSegmentationFolders } from '../../training/train_node.js';
import { DEFAULT_CLASSIFIER } from '../../pipelines/default_models_node.js';

interface EvalFlags extends ModelFlags {
  masks?: string;
  batchSize: number;
  cache: boolean;
  json?: boolean;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function classificationText(r: EvaluationResult): string {
  const width = Math.max(...r.confusionLabels.map((l) => l.length), 5);
  const rows = r.classes.map((c, i) => `  ${c.label.padEnd(width)} ${pct(c.top1).padStart(6)}  ${String(c.images).padStart(5)} | ${r.confusion[i]!.map((n) => String(n).padStart(5)).join(' ')}`);
  return `${r.images} images: top-1 ${pct(r.top1)}, top-5 ${pct(r.top5)}\n`
    + `  ${'class'.padEnd(width)}  top-1 images | predicted: ${r.confusionLabels.join(', ')}\n${rows.join('\n')}\n`;
}

function segmentationText(r: SegmentationEvaluation): string {
  const rows = r.classes.map((c) => `  ${String(c.index).padStart(3)} ${c.label.padEnd(14)} IoU ${pct(c.iou).padStart(6)}  (${c.pixels} pixels)`);
  return `${r.images} images, ${r.pixels} pixels: pixel accuracy ${pct(r.pixelAccuracy)}, mIoU ${pct(r.meanIou)}\n${rows.join('\n')}\n`;
}

/** Registers the `eval` command. */
export function register(program: Command): void {
  const command = program.command('eval')
    .description('evaluate a classifier on a folder of class subfolders, or a segmentation model on images and masks (--masks)')
    .argument('<data-dir>', 'folder with one subfolder per class (names = labels of the model), or the images folder with --masks');
  addModelOptions(command, 'the shipped classifier, or the shipped segmenter with --masks')
    .option('--masks <dir>', 'segmentation masks (VOC palette PNGs named like the images, 255 = ignore); evaluates a segmentation model')
    .option('-b, --batch-size <n>', 'images per model run', positiveInteger, DEFAULT_BATCH_SIZE)
    .option('--no-cache', 'do not use the on-disk embedding cache')
    .option('--json', 'print {"images","top1","top5","classes":[{"label","images","top1"}],"confusion":[[...]],"confusionLabels"} (segmentation: {"pixelAccuracy","meanIou","classes":[{"index","label","pixels","iou"}]})')
    .action(async (dataDir: string, flags: EvalFlags) => {
      const session = { ...(flags.threads ? { threads: flags.threads } : {}), ...(flags.dtype ? { dtype: flags.dtype } : {}) };
      if (flags.masks !== undefined) {
        const r = await evaluateSegmentationFolders(dataDir, flags.masks, flags.model, session);
        process.stdout.write(flags.json ? `${JSON.stringify(r)}\n` : segmentationText(r));
        return;
      }
      let skipped = 0;
      const r = await evaluateFolder(dataDir, flags.model ?? DEFAULT_CLASSIFIER, {
        ...session, batchSize: flags.batchSize, cacheDir: flags.cache ? undefined : false,
        onSkip: (item, error) => {
          skipped++;
          process.stderr.write(failureLine(itemName(item), error));
        },
      });
      process.stdout.write(flags.json ? `${JSON.stringify(r)}\n` : classificationText(r));
      if (skipped > 0) process.exitCode = 1;
    });
}
