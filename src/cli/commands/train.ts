/**
 * `mobilenet-v2 train DATA_DIR --output DIR`: teach the model your own classes (one subfolder per
 * class) and save a transformers checkpoint folder with `training_report.json`.
 */
import cliProgress from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { failureLine } from '../support/batch_runner.js';
import { addModelOptions, positiveInteger, positiveNumber, type ModelFlags } from '../support/command_helpers.js';
import { FINE_TUNE_AUGMENT, FINE_TUNE_DEFAULTS } from '../../training/finetune.js';
import type { BatchNormMode } from '../../training/finetune_graph.js';
import { HEAD_DEFAULTS, type EpochLog } from '../../training/head.js';
import { DEFAULT_VALIDATION_SPLIT, type TrainingMethod } from '../../training/train.js';
import { itemName } from '../../training/embeddings.js';
import { saveTrained, trainFromFolder } from '../../training/train_node.js';

interface TrainFlags extends ModelFlags {
  output: string;
  val?: string;
  validationSplit: number;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  augment?: number;
  method: TrainingMethod;
  keepClasses?: boolean;
  fineTune: number;
  fineTuneEpochs?: number;
  fineTuneLr?: number;
  batchNorm?: BatchNormMode;
  seed: number;
  cache: boolean;
  json?: boolean;
}

function fraction(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError('must be a number between 0 and 1.');
  return n;
}

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('must be a whole number.');
  return Number(value);
}

function batchNorm(value: string): BatchNormMode {
  if (value !== 'frozen' && value !== 'train') throw new InvalidArgumentError('must be frozen or train.');
  return value;
}

function blockCount(value: string): number {
  const n = wholeNumber(value);
  if (n > 15) throw new InvalidArgumentError('must be a block count from 0 to 15.');
  return n;
}

function method(value: string): TrainingMethod {
  if (value !== 'head' && value !== 'knn' && value !== 'imprint') throw new InvalidArgumentError('must be head, knn or imprint.');
  return value;
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);

function logEpoch(tty: boolean, what: string, e: EpochLog): void {
  if (tty) process.stderr.write(`${what} ${e.epoch}  loss ${e.trainLoss.toFixed(3)}  acc ${pct(e.trainAccuracy)}  val loss ${e.valLoss?.toFixed(3) ?? '-'}  val acc ${pct(e.valAccuracy)}\n`);
}

