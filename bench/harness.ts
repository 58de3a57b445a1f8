/**
 * The benchmark: our library against bare ONNX Runtime, tfjs (wasm), onnxruntime-web (wasm) and
 * transformers.js, with the same weights, interleaved round robin in one run (each engine in its
 * own worker process, one running at a time) and reported as medians. Shared by `npm run bench`
 * and `mobilenet-v2 bench`.
 */
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coldStart } from './cold_start.js';
import type { EngineName, EngineSpec } from './engines.js';
import { WorkerHandle } from './pool.js';
import { profilePhotoPath } from './profile.js';
import { median, ratios, row, type BenchReport, type PhotoAgreement, type ResultRow } from './report.js';

/** Options of {@link runBenchmark}. */
export interface BenchOptions {
  /** Classification checkpoint folder (default: the shipped 1.0/224 classifier). */
  readonly model?: string;
  /** Segmentation checkpoint folder, timed at 513×513 (default: the shipped DeepLabV3). */
  readonly segmentationModel?: string;
  /** A short run: fewer rounds, batch 1 on one thread only. */
  readonly quick?: boolean;
  /** Progress lines (one per group) go here. */
  readonly log?: (line: string) => void;
}

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const SHARED_PHOTOS = resolve(REPO, '../shared/fixtures/real/images');
/** Milliseconds each engine runs per turn: short turns interleave finely, several calls amortise IPC and cold caches. */
const TURN_MS = 100;
/** Untimed calls before the first turn (session warm-up, JIT, caches). */
const WARMUP_CALLS = 5;
const MAX_CALLS_PER_TURN = 10;
const END_TO_END_PHOTOS = 100;
/** The shipped 1.0/224 classifier, benchmarked by default. */
export const DEFAULT_MODEL_DIR = join(REPO, 'models/mobilenet_v2_1.0_224_quant');

const MODEL_ENGINES: EngineName[] = ['ours-fp32', 'onnxruntime-raw-fp32', 'ours-int8', 'tfjs-wasm', 'onnxruntime-web-wasm', 'transformers-js'];
const SEGMENTATION_ENGINES: EngineName[] = ['ours-fp32', 'onnxruntime-raw-fp32', 'ours-int8'];
const PIPELINE_ENGINES: EngineName[] = ['ours-pipeline', 'ours-int8-pipeline', 'transformers-js-pipeline'];

/** The photos: the repository's samples, plus the shared real-photo fixtures when present. */
export async function photos(): Promise<string[]> {
  const list = async (dir: string): Promise<string[]> => {
    try {
      return (await readdir(dir)).filter((f) => /\.(jpe?g|png|bmp)$/i.test(f) && !f.includes('mask')).sort().map((f) => join(dir, f));
    } catch {
      return [];
    }
  };
  return [...(await list(join(REPO, 'samples'))), ...(await list(SHARED_PHOTOS))];
}

/** Exports the float graph, and lays the model out as transformers.js expects (`<name>/onnx/model.onnx`). */
export async function prepareModel(dir: string, modelDir: string, name: string): Promise<{ onnxPath: string; root: string }> {
  const lib = await import('../src/index.js');
  const model = await lib.loadPretrained(modelDir);
  const root = join(dir, 'transformers');
  await mkdir(join(root, name, 'onnx'), { recursive: true });
  const onnxPath = join(root, name, 'onnx', 'model.onnx');
  await writeFile(onnxPath, await model.exportOnnx({}, 'fp32'));
  await model.dispose();
  for (const file of ['config.json', 'preprocessor_config.json']) await copyFile(join(modelDir, file), join(root, name, file));
  return { onnxPath, root };
}

