/**
 * The demo page: loads the built-in classifier and segmenter served with the page, then for each
 * picked or dropped image shows the top-5 ImageNet classes, the PASCAL VOC segmentation blended
 * over the picture with a colour legend, and timings. `window.mobilenetDemo` exposes the state and
 * results to the browser test.
 *
 * Query parameters: `ep=wasm|webgpu|auto` (default auto: WebGPU where the browser gives an
 * adapter), `threads=N` (WebAssembly threads; default onnxruntime-web's choice).
 */
import {
  configureOrtWeb, hasWebGpu, loadImageInBrowser, overlayPalette, pipeline, wasmThreads,
  type ClassificationResult, type DownloadProgress, type ImageClassificationPipeline,
  type ImageSegmentationPipeline, type RawImage,
} from '../src/browser.js';
import { createTeachPanel, type TeachApi } from './teach.js';
import { byId, percent, showClasses, showModelStatus, showSegmentation, showTimings } from './view.js';

/** The models served with the page (copied from the package's `models/` by the build). */
const MODELS = {
  classifier: './models/mobilenet_v2_1.0_224_quant',
  segmenter: './models/deeplabv3_mnv2_pascal_quant',
} as const;

/** How strongly class colours cover the picture. */
const OVERLAY_ALPHA = 0.45;

/** One class present in the segmentation. */
export interface SegmentShare {
  index: number;
  label: string;
  pixels: number;
  /** Pixels of this class / all pixels of the image. */
  share: number;
  /** Mean probability of the class over its pixels. */
  score: number;
}

/** What the page found in one image. */
export interface DemoResult {
  file: string;
  width: number;
  height: number;
  /** SHA-256 (hex) of the decoded RGB pixels, to compare the browser's decoder with Node's. */
  pixelsSha256: string;
  classes: ClassificationResult[];
  segments: SegmentShare[];
  timings: { decodeMs: number; classifyMs: number; segmentMs: number };
}

/** The page's state and entry points, as `window.mobilenetDemo`. */
export interface DemoApi {
  state: 'loading' | 'ready' | 'running' | 'done' | 'error';
  error?: string;
  runtime?: { executionProviders: string[]; threads: number | undefined; crossOriginIsolated: boolean };
  /** Milliseconds to download, build and warm up each model. */
  loadMs?: { classifier: number; segmenter: number };
  result?: DemoResult;
  /** Analyses an image file, as picking it does. */
  analyse(file: Blob, name: string): Promise<DemoResult>;
  /** Mean milliseconds per image of the two pipelines on the last image (decoded pixels in, results out). */
  benchmark(runs: { classify: number; segment: number }): Promise<{ classifyMs: number; segmentMs: number }>;
  /** The "your own classes" panel. */
  teach: TeachApi;
}

declare global {
  interface Window {
    mobilenetDemo: DemoApi;
  }
}

const params = new URLSearchParams(location.search);
const palette = overlayPalette();
let classifier: ImageClassificationPipeline;
let segmenter: ImageSegmentationPipeline;
let lastImage: RawImage | undefined;

const api: DemoApi = { state: 'loading', analyse, benchmark, teach: createTeachPanel(() => classifier) };
window.mobilenetDemo = api;

function setState(state: DemoApi['state'], message = ''): void {
  api.state = state;
  document.body.dataset.state = state;
  byId('message').textContent = message;
}