/** Registers the `train` command. */
export function register(program: Command): void {
  const command = program.command('train')
    .description('train a classifier on your own images: DATA_DIR holds one subfolder of images per class')
    .argument('<data-dir>', 'folder with one subfolder per class (class name = subfolder name)')
    .requiredOption('-o, --output <dir>', 'checkpoint folder to write (config.json, model.safetensors, preprocessor_config.json, training_report.json)');
  addModelOptions(command, 'the shipped mobilenet_v2_1.0_224_quant classifier')
    .option('--val <dir>', 'validation folder with the same class subfolders (default: split off --validation-split)')
    .option('--validation-split <f>', 'share of each class held out for validation', fraction, DEFAULT_VALIDATION_SPLIT)
    .option('--epochs <n>', `most epochs (default ${HEAD_DEFAULTS.epochs}; early stopping on validation loss)`, positiveInteger)
    .option('--lr <x>', `peak AdamW learning rate (default ${HEAD_DEFAULTS.lr})`, positiveNumber)
    .option('--batch-size <n>', `embeddings per optimiser step (default ${HEAD_DEFAULTS.batchSize})`, positiveInteger)
    .option('--augment <k>', `random-crop and flip views embedded per image besides the plain one (default: 0, or ${FINE_TUNE_AUGMENT} with --fine-tune)`, wholeNumber)
    .option('--method <method>', 'head (train the linear classifier), imprint (class means) or knn (nearest neighbours)', method, 'head')
    .option('--keep-classes', "keep the base model's classes and add the new ones after them")
    .option('--fine-tune <k>', 'after the head, also train the last K inverted-residual blocks and conv_1x1 with it (0 = the head alone)', blockCount, 0)
    .option('--fine-tune-epochs <n>', `fine-tuning epochs (default ${FINE_TUNE_DEFAULTS.epochs})`, positiveInteger)
    .option('--fine-tune-lr <x>', `peak AdamW learning rate of fine-tuning (default ${FINE_TUNE_DEFAULTS.lr})`, positiveNumber)
    .option('--batch-norm <mode>', `BatchNorm while fine-tuning: frozen (running statistics) or train (batch statistics, running ones updated) (default ${FINE_TUNE_DEFAULTS.batchNorm})`, batchNorm)
    .option('--seed <n>', 'seed of the split, augmentation and training', wholeNumber, HEAD_DEFAULTS.seed)
    .option('--no-cache', 'do not keep embeddings in the on-disk cache')
    .option('--json', 'print training_report.json instead of a summary')
    .action(async (dataDir: string, flags: TrainFlags) => {
      const tty = process.stderr.isTTY === true;
      const bar = tty ? new cliProgress.SingleBar({ stream: process.stderr, clearOnComplete: true, format: ' embedding {bar} {value}/{total} images' }, cliProgress.Presets.shades_classic) : null;
      let skipped = 0;
      const result = await trainFromFolder(dataDir, {
        ...(flags.model !== undefined ? { model: flags.model } : {}),
        session: { ...(flags.threads ? { threads: flags.threads } : {}), ...(flags.dtype ? { dtype: flags.dtype } : {}), ...(flags.revision ? { revision: flags.revision } : {}) },
        ...(flags.val !== undefined ? { valDir: flags.val } : { validationSplit: flags.validationSplit }),
        epochs: flags.epochs, lr: flags.lr, batchSize: flags.batchSize, augment: flags.augment, method: flags.method,
        keepClasses: flags.keepClasses ?? false, seed: flags.seed, cacheDir: flags.cache ? undefined : false,
        fineTune: flags.fineTune, fineTuneOptions: { epochs: flags.fineTuneEpochs, lr: flags.fineTuneLr, batchNorm: flags.batchNorm },
        onSkip: (item, error) => {
          skipped++;
          process.stderr.write(failureLine(itemName(item), error));
        },
        onProgress: (done, total) => {
          if (!bar) return;
          if (done <= total && bar.getTotal() !== total) bar.start(total, 0);
          bar.update(done);
          if (done >= total) bar.stop();
        },
        onEpoch: (e: EpochLog) => logEpoch(tty, 'epoch', e),
        onFineTuneEpoch: (e: EpochLog) => logEpoch(tty, 'fine-tune epoch', e),
      });
      await saveTrained(result, flags.output);
      const r = result.report;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      process.stdout.write(`${flags.output}: ${r.method} classifier for ${r.classes.length} classes (${r.classes.join(', ')})${r.keepClasses ? ' added to the base classes' : ''}\n`
        + `  images: ${r.images.train} train, ${r.images.val} validation, ${skipped} skipped, ${r.images.fromCache} from the cache\n`
        + (r.bestEpoch !== null ? `  epochs: ${r.epochs.length} run, best ${r.bestEpoch}\n` : '')
        + (r.fineTune ? `  fine-tuned the last ${r.fineTune.blocks} block${r.fineTune.blocks > 1 ? 's' : ''}: ${r.fineTune.epochs.length} epochs, ${r.fineTune.secondsPerEpoch?.toFixed(1) ?? '-'} s/epoch; validation top-1 before: ${pct(r.fineTune.before?.accuracy)}\n` : '')
        + `  validation top-1: ${pct(r.validation?.top1)}\n`
        + `  time: ${r.timings.embeddingSeconds.toFixed(1)} s embedding, ${r.timings.trainingSeconds.toFixed(1)} s training\n`);
    });
}
