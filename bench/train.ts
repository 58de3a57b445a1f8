/**
 * The training benchmark: `mobilenet-v2 train` on the 600 flowers images and (with
 * `--train-large`) on 20 000 distinct synthetic copies of them — embedding images/s, seconds per
 * epoch, peak RSS — and val top-1 of the default head against `--augment 2` on the flowers split;
 * with `--train-fine-tune`, `--fine-tune 1, 2, 4` on the flowers split (seconds per fine-tuning
 * epoch, val top-1) with its default views and without, and `--fine-tune 2` on upright vs
 * upside-down flowers, each beside the head with the same views. Each run is a fresh CLI process with its own
 * empty embedding cache, so the backbone runs on every image and each peak RSS is the run's own.
 */
import { spawnSync } from 'node:child_process';
import { link, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { FINE_TUNE_AUGMENT } from '../src/training/finetune.js';
import { seededRandom } from '../src/random.js';
import { formatTable } from './report.js';

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const CLI = join(REPO, 'dist/src/cli/main.js');
/** The flowers split of the shared fixtures (5 classes, 80 train + 40 val images each). */
export const FLOWERS = resolve(REPO, '../shared/fixtures/transfer/flowers');
/** Images of the large case. */
export const LARGE_IMAGES = 20_000;
/** Augmented views of the augmented accuracy row. */
const AUGMENT = 2;

/** One training run. */
export interface TrainingRow {
  readonly name: string;
  /** Images embedded (training + validation). */
  readonly images: number;
  readonly embedding_images_per_s: number;
  readonly seconds_per_epoch: number | null;
  readonly epochs: number;
  /** Seconds per fine-tuning epoch (`--fine-tune` rows only). */
  readonly finetune_seconds_per_epoch: number | null;
  readonly peak_rss_mb: number;
  readonly wall_s: number;
  /** Top-1 on the flowers val folder (accuracy rows only). */
  readonly val_top1: number | null;
}

interface Report {
  images: { train: number; val: number };
  epochs: unknown[];
  timings: { imagesPerSecond: number; secondsPerEpoch: number | null };
  fineTune: { secondsPerEpoch: number | null } | null;
  peakRssBytes: number;
}

function runCli(args: readonly string[], cacheDir: string): string {
  const child = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8', env: { ...process.env, MOBILENET_V2_CACHE: cacheDir }, maxBuffer: 256 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`mobilenet-v2 ${args.join(' ')} failed: ${child.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return child.stdout;
}

/** Trains on `dataDir` in a fresh process (and scores the folder `valDir`, when given). */
function trainRow(name: string, dataDir: string, work: string, flags: readonly string[], valDir: string | null): TrainingRow {
  const out = join(work, name);
  const cache = join(work, `${name}-cache`);
  const started = performance.now();
  const report = JSON.parse(runCli(['train', dataDir, '-o', out, '--json', ...flags], cache)) as Report;
  const wall = (performance.now() - started) / 1000;
  const top1 = valDir ? (JSON.parse(runCli(['eval', valDir, '-m', out, '--json'], cache)) as { top1: number }).top1 : null;
  return {
    name, images: report.images.train + report.images.val, embedding_images_per_s: round(report.timings.imagesPerSecond),
    seconds_per_epoch: report.timings.secondsPerEpoch === null ? null : round(report.timings.secondsPerEpoch, 3),
    epochs: report.epochs.length, finetune_seconds_per_epoch: typeof report.fineTune?.secondsPerEpoch === 'number' ? round(report.fineTune.secondsPerEpoch, 2) : null,
    peak_rss_mb: round(report.peakRssBytes / 2 ** 20), wall_s: round(wall), val_top1: top1,
  };
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** The flowers images of both folders, per class. */
export async function flowerFiles(): Promise<Map<string, string[]>> {
  const byClass = new Map<string, string[]>();
  for (const part of ['train', 'val']) {
    for (const label of (await readdir(join(FLOWERS, part))).sort()) {
      const files = (await readdir(join(FLOWERS, part, label))).sort().map((f) => join(FLOWERS, part, label, f));
      byClass.set(label, [...(byClass.get(label) ?? []), ...files]);
    }
  }
  return byClass;
}

/** All 600 flowers images in one ImageFolder (hard links). */
async function allFlowers(dir: string): Promise<string> {
  for (const [label, files] of await flowerFiles()) {
    await mkdir(join(dir, label), { recursive: true });
    await Promise.all(files.map((f, i) => link(f, join(dir, label, `${i}.jpg`))));
  }
  return dir;
}

/**
 * `count` images as copies of the flowers, each made distinct (one pixel nudged, re-encoded) so
 * that content hashes differ and every copy goes through the backbone.
 */
async function syntheticFlowers(dir: string, count: number): Promise<string> {
  const classes = [...(await flowerFiles())];
  const perClass = Math.ceil(count / classes.length);
  for (const [label, files] of classes) {
    await mkdir(join(dir, label), { recursive: true });
    const sources = await Promise.all(files.map((f) => sharp(f).removeAlpha().raw().toBuffer({ resolveWithObject: true })));
    for (let i = 0; i < perClass; i++) {
      const { data, info } = sources[i % sources.length]!;
      const copy = Buffer.from(data);
      const copyIndex = Math.floor(i / sources.length);
      copy[copyIndex % copy.length] = (copy[copyIndex % copy.length]! + 1 + copyIndex) % 256;
      await sharp(copy, { raw: { width: info.width, height: info.height, channels: info.channels } }).jpeg({ quality: 95 }).toFile(join(dir, label, `${i}.jpg`));
    }
  }
  return dir;
}

/**
 * The second fine-tuning task: the flowers split (same train and val images) labelled `upright`
 * or `upside-down`, each image turned by 180° or not at random (seeded). Pooled ImageNet features
 * are nearly blind to it (the head scores about 0.6), so it shows what fine-tuning the blocks
 * adds where the pretrained top is not enough, beside the flowers, where it is near the ceiling.
 */
export async function upsideDownFlowers(dir: string, flowers = FLOWERS): Promise<string> {
  const random = seededRandom(0);
  for (const part of ['train', 'val']) {
    for (const label of (await readdir(join(flowers, part))).sort()) {
      for (const file of (await readdir(join(flowers, part, label))).sort()) {
        const turn = random() < 0.5;
        const to = join(dir, part, turn ? 'upside-down' : 'upright');
        await mkdir(to, { recursive: true });
        await sharp(join(flowers, part, label, file)).rotate(turn ? 180 : 0).jpeg({ quality: 95 }).toFile(join(to, `${label}-${file}`));
      }
    }
  }
  return dir;
}

/** Options of {@link runTrainingBenchmark}. */
export interface TrainingBenchOptions {
  /** Also run the 20 000-image case (about 10–20 minutes on 2 cores). */
  readonly large?: boolean;
  /**
   * Also fine-tune 1, 2 and 4 blocks on the flowers split and 2 on upright vs upside-down flowers,
   * beside the head with the same augmented views (about 20 minutes on 2 cores).
   */
  readonly fineTune?: boolean;
  readonly log?: (line: string) => void;
}

/** Runs the training benchmark; needs the built CLI and the shared flowers fixture. */
export async function runTrainingBenchmark(options: TrainingBenchOptions = {}): Promise<TrainingRow[]> {
  const log = options.log ?? (() => undefined);
  const work = await mkdtemp(join(tmpdir(), 'mnv2-bench-train-'));
  try {
    const rows: TrainingRow[] = [];
    log('training: 600 flowers images');
    rows.push(trainRow('train-600', await allFlowers(join(work, 'flowers600')), work, ['--no-cache'], null));
    log('training: flowers split, default head');
    rows.push(trainRow('flowers-head', join(FLOWERS, 'train'), work, [], join(FLOWERS, 'val')));
    log(`training: flowers split, --augment ${AUGMENT}`);
    rows.push(trainRow(`flowers-augment-${AUGMENT}`, join(FLOWERS, 'train'), work, ['--augment', String(AUGMENT)], join(FLOWERS, 'val')));
    if (options.fineTune) {
      // Fine-tuning augments by default (FINE_TUNE_AUGMENT views); the head with the same views is the like-for-like row.
      rows.push(trainRow(`flowers-augment-${FINE_TUNE_AUGMENT}`, join(FLOWERS, 'train'), work, ['--augment', String(FINE_TUNE_AUGMENT)], join(FLOWERS, 'val')));
      for (const [blocks, flags] of [[1, []], [2, []], [4, []], [2, ['--augment', '0']]] as const) {
        const name = `flowers-finetune-${blocks}${flags.length ? '-augment-0' : ''}`;
        log(`training: flowers split, --fine-tune ${blocks} ${flags.join(' ')}`);
        rows.push(trainRow(name, join(FLOWERS, 'train'), work, ['--fine-tune', String(blocks), ...flags], join(FLOWERS, 'val')));
      }
      log('training: upright vs upside-down flowers');
      const turned = await upsideDownFlowers(join(work, 'upside-down'));
      for (const [name, flags] of [['head', []], [`augment-${FINE_TUNE_AUGMENT}`, ['--augment', String(FINE_TUNE_AUGMENT)]], ['finetune-2', ['--fine-tune', '2']]] as const) {
        rows.push(trainRow(`upside-down-${name}`, join(turned, 'train'), work, flags, join(turned, 'val')));
      }
    }
    if (options.large) {
      log(`training: writing ${LARGE_IMAGES} synthetic images`);
      const large = await syntheticFlowers(join(work, 'large'), LARGE_IMAGES);
      log(`training: ${LARGE_IMAGES} images`);
      rows.push(trainRow(`train-${LARGE_IMAGES}`, large, work, ['--no-cache'], null));
    }
    return rows;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The training rows as a text table. */
export function formatTraining(rows: readonly TrainingRow[]): string {
  const header = ['training run', 'images', 'embed images/s', 's/epoch', 'epochs', 'fine-tune s/epoch', 'peak RSS MB', 'wall s', 'val top-1'];
  const lines = rows.map((r) => [
    r.name, String(r.images), r.embedding_images_per_s.toFixed(1), r.seconds_per_epoch?.toFixed(3) ?? '-', String(r.epochs), r.finetune_seconds_per_epoch?.toFixed(2) ?? '-',
    r.peak_rss_mb.toFixed(0), r.wall_s.toFixed(1), r.val_top1 === null ? '' : r.val_top1.toFixed(3),
  ]);
  return `${formatTable(header, lines).join('\n')}\n`;
}
