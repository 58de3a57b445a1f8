/** `train` / `trainClassifier`: synthetic datasets for speed, the flowers split for the accuracy goal. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cli, HF_FIXTURES, REPO_ROOT, requireFixtures, SHARED_FIXTURES, useTempDir } from './helpers.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { stratifiedSplit, type LabeledImage } from '../src/training/dataset.js';
import { upsideDownFlowers } from '../bench/train.js';
import { augmentedView } from '../src/training/augment.js';
import { seededRandom } from '../src/random.js';
import { trainFromFolder, saveTrained } from '../src/training/train_node.js';
import { syntheticDataset } from './train_support.js';

const FLOWERS = join(SHARED_FIXTURES, 'transfer/flowers');
describe('dataset split and augmentation', () => {
  it('splits each class in the same proportion, the same way for the same seed', () => {
    const items: LabeledImage[] = ['a', 'b'].flatMap((label) => Array.from({ length: 20 }, (_, i) => ({ label, image: `${label}${i}` })));
    const one = stratifiedSplit(items, 0.15, 3);
    assert.deepEqual(one, stratifiedSplit(items, 0.15, 3));
    assert.notDeepEqual(one.val, stratifiedSplit(items, 0.15, 4).val);
    assert.equal(one.val.filter((i) => i.label === 'a').length, 3);
    assert.equal(one.val.length + one.train.length, items.length);
  });

  it('augmented views are seeded: same seed, same crop and flip', () => {
    const image = { data: Uint8Array.from({ length: 40 * 30 * 3 }, (_, i) => i % 251), width: 40, height: 30, channels: 3 as const };
    const a = augmentedView(image, seededRandom(1));
    assert.deepEqual(a, augmentedView(image, seededRandom(1)));
    assert.ok(a.width <= 40 && a.height <= 30 && a.data.length === a.width * a.height * 3);
  });
});

describe('train on a synthetic folder', () => {
  const tmp = useTempDir('train');

  it('trains a head, saves transformers keys and dtypes, reloads through classify, and a second run reads the cache', async () => {
    const data = join(tmp(), 'data');
    await syntheticDataset(data, 6);
    const cacheDir = join(tmp(), 'cache');
    const result = await trainFromFolder(data, { cacheDir, epochs: 20 });
    assert.equal(result.report.validation?.top1, 1);
    assert.deepEqual(result.report.classes, ['blue', 'green', 'red']);
    assert.ok(result.report.peakRssBytes! > 0);
    const out = join(tmp(), 'out');
    await saveTrained(result, out);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['MobileNetV2ForImageClassification']);
    assert.deepEqual(config.id2label, { 0: 'blue', 1: 'green', 2: 'red' });
    assert.ok(existsSync(join(out, 'preprocessor_config.json')) && existsSync(join(out, 'training_report.json')));
    const saved = parseSafetensors(new Uint8Array(await readFile(join(out, 'model.safetensors'))), 'saved');
    const expected = (await readFile(join(HF_FIXTURES, 'tables/keys_mobilenet_v2_1.0_cls.txt'), 'utf8')).trim().split('\n')
      .map((line) => line.replace(/^(classifier\.weight\t)\[1001, /, '$1[3, ').replace(/^(classifier\.bias\t)\[1001\]/, '$1[3]'));
    assert.deepEqual([...saved.tensors].map(([k, t]) => `${k}\t[${t.shape.join(', ')}]\t${t.dtype}`).sort(), expected.sort());

    const classified = cli('classify', '--json', '-m', out, join(data, 'green', '0.png'));
    assert.equal(classified.status, 0, classified.stderr);
    assert.equal(JSON.parse(classified.stdout).predictions[0].label, 'green');

    const again = await trainFromFolder(data, { cacheDir, epochs: 20 });
    assert.equal(again.report.images.fromCache, 18);
    await again.extractor.dispose();
  });

  it('--method imprint and knn train and evaluate; knn stores its index beside the checkpoint', () => {
    for (const method of ['imprint', 'knn']) {
      const out = join(tmp(), method);
      const r = cli('train', join(tmp(), 'data'), '-o', out, '--method', method, '--json');
      assert.equal(r.status, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).method, method);
      assert.equal(existsSync(join(out, 'knn_index.safetensors')), method === 'knn');
      const e = cli('eval', join(tmp(), 'data'), '-m', out, '--json');
      assert.equal(e.status, 0, e.stderr);
      const ev = JSON.parse(e.stdout);
      assert.equal(ev.images, 18);
      assert.equal(ev.top1, 1, method);
      assert.equal(ev.confusion.length, 3);
    }
  });

  it('--keep-classes keeps the ImageNet labels: the cat is still an Egyptian cat, the new classes come after', () => {
    const out = join(tmp(), 'keep');
    const r = cli('train', join(tmp(), 'data'), '-o', out, '--method', 'imprint', '--keep-classes');
    assert.equal(r.status, 0, r.stderr);
    const cat = cli('classify', '--json', '-m', out, join(REPO_ROOT, 'samples/cat.jpg'));
    assert.equal(cat.status, 0, cat.stderr);
    assert.match(JSON.parse(cat.stdout).predictions[0].label, /cat/);
    const red = cli('classify', '--json', '-m', out, join(tmp(), 'data/red/1.png'));
    assert.equal(JSON.parse(red.stdout).predictions[0].label, 'red');
    assert.equal(JSON.parse(red.stdout).predictions[0].index, 1001 + 2);
  });
});

describe('train: bad input', () => {
  const tmp = useTempDir('train-bad');

  it('an empty class, a class with one image, a single class: one line naming the problem', async () => {
    await syntheticDataset(join(tmp(), 'empty'), 3, ['blue', 'red']);
    await mkdir(join(tmp(), 'empty/green'));
    const empty = cli('train', join(tmp(), 'empty'), '-o', join(tmp(), 'o1'));
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /"green" has no image files/);

    await syntheticDataset(join(tmp(), 'single'), 1, ['blue']);
    await syntheticDataset(join(tmp(), 'single'), 3, ['red']);
    const single = cli('train', join(tmp(), 'single'), '-o', join(tmp(), 'o2'));
    assert.equal(single.status, 1);
    assert.match(single.stderr, /class "blue" has only one image/);

    await syntheticDataset(join(tmp(), 'one'), 3, ['blue']);
    const one = cli('train', join(tmp(), 'one'), '-o', join(tmp(), 'o3'));
    assert.equal(one.status, 1);
    assert.match(one.stderr, /only one class \("blue"\)/);
    assert.equal(one.stderr.trim().split('\n').length, 1);
  });

  it('unreadable files are reported, skipped and counted; eval refuses classes the model lacks', async () => {
    const data = join(tmp(), 'broken');
    await syntheticDataset(data, 4, ['blue', 'red']);
    await writeFile(join(data, 'red', 'broken.jpg'), 'not an image');
    const out = join(tmp(), 'o4');
    const r = cli('train', data, '-o', out, '--method', 'imprint', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /broken\.jpg/);
    const report = JSON.parse(r.stdout);
    assert.equal(report.images.skipped, 1);
    assert.match(report.skipped[0].image, /broken\.jpg/);

    await syntheticDataset(join(tmp(), 'other'), 2, ['green']);
    const e = cli('eval', join(tmp(), 'other'), '-m', out);
    assert.equal(e.status, 1);
    assert.match(e.stderr, /class "green" is not a label of the model/);
  });
});

describe('train + eval on the flowers split', requireFixtures(FLOWERS), () => {
  const tmp = useTempDir('flowers');

  /** Val top-1 of a classifier trained on `data`'s train folder with `flags`. */
  function top1Of(data: string, name: string, ...flags: string[]): number {
    const out = join(tmp(), name);
    const r = cli('train', join(data, 'train'), '-o', out, ...flags);
    assert.equal(r.status, 0, r.stderr);
    const e = cli('eval', join(data, 'val'), '-m', out, '--json');
    assert.equal(e.status, 0, e.stderr);
    const ev = JSON.parse(e.stdout);
    assert.equal(ev.images, 200);
    return ev.top1 as number;
  }
  const flowersTop1 = (name: string, ...flags: string[]): number => top1Of(FLOWERS, name, ...flags);

  let plainTop1 = 0;
  it('default settings reach val top-1 >= 0.68', () => {
    plainTop1 = flowersTop1('flowers');
    assert.ok(plainTop1 >= 0.68, `val top-1 ${plainTop1}`);
  });

  it('--augment 2 scores above the default head', () => {
    const augmented = flowersTop1('flowers-augment', '--augment', '2');
    assert.ok(augmented > plainTop1, `val top-1 ${augmented} with --augment 2, ${plainTop1} without`);
  });

  // The pooled ImageNet features barely tell an upright flower from an upside-down one: the blocks must learn it.
  // (0.655 → 0.715 on the benchmark machine; the bound leaves room for another machine's rounding.)
  it('upright vs upside-down: --fine-tune 2 (defaults) beats the head alone', async () => {
    const data = await upsideDownFlowers(join(tmp(), 'upside-down'), FLOWERS);
    const head = top1Of(data, 'turned-head');
    const tuned = top1Of(data, 'turned-finetune', '--fine-tune', '2');
    assert.ok(tuned >= head + 0.03, `val top-1 ${tuned} fine-tuned, ${head} with the head alone`);
  });
});
