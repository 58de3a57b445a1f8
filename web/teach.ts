/**
 * The "your own classes" panel, Teachable-Machine style: name classes, drop images into each,
 * train a head on the page's classifier backbone (`trainClassifier`, all in the browser), or the
 * head and the last one or two blocks (fine-tuning: the backward graphs run on onnxruntime-web
 * too), classify an image with it, and download the checkpoint folder as a zip.
 * `window.mobilenetDemo.teach` exposes it to the browser test.
 */
import { zipSync } from 'fflate';
import {
  ImageClassificationPipeline, ImageFeatureExtractionPipeline, loadImageInBrowser, trainClassifier, trainedFiles,
  type ClassificationResult, type LabeledImage, type TrainResult,
} from '../src/browser.js';
import { byId } from './view.js';

/** What `train()` reports. */
export interface TeachSummary {
  classes: string[];
  images: number;
  epochs: number;
  /** Blocks fine-tuned with the head (0: the head alone). */
  fineTuned: number;
  /** Fine-tuning epochs run. */
  fineTuneEpochs: number;
  /** Top-1 on the held-out images, null when none was held out. */
  validationTop1: number | null;
}

/** The panel's entry points, as `window.mobilenetDemo.teach`. */
export interface TeachApi {
  /** Adds decoded images of `files` to class `label` (created when new). */
  addImages(label: string, files: readonly File[]): Promise<number>;
  /** Trains the head, and with `fineTune` 1 or 2 also the last blocks (default: the panel's choice). */
  train(fineTune?: number): Promise<TeachSummary>;
  classify(file: Blob, name: string): Promise<ClassificationResult[]>;
  /** The checkpoint folder as zip bytes (also offered as a download link). */
  zip(): Promise<Uint8Array>;
}

/** The training set: class name → its decoded images. */
const examples = new Map<string, LabeledImage[]>();
let trained: { result: TrainResult; classifier: ImageClassificationPipeline } | undefined;

function status(text: string): void {
  byId('teach-status').textContent = text;
}

function showClasses(): void {
  const list = byId('teach-classes');
  list.replaceChildren(...[...examples].map(([label, items]) => {
    const li = document.createElement('li');
    li.textContent = `${label}: ${items.length} image${items.length === 1 ? '' : 's'}`;
    return li;
  }));
}

/**
 * Builds the panel on `backbone` (the page's classifier): trained heads reuse its model and
 * processor, so nothing is downloaded again.
 */
export function createTeachPanel(backbone: () => ImageClassificationPipeline): TeachApi {
  const api: TeachApi = {
    async addImages(label, files) {
      const name = label.trim();
      if (!name) throw new Error('name the class first');
      const items = examples.get(name) ?? [];
      for (const file of files) items.push({ label: name, name: file.name, image: await loadImageInBrowser(file, file.name) });
      examples.set(name, items);
      showClasses();
      return items.length;
    },
    async train(fineTune = Number(byId<HTMLSelectElement>('teach-fine-tune').value)) {
      status('training…');
      const base = backbone();
      const extractor = new ImageFeatureExtractionPipeline(base.model, base.processor);
      const result = await trainClassifier({ train: [...examples.values()].flat() }, {
        model: extractor, fineTune,
        onFineTuneEpoch: (e) => status(`fine-tuning the last ${fineTune} block${fineTune > 1 ? 's' : ''}: epoch ${e.epoch}, loss ${e.trainLoss.toFixed(3)}`),
      });
      trained = { result, classifier: new ImageClassificationPipeline(result.model, base.processor) };
      const { report } = result;
      const summary = {
        classes: report.classes, images: report.images.train + report.images.val, epochs: report.epochs.length,
        fineTuned: report.fineTune?.blocks ?? 0, fineTuneEpochs: report.fineTune?.epochs.length ?? 0, validationTop1: report.validation?.top1 ?? null,
      };
      const tuned = summary.fineTuned ? ` and the last ${summary.fineTuned} block${summary.fineTuned > 1 ? 's' : ''} in ${summary.fineTuneEpochs} more` : '';
      status(`trained ${summary.classes.join(', ')} on ${summary.images} images in ${report.epochs.length} epochs${tuned}`);
      byId<HTMLButtonElement>('teach-download').disabled = false;
      return summary;
    },
    async classify(file, name) {
      if (!trained) throw new Error('train first');
      const results = await trained.classifier(await loadImageInBrowser(file, name), { topK: 3 });
      status(`${name}: ${results.map((r) => `${r.label} ${(100 * r.score).toFixed(1)}%`).join(', ')}`);
      return results;
    },
    async zip() {
      if (!trained) throw new Error('train first');
      return zipSync(await trainedFiles(trained.result));
    },
  };
  wire(api);
  return api;
}

function wire(api: TeachApi): void {
  const report = (err: unknown) => status(`error: ${err instanceof Error ? err.message : String(err)}`);
  const className = byId<HTMLInputElement>('teach-class');
  const addFiles = (files: FileList | null | undefined) => {
    if (files?.length) api.addImages(className.value, Array.from(files)).catch(report);
  };
  byId<HTMLInputElement>('teach-files').addEventListener('change', (event) => addFiles((event.target as HTMLInputElement).files));
  const drop = byId('teach-drop');
  drop.addEventListener('dragover', (event) => event.preventDefault());
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    addFiles(event.dataTransfer?.files);
  });
  byId('teach-train').addEventListener('click', () => void api.train().catch(report));
  const test = byId<HTMLInputElement>('teach-test');
  test.addEventListener('change', () => {
    const file = test.files?.[0];
    if (file) api.classify(file, file.name).catch(report);
  });
  byId('teach-download').addEventListener('click', () => {
    api.zip().then((bytes) => {
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
      link.download = 'my-classifier.zip';
      link.click();
    }, report);
  });
}