/** Milliseconds `action` takes, with its result. */
async function timed<T>(action: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await action();
  return [value, performance.now() - start];
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A mid-grey RGB image, to run each model once before the first real image. */
function greyImage(size: number): RawImage {
  return { data: new Uint8Array(size * size * 3).fill(128), width: size, height: size, channels: 3 };
}

/** Reports download progress of one model's files in its row. */
function progressOf(key: string): (event: DownloadProgress) => void {
  return ({ file, loaded, total, done }) => {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const of = total ? ` of ${mb(total)}` : '';
    showModelStatus(key, `${done ? 'got' : 'fetching'} ${file}: ${mb(loaded)}${of} MB`, total ? loaded / total : undefined);
  };
}

async function loadModels(): Promise<void> {
  const threads = params.get('threads');
  configureOrtWeb({ wasmPaths: new URL('./ort/', location.href).href, ...(threads ? { numThreads: Number(threads) } : {}) });
  const ep = params.get('ep') ?? 'auto';
  const webgpu = ep === 'webgpu' || (ep === 'auto' && (await hasWebGpu()));
  const executionProviders = webgpu ? ['webgpu', 'wasm'] : ['wasm'];
  const options = { executionProviders };
  const [loadedClassifier, classifierMs] = await timed(async () => {
    const pipe = await pipeline('image-classification', MODELS.classifier, { ...options, progress: progressOf('classifier') });
    await pipe(greyImage(224));
    return pipe;
  });
  showModelStatus('classifier', `ready in ${classifierMs.toFixed(0)} ms`, 1);
  const [loadedSegmenter, segmenterMs] = await timed(async () => {
    const pipe = await pipeline('image-segmentation', MODELS.segmenter, { ...options, progress: progressOf('segmenter') });
    await pipe.predict([greyImage(513)]);
    return pipe;
  });
  showModelStatus('segmenter', `ready in ${segmenterMs.toFixed(0)} ms`, 1);
  classifier = loadedClassifier;
  segmenter = loadedSegmenter;
  api.loadMs = { classifier: classifierMs, segmenter: segmenterMs };
  api.runtime = { executionProviders, threads: wasmThreads(), crossOriginIsolated };
  byId('runtime').textContent = `ONNX Runtime Web: ${executionProviders.join(' → ')}, ${wasmThreads()} WebAssembly thread(s), ` +
    `cross-origin isolated: ${crossOriginIsolated ? 'yes' : 'no'}`;
}

async function analyse(file: Blob, name: string): Promise<DemoResult> {
  setState('running', `analysing ${name}…`);
  const [image, decodeMs] = await timed(() => loadImageInBrowser(file, name));
  const [classes, classifyMs] = await timed(() => classifier(image, { topK: 5 }));
  const [[prediction], segmentMs] = await timed(() => segmenter.predict([image]));
  lastImage = image;
  const total = image.width * image.height;
  const result: DemoResult = {
    file: name,
    width: image.width,
    height: image.height,
    pixelsSha256: await sha256Hex(image.data),
    classes,
    segments: prediction!.segments.map((s) => ({ ...s, share: s.pixels / total })),
    timings: { decodeMs, classifyMs, segmentMs },
  };
  showClasses(classes);
  showSegmentation(prediction!, palette, OVERLAY_ALPHA);
  showTimings([['decode', decodeMs], ['classification (224×224)', classifyMs], ['segmentation (513×513)', segmentMs]]);
  byId('caption').textContent = `${name}, ${image.width}×${image.height}: top class ${classes[0]!.label} (${percent(classes[0]!.score)})`;
  byId('results').hidden = false;
  api.result = result;
  setState('done');
  return result;
}

async function benchmark(runs: { classify: number; segment: number }): Promise<{ classifyMs: number; segmentMs: number }> {
  const image = lastImage;
  if (!image) throw new Error('analyse an image first');
  const mean = async (count: number, action: () => Promise<unknown>) => {
    const start = performance.now();
    for (let i = 0; i < count; i++) await action();
    return (performance.now() - start) / count;
  };
  return {
    classifyMs: await mean(runs.classify, () => classifier(image, { topK: 5 })),
    segmentMs: await mean(runs.segment, () => segmenter.predict([image])),
  };
}

/** Runs an analysis from a user action, showing any failure on the page. */
function analyseFromUi(file: File | undefined): void {
  if (!file || api.state === 'loading' || api.state === 'running') return;
  analyse(file, file.name).catch(fail);
}

function fail(err: unknown): void {
  api.error = err instanceof Error ? err.message : String(err);
  setState('error', api.error);
}

function wireInput(): void {
  const input = byId<HTMLInputElement>('file');
  input.addEventListener('change', () => analyseFromUi(input.files?.[0]));
  const drop = byId('drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    analyseFromUi(event.dataTransfer?.files[0]);
  });
}

wireInput();
setState('loading', 'loading models…');
loadModels().then(() => setState('ready', 'pick or drop an image'), fail);