/** Runs one group of engines interleaved; returns its rows. Engines that fail to start are skipped. */
async function runGroup(specs: readonly EngineSpec[], rounds: number, skipped: string[]): Promise<ResultRow[]> {
  const handles: WorkerHandle[] = [];
  for (const spec of specs) {
    try {
      handles.push(await WorkerHandle.start(spec));
    } catch (err) {
      skipped.push(`${spec.engine} (batch ${spec.batch}, ${spec.size}, ${spec.threads} thread(s)): ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const calls = new Map<WorkerHandle, number>();
  for (const h of handles) calls.set(h, Math.min(MAX_CALLS_PER_TURN, Math.max(1, Math.ceil(TURN_MS / median(await h.run(WARMUP_CALLS))))));
  const samples = new Map<WorkerHandle, number[]>(handles.map((h) => [h, []]));
  for (let r = 0; r < rounds; r++) {
    // Each round starts with the next engine, so no engine always follows the same neighbour.
    for (let k = 0; k < handles.length; k++) {
      const h = handles[(r + k) % handles.length]!;
      samples.get(h)!.push(...(await h.run(calls.get(h)!)));
    }
  }
  const reference = await handles.find((h) => h.spec.engine === 'ours-fp32')?.logits();
  const rows: ResultRow[] = [];
  for (const h of handles) {
    const logits = await h.logits();
    const diff = logits && reference ? maxAbsDiff(logits, reference) : undefined;
    rows.push(row(h.spec.engine, h.spec, h.threads, samples.get(h)!, h.imagesPerCall, await h.close(), diff));
  }
  return rows;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** int8 against fp32 top-1 on every photo (checkpoint's own quantization, else calibrated on the photos). */
async function int8Agreement(modelDir: string, photoList: readonly string[]): Promise<PhotoAgreement[]> {
  const lib = await import('../src/index.js');
  const { pipeline } = await import('../src/pipelines/pipeline_node.js');
  const fp32 = await pipeline('image-classification', modelDir, { threads: 1 });
  const int8 = await pipeline('image-classification', modelDir, { threads: 1, dtype: 'int8' });
  try {
    const images = await Promise.all(photoList.map((p) => lib.loadImage(p)));
    if (!int8.model.quantization) {
      await int8.model.calibrate(images.slice(0, 4).map((image) => int8.processor.preprocess(image).pixelValues), { source: 'the benchmark photos' });
    }
    const out: PhotoAgreement[] = [];
    for (const [i, image] of images.entries()) {
      const [[a], [b]] = [await fp32.run([image], { topK: 1 }), await int8.run([image], { topK: 1 })];
      out.push({ photo: basename(photoList[i]!), fp32: a![0]!.index, int8: b![0]!.index });
    }
    return out;
  } finally {
    await fp32.dispose();
    await int8.dispose();
  }
}

/** Runs the whole benchmark. */
export async function runBenchmark(options: BenchOptions = {}): Promise<BenchReport> {
  const log = options.log ?? (() => undefined);
  const quick = options.quick ?? false;
  const rounds = quick ? 7 : 21;
  const threadCounts = quick ? [1] : [1, 2];
  const modelDir = resolve(options.model ?? DEFAULT_MODEL_DIR);
  const segDir = resolve(options.segmentationModel ?? join(REPO, 'models/deeplabv3_mnv2_pascal_quant'));
  const photoList = await photos();
  if (photoList.length === 0) throw new Error(`no photos found in ${join(REPO, 'samples')}`);
  const temp = await mkdtemp(join(tmpdir(), 'mobilenet-v2-bench-'));
  const results: ResultRow[] = [];
  const skipped: string[] = [];
  try {
    const cls = await prepareModel(temp, modelDir, 'classifier');
    const seg = await prepareModel(temp, segDir, 'segmenter');
    const base = { modelDir, onnxPath: cls.onnxPath, transformersRoot: cls.root, transformersName: 'classifier', image: photoList[0]!, photos: photoList };
    const group = async (label: string, engines: readonly EngineName[], shape: { batch: number; size: number; threads: number }, extra: Partial<EngineSpec> = {}): Promise<void> => {
      log(`${label}: ${engines.join(', ')}`);
      results.push(...(await runGroup(engines.map((engine) => ({ ...base, ...shape, ...extra, engine })), rounds, skipped)));
    };
    for (const threads of threadCounts) {
      for (const batch of quick ? [1] : [1, 8]) await group(`224×224, batch ${batch}, ${threads} thread(s)`, MODEL_ENGINES, { batch, size: 224, threads });
      await group(`decoded image → top-5, ${threads} thread(s)`, PIPELINE_ENGINES, { batch: 1, size: 224, threads });
      await group(`segmentation 513×513, ${threads} thread(s)`, SEGMENTATION_ENGINES, { batch: 1, size: 513, threads }, { modelDir: segDir, onnxPath: seg.onnxPath });
      // A folder of ordinary photos (JPEG/PNG: transformers.js reads files with sharp, which has no BMP loader).
      const folder = photoList.filter((p) => !/\.bmp$/i.test(p));
      const endToEnd = Array.from({ length: quick ? 24 : END_TO_END_PHOTOS }, (_, i) => folder[i % folder.length]!);
      log(`${endToEnd.length} photo files end to end, ${threads} thread(s): classify one after another and pipelined, transformers.js one after another and in batches of 8`);
      const files: Array<[EngineName, number]> = [['classify-sequential', 1], ['classify-pipelined', 8], ['transformers-js-files', 1], ['transformers-js-files', 8]];
      results.push(...(await runGroup(files.map(([engine, batch]) => ({ ...base, engine, batch, size: 224, threads, photos: endToEnd })), quick ? 3 : 5, skipped)));
    }
    log('cold start: classify one photo in a fresh process');
    for (const c of await coldStart(temp, { root: cls.root, name: 'classifier' }, modelDir, photoList[0]!, quick ? 2 : 5)) {
      results.push(row(c.name, { batch: 1, size: 224 }, null, [c.ms], 1, c.rssMb));
    }
    log('int8 top-1 agreement on the photos');
    const agreement = await int8Agreement(modelDir, photoList);
    log('per-stage profile of the photo path');
    const profile = await profilePhotoPath(modelDir, photoList);
    return { results, ratios: ratios(results, threadCounts), int8_top1: agreement, profile, skipped };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
