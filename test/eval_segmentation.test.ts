/**
 * `eval IMAGES --masks MASKS`: pixel accuracy and mIoU of the shipped segmenter against masks whose
 * scores can be worked out by hand from the model's own prediction.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decode } from 'fast-png';
import sharp from 'sharp';
import { cli, REPO_ROOT, useTempDir } from './helpers.js';

interface SegmentationJson {
  images: number;
  pixels: number;
  pixelAccuracy: number;
  meanIou: number;
  classes: Array<{ index: number; label: string; pixels: number; iou: number }>;
}

const IGNORE = 255;

function evalJson(images: string, masks: string): SegmentationJson {
  const r = cli('eval', images, '--masks', masks, '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as SegmentationJson;
}

describe('eval --masks (segmentation)', () => {
  const tmp = useTempDir('eval-seg');

  it('scores 100% against its own prediction; ignored pixels and relabelled pixels change the scores as computed by hand', async () => {
    const images = join(tmp(), 'images');
    const own = join(tmp(), 'own');
    await mkdir(images);
    await copyFile(join(REPO_ROOT, 'samples/bird.jpg'), join(images, 'bird.jpg'));
    const seg = cli('segment', '--mask', join(own, 'bird.png'), join(images, 'bird.jpg'));
    assert.equal(seg.status, 0, seg.stderr);

    // The model's own palette mask: everything right, and only the predicted classes in the mIoU.
    const png = decode(await readFile(join(own, 'bird.png')));
    const predicted = Uint8Array.from(png.data);
    const present = [...new Set(predicted)].sort((a, b) => a - b);
    assert.ok(present.includes(3), 'the bird (class 3) is predicted');
    const perfect = evalJson(images, own);
    assert.deepEqual([perfect.images, perfect.pixels, perfect.pixelAccuracy, perfect.meanIou], [1, predicted.length, 1, 1]);
    assert.deepEqual(perfect.classes.map((c) => c.index), present);

    // A grey mask: the top half ignored (255), and in the bottom half the first third of the bird
    // pixels relabelled as background (0).
    const { width, height } = png;
    const truth = Uint8Array.from(predicted);
    truth.fill(IGNORE, 0, width * Math.floor(height / 2));
    const kept = Array.from(truth.keys()).filter((i) => truth[i] !== IGNORE);
    const bird = kept.filter((i) => truth[i] === 3);
    const moved = bird.slice(0, Math.floor(bird.length / 3));
    for (const i of moved) truth[i] = 0;
    const edited = join(tmp(), 'edited');
    await mkdir(edited);
    await sharp(truth, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toFile(join(edited, 'bird.png'));

    const r = evalJson(images, edited);
    assert.equal(r.pixels, kept.length);
    assert.ok(Math.abs(r.pixelAccuracy - (kept.length - moved.length) / kept.length) < 1e-12, `pixel accuracy ${r.pixelAccuracy}`);
    // Per class over the kept pixels: IoU = hits / (truth + predicted - hits).
    const expected = present.flatMap((c) => {
      const inTruth = kept.filter((i) => truth[i] === c).length;
      const inPrediction = kept.filter((i) => predicted[i] === c).length;
      const hits = kept.filter((i) => truth[i] === c && predicted[i] === c).length;
      const union = inTruth + inPrediction - hits;
      return union > 0 ? [{ index: c, iou: hits / union }] : [];
    });
    assert.deepEqual(r.classes.map((c) => c.index), expected.map((c) => c.index));
    r.classes.forEach((c, k) => assert.ok(Math.abs(c.iou - expected[k]!.iou) < 1e-12, `class ${c.label}: IoU ${c.iou} vs ${expected[k]!.iou}`));
    const birdIou = r.classes.find((c) => c.index === 3)!.iou;
    assert.ok(Math.abs(birdIou - (bird.length - moved.length) / bird.length) < 1e-12, 'bird IoU: the relabelled pixels are missed');
    assert.ok(Math.abs(r.meanIou - expected.reduce((n, c) => n + c.iou, 0) / expected.length) < 1e-12);
    assert.ok(r.meanIou < 1 && r.pixelAccuracy < 1);
  });

  it('a mask of another size is one line naming the file', async () => {
    const images = join(tmp(), 'images2');
    const masks = join(tmp(), 'masks2');
    await mkdir(images);
    await mkdir(masks);
    await copyFile(join(REPO_ROOT, 'samples/bird.jpg'), join(images, 'bird.jpg'));
    await sharp(new Uint8Array(16), { raw: { width: 4, height: 4, channels: 1 } }).toColourspace('b-w').png().toFile(join(masks, 'bird.png'));
    const r = cli('eval', images, '--masks', masks);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bird\.jpg: the mask is 4x4x1/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});
