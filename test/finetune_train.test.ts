/** `trainClassifier({ fineTune })` and `train --fine-tune`: the saved checkpoint, reloaded, and the CLI's checks. */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../src/index.js';
import { parameterSpecs } from '../src/model/architecture.js';
import { MobileNetV2ForImageClassification } from '../src/model/modeling_mobilenet_v2.js';
import { ImageFeatureExtractionPipeline } from '../src/pipelines/image_feature_extraction.js';
import { MobileNetV2ImageProcessor } from '../src/processing/processor.js';
import { stratifiedSplit } from '../src/training/dataset.js';
import { evaluate } from '../src/training/evaluate.js';
import { FINE_TUNE_AUGMENT } from '../src/training/finetune.js';
import { trainClassifier, trainedFiles } from '../src/training/train.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { assertClose, cli, useTempDir } from './helpers.js';
import { randomModel, tinyConfig } from './finetune_support.js';
import { syntheticDataset, syntheticImages } from './train_support.js';

describe('fine-tuned checkpoints', () => {
  const tmp = useTempDir('finetune');

  for (const batchNorm of ['train', 'frozen'] as const) {
    it(`BatchNorm ${batchNorm}: saves every transformers key (the trained blocks' running statistics ${batchNorm === 'train' ? 'updated' : 'kept'}), reloads with the same logits and validation scores`, async () => {
      const config = tinyConfig(true);
      const base = await randomModel(config, 11);
      const processor = new MobileNetV2ImageProcessor({ size: 72, cropSize: 64 });
      const items = syntheticImages(6);
      const result = await trainClassifier({ train: items }, {
        // Without the refit, the saved model is the one the validation images scored.
        model: new ImageFeatureExtractionPipeline(base, processor), augment: 1, epochs: 5, refit: false, fineTune: 4, fineTuneOptions: { epochs: 2, batchNorm, batchSize: 4 },
      });
      const report = result.report;
      assert.equal(report.fineTune?.blocks, 4);
      assert.equal(report.fineTune.epochs.length, 2);
      assert.equal(report.fineTune.refit, false);
      const dir = join(tmp(), batchNorm);
      await mkdir(dir);
      for (const [name, bytes] of Object.entries(await trainedFiles(result))) await writeFile(join(dir, name), bytes);
      assert.equal(JSON.parse(await readFile(join(dir, 'training_report.json'), 'utf8')).fineTune.settings.batchNorm, batchNorm);

      const saved = parseSafetensors(new Uint8Array(await readFile(join(dir, 'model.safetensors'))), 'saved').tensors;
      const expected = parameterSpecs(config.with({ id2label: { 0: 'blue', 1: 'green', 2: 'red' } }), 'MobileNetV2ForImageClassification');
      assert.deepEqual([...saved.keys()].sort(), expected.map((p) => p.key).sort());
      assert.equal(saved.get('mobilenet_v2.layer.15.expand_1x1.normalization.num_batches_tracked')!.dtype, 'int64');
      const baseState = await base.getStateDict();
      const same = (key: string) => Buffer.from(saved.get(key)!.data.buffer, saved.get(key)!.data.byteOffset, saved.get(key)!.data.byteLength)
        .equals(Buffer.from(baseState.get(key)!.data.buffer, baseState.get(key)!.data.byteOffset, baseState.get(key)!.data.byteLength));
      assert.ok(same('mobilenet_v2.layer.11.expand_1x1.convolution.weight') && same('mobilenet_v2.layer.11.expand_1x1.normalization.running_mean'), 'blocks below stay as they were');
      for (const key of ['layer.12.expand_1x1.normalization.running_mean', 'layer.15.reduce_1x1.normalization.running_var', 'conv_1x1.normalization.running_mean']) {
        assert.equal(same(`mobilenet_v2.${key}`), batchNorm === 'frozen', `${key} ${batchNorm === 'frozen' ? 'kept' : 'updated'}`);
      }
      assert.equal(saved.get('mobilenet_v2.conv_1x1.normalization.num_batches_tracked')!.data[0]! > 0n, batchNorm === 'train');

      const reloaded = await MobileNetV2ForImageClassification.fromPretrained(dir);
      const { pixelValues } = processor.preprocess(items.slice(0, 4).map((i) => i.image));
      assertClose((await reloaded.forward(pixelValues)).logits!.data, (await result.model.forward(pixelValues)).logits!.data, 'logits after reloading', 1e-5, 1e-5);
      // The training report's validation scores come from the fine-tuning graphs; the reloaded model scores the same images alike.
      const { val } = stratifiedSplit(items, 0.15, 0);
      const scored = await evaluate(new ImageFeatureExtractionPipeline(reloaded, processor), val);
      assert.deepEqual(scored.confusion, report.validation!.confusion);
      await Promise.all([reloaded.dispose(), result.extractor.dispose()]);
    });
  }
});

describe('train --fine-tune (CLI)', () => {
  const tmp = useTempDir('finetune-cli');

  it('fine-tunes the last block of the shipped model and saves a checkpoint that classify reads', async () => {
    const data = join(tmp(), 'data');
    await syntheticDataset(data, 6);
    const out = join(tmp(), 'out');
    const r = cli('train', data, '-o', out, '--fine-tune', '1', '--fine-tune-epochs', '2', '--epochs', '10', '--no-cache', '--json');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.fineTune.blocks, 1);
    assert.equal(report.augment, FINE_TUNE_AUGMENT, 'fine-tuning embeds augmented views unless --augment says otherwise');
    assert.equal(report.fineTune.settings.batchNorm, 'frozen');
    assert.equal(report.fineTune.refit, true);
    assert.ok(report.fineTune.epochs.length <= 2 && report.fineTune.secondsPerEpoch > 0);
    const classified = cli('classify', '--json', '-m', out, join(data, 'red', '0.png'));
    assert.equal(classified.status, 0, classified.stderr);
    assert.equal(JSON.parse(classified.stdout).predictions[0].label, 'red');
  });

  it('bad settings: one line naming the problem, no output', () => {
    const data = join(tmp(), 'data');
    for (const [args, message] of [
      [['--fine-tune', '16'], /--fine-tune.*block count from 0 to 15/],
      [['--fine-tune', '2', '--method', 'knn'], /--fine-tune trains the blocks with a trained head: use it with --method head, not knn/],
      [['--fine-tune', '2', '--method', 'imprint', '--keep-classes'], /use it with --method head/],
      [['--fine-tune', '2', '--keep-classes'], /--keep-classes .* cannot be combined with --fine-tune/],
      [['--fine-tune', '2', '--batch-norm', 'running'], /--batch-norm.*must be frozen or train/],
    ] as const) {
      const out = join(tmp(), 'bad');
      const r = cli('train', data, '-o', out, ...args);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
