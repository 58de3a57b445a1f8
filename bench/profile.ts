/**
 * Per-stage profile of the photo path (`mobilenet-v2 classify` on files), one image at a time on
 * one thread: file read, decode, Pillow-exact resize (the centre-crop window only, as the
 * processor does it), crop + normalise, model, softmax + top-k, output (the JSON line). Each stage
 * is timed on its own over every photo, and the median per image is reported, at fp32 and int8.
 * Times are the process's CPU time (all its threads: sharp decodes on libuv's), not wall time: one
 * stage runs at a time, so on an idle machine the two agree, and on a shared one CPU time stays
 * steady where wall time swings several-fold with the neighbours' load.
 * Run inside the benchmark, or alone: `node dist/bench/profile_main.js [model folder]`.
 */
import { readFile } from 'node:fs/promises';
import { softmaxRows } from '../src/model/functional.js';
import type { MobileNetV2ForImageClassification } from '../src/model/modeling_mobilenet_v2.js';
import { DEFAULT_TOP_K, topK } from '../src/pipelines/image_classification.js';
import { decodeImage } from '../src/processing/image_io_node.js';
import { pilResize, type Pixels8 } from '../src/processing/pil_resample.js';
import { resizeOutputSize } from '../src/processing/processor.js';
import { median } from './report.js';

/** Median CPU ms per image of each stage. */
export interface StageProfile {
  readonly dtype: 'fp32' | 'int8';
  readonly stages: ReadonlyArray<{ readonly stage: string; readonly ms: number }>;
}

/** Timed passes over the photos per stage (medians over passes × photos). */
const PASSES = 5;

async function timeEach<T, R>(items: readonly T[], fn: (item: T) => R | Promise<R>): Promise<{ ms: number; out: R[] }> {
  const times: number[] = [];
  let out: R[] = [];
  for (let pass = 0; pass <= PASSES; pass++) {
    out = [];
    for (const item of items) {
      const start = process.cpuUsage();
      out.push(await fn(item));
      const used = process.cpuUsage(start);
      if (pass > 0) times.push((used.user + used.system) / 1000); // pass 0 warms up
    }
  }
  return { ms: median(times), out };
}

/** Profiles the photo path over `photos` with the classifier in `modelDir` (fp32 and int8, one thread). */
export async function profilePhotoPath(modelDir: string, photos: readonly string[]): Promise<StageProfile[]> {
  const { pipeline } = await import('../src/pipelines/pipeline_node.js');
  const read = await timeEach(photos, (p) => readFile(p));
  const decode = await timeEach(read.out, (bytes) => decodeImage(bytes));
  const profiles: StageProfile[] = [];
  for (const dtype of ['fp32', 'int8'] as const) {
    const classifier = await pipeline('image-classification', modelDir, { threads: 1, dtype });
    try {
      const { settings } = classifier.processor;
      const crop = settings.cropSize;
      const window = (img: Pixels8): { out: [number, number]; left: number; top: number } => {
        const out = resizeOutputSize(img.height, img.width, settings.size);
        return { out, left: Math.floor((out[1] - crop.width) / 2), top: Math.floor((out[0] - crop.height) / 2) };
      };
      const resize = await timeEach(decode.out, (img) => {
        const { out, left, top } = window(img);
        return pilResize(img, out[1], out[0], settings.resample, { left, top, width: crop.width, height: crop.height });
      });
      // The processor's resize of the window, then the crop + normalise into pixel_values: the rest.
      const whole = await timeEach(decode.out, (img) => classifier.processor.preprocessImage(img).pixelValues);
      const model = classifier.model as MobileNetV2ForImageClassification;
      const forward = await timeEach(whole.out, async (pv) => (await model.forward({ ...pv, shape: [1, ...pv.shape] })).logits!);
      const top = await timeEach(forward.out, (logits) => topK(softmaxRows(logits.data, logits.shape[1]!), DEFAULT_TOP_K, model.config.id2label));
      const output = await timeEach(top.out, (result) => JSON.stringify(result));
      profiles.push({
        dtype,
        stages: [
          { stage: 'file read', ms: read.ms },
          { stage: 'decode (sharp, Pillow RGB rules)', ms: decode.ms },
          { stage: 'Pillow-exact resize (crop window)', ms: resize.ms },
          { stage: 'crop + normalise (to pixel_values)', ms: Math.max(0, whole.ms - resize.ms) },
          { stage: 'model (1 thread)', ms: forward.ms },
          { stage: 'softmax + top-k', ms: top.ms },
          { stage: 'output (JSON line)', ms: output.ms },
        ],
      });
    } finally {
      await classifier.dispose();
    }
  }
  return profiles;
}

/** The profile as a text table: one row per stage, one column per dtype. */
export function formatProfile(profiles: readonly StageProfile[]): string {
  if (profiles.length === 0) return '';
  const head = `${'photo path stage, CPU ms/image'.padEnd(38)}${profiles.map((p) => p.dtype.padStart(9)).join('')}`;
  const rows = profiles[0]!.stages.map((s, i) => `${s.stage.padEnd(38)}${profiles.map((p) => p.stages[i]!.ms.toFixed(3).padStart(9)).join('')}`);
  const total = `${'total'.padEnd(38)}${profiles.map((p) => p.stages.reduce((sum, s) => sum + s.ms, 0).toFixed(3).padStart(9)).join('')}`;
  return `${[head, ...rows, total].join('\n')}\n`;
}
