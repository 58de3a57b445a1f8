/**
 * `npm run test:browser`: the demo page (built into dist/demo by `npm run build:web`) served on
 * 127.0.0.1 and driven in Debian's headless Chromium. It picks `cat.bmp` and
 * `bird_segmentation.bmp` through the page's file input and checks that the browser (onnxruntime-web,
 * WebAssembly) decodes the same pixels and finds the same top-1 class, probability (within 1e-3)
 * and bird share as Node (onnxruntime-node), that the models come from the Cache Storage after a
 * reload, and saves screenshots. Prints `N passed, N failed`; exits non-zero on any failure.
 *
 * `node dist/test/browser/run.js --serve [port]` only serves the page, for a person to open.
 */
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { unzipSync } from 'fflate';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { REAL_FIXTURES, REPO_ROOT, requireFixtures } from '../helpers.js';
import { ensureChromium, launchChromium } from './chromium.js';
import { NodeReference, type NodeResult, type Speed } from './node_reference.js';
import { serveStatic } from './server.js';

const DEMO_DIR = resolve(REPO_ROOT, 'dist/demo');
const OUTPUT_DIR = resolve(REPO_ROOT, 'dist/browser-test');
const CAT = resolve(REAL_FIXTURES, 'images/cat.bmp');
const BIRD = resolve(REAL_FIXTURES, 'images/bird_segmentation.bmp');
/** Loading and warming up both models; generous for a busy 2-core machine. */
const LOAD_TIMEOUT_MS = 180_000;
const RUNS = { classify: 10, segment: 3 };
const ROUNDS = 2;
/** WebAssembly threads for the page: one per core, as onnxruntime-node uses (up to 4). */
const THREADS = Math.min(4, availableParallelism());

/** The part of the page's `window.mobilenetDemo` (web/main.ts) this test reads. */
interface PageResult {
  file: string;
  pixelsSha256: string;
  classes: { label: string; score: number }[];
  segments: { label: string; share: number }[];
}
interface PageState {
  state: string;
  error?: string;
  result?: PageResult | undefined;
  runtime?: { executionProviders: string[]; threads: number; crossOriginIsolated: boolean };
  loadMs?: { classifier: number; segmenter: number };
}
declare const window: { mobilenetDemo?: PageState & { benchmark(runs: typeof RUNS): Promise<Speed> } };

let passed = 0;
let failed = 0;

/** Records one check and prints it. */
function check(ok: boolean, what: string, detail = ''): void {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok    ' : 'FAILED'} ${what}${detail ? `: ${detail}` : ''}`);
}

/** Waits until `done` holds in the page, then returns the page's state (throws when the page failed). */
async function waitForPage(page: Page, done: () => boolean): Promise<PageState> {
  await page.waitForFunction(done, null, { timeout: LOAD_TIMEOUT_MS });
  const demo = await page.evaluate(() => {
    const { state, error, result, runtime, loadMs } = window.mobilenetDemo!;
    return { state, error, result, runtime, loadMs };
  });
  if (demo.state === 'error') throw new Error(`the page failed: ${demo.error}`);
  return demo;
}

/** Opens the page and waits for its models. */
async function openPage(page: Page, url: string): Promise<PageState> {
  await page.goto(`${url}?ep=wasm&threads=${THREADS}`);
  return waitForPage(page, () => (window.mobilenetDemo?.state ?? 'loading') !== 'loading');
}

/** Picks `path` in the page's file input and returns what the page found. */
async function analyse(page: Page, path: string): Promise<PageResult> {
  await page.evaluate(() => {
    window.mobilenetDemo!.result = undefined;
  });
  await page.setInputFiles('#file', path);
  const { result } = await waitForPage(page, () => window.mobilenetDemo!.result !== undefined || window.mobilenetDemo!.state === 'error');
  if (result?.file !== basename(path)) throw new Error(`the page shows ${result?.file}, not ${basename(path)}`);
  return result;
}

/** Drops `path` onto the page's drop zone (as a synthetic drag and drop) and returns what the page found. */
async function drop(page: Page, path: string, name: string): Promise<PageResult> {
  const base64 = (await readFile(path)).toString('base64');
  await page.evaluate(([data, fileName]) => {
    window.mobilenetDemo!.result = undefined;
    const transfer = new DataTransfer();
    transfer.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], fileName));
    document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, [base64, name] as const);
  const { result } = await waitForPage(page, () => window.mobilenetDemo!.result !== undefined || window.mobilenetDemo!.state === 'error');
  return result!;
}

function compareImage(name: string, browser: PageResult, node: NodeResult): void {
  check(browser.pixelsSha256 === node.pixelsSha256, `${name}: Chromium decodes the same RGB pixels as Node`, browser.pixelsSha256.slice(0, 16));
}

async function screenshot(page: Page, name: string): Promise<void> {
  const path = join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  check((await stat(path)).size > 10_000, `screenshot saved`, path);
}

/** An image file for `setInputFiles`, made from a sample photo (flipped, or its centre cut out). */
async function variant(name: string, edit: 'flip' | 'centre'): Promise<{ name: string; mimeType: string; buffer: Buffer }> {
  const image = sharp(join(REPO_ROOT, 'samples', name));
  const { width, height } = await image.metadata();
  const edited = edit === 'flip' ? image.flop() : image.extract({ left: Math.round(width * 0.1), top: Math.round(height * 0.1), width: Math.round(width * 0.8), height: Math.round(height * 0.8) });
  return { name: `${edit}-${name.replace(/\.jpg$/, '.png')}`, mimeType: 'image/png', buffer: await edited.png().toBuffer() };
}

/**
 * The "your own classes" panel: two classes from the samples, trained in the page (the head, then
 * the head with the last two blocks), a new view of each classified, and the checkpoint zip.
 */
async function teachChecks(page: Page): Promise<void> {
  for (const label of ['cat', 'bird']) {
    const original = { name: `${label}.jpg`, mimeType: 'image/jpeg', buffer: await readFile(join(REPO_ROOT, 'samples', `${label}.jpg`)) };
    await page.fill('#teach-class', label);
    await page.setInputFiles('#teach-files', [original, await variant(`${label}.jpg`, 'flip')]);
    await page.waitForFunction((l) => document.getElementById('teach-classes')!.textContent.includes(`${l}: 2 images`), label, { timeout: LOAD_TIMEOUT_MS });
  }
  // The head alone, then the head with the last two blocks (the backward graphs on onnxruntime-web).
  for (const fineTune of ['0', '2']) {
    await page.selectOption('#teach-fine-tune', fineTune);
    const summary = await page.evaluate(() => (window as unknown as TeachWindow).mobilenetDemo.teach.train());
    const what = fineTune === '0' ? 'your own classes' : 'your own classes, last 2 blocks fine-tuned';
    check(summary.classes.join() === 'bird,cat' && summary.images === 4 && summary.fineTuned === Number(fineTune) && (fineTune === '0' || summary.fineTuneEpochs > 0),
      `${what}: trains bird and cat in the page`, JSON.stringify(summary));
    for (const label of ['cat', 'bird']) {
      const file = await variant(`${label}.jpg`, 'centre');
      const top = await page.evaluate(async ([data, name]) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        return (await (window as unknown as TeachWindow).mobilenetDemo.teach.classify(new Blob([bytes]), name))[0]!.label;
      }, [file.buffer.toString('base64'), file.name] as const);
      check(top === label, `${what}: the centre of ${label}.jpg is classified "${label}"`, top);
    }
  }
  const zipBase64 = await page.evaluate(async () => {
    const bytes = await (window as unknown as TeachWindow).mobilenetDemo.teach.zip();
    return new Promise<string>((done) => {
      const reader = new FileReader();
      reader.onload = () => done((reader.result as string).split(',')[1]!);
      reader.readAsDataURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    });
  });
  const files = unzipSync(Buffer.from(zipBase64, 'base64'));
  const config = JSON.parse(new TextDecoder().decode(files['config.json'])) as { id2label?: Record<string, string> };
  check(['config.json', 'model.safetensors', 'preprocessor_config.json'].every((f) => f in files) && JSON.stringify(config.id2label) === '{"0":"bird","1":"cat"}',
    'your own classes: the downloaded zip holds config.json (bird, cat), model.safetensors and preprocessor_config.json', Object.keys(files).join(', '));
}

/** The panel's part of the page's API (web/teach.ts). */
interface TeachWindow {
  mobilenetDemo: { teach: {
    train(): Promise<{ classes: string[]; images: number; fineTuned: number; fineTuneEpochs: number }>;
    classify(file: Blob, name: string): Promise<Array<{ label: string }>>;
    zip(): Promise<Uint8Array>;
  } };
}

async function runChecks(page: Page, url: string, requests: string[], node: NodeReference): Promise<void> {
  const started = await openPage(page, url);
  console.log(`page ready: ${JSON.stringify(started.runtime)}, model load + warm-up ms ${JSON.stringify(started.loadMs)}`);
  const runtime = started.runtime!;
  check(runtime.crossOriginIsolated && runtime.threads === THREADS, 'the page is cross-origin isolated and runs the requested WebAssembly threads',
    `${runtime.threads} of ${THREADS}`);

  const cat = await analyse(page, CAT);
  const nodeCat = await node.analyse(CAT);
  compareImage('cat.bmp', cat, nodeCat);
  const [top, nodeTop] = [cat.classes[0]!, nodeCat.classes[0]!];
  check(top.label === 'Egyptian cat' && nodeTop.label === 'Egyptian cat', 'cat.bmp: top-1 is "Egyptian cat" in Chromium and Node', `${top.label} / ${nodeTop.label}`);
  check(Math.abs(top.score - nodeTop.score) <= 1e-3, 'cat.bmp: top-1 probability equals Node\'s within 1e-3', `${top.score} vs ${nodeTop.score}`);
  await screenshot(page, 'cat');

  const bird = await analyse(page, BIRD);
  const nodeBird = await node.analyse(BIRD);
  compareImage('bird_segmentation.bmp', bird, nodeBird);
  const share = bird.segments.find((s) => s.label === 'bird')?.share ?? 0;
  const nodeShare = nodeBird.shares.get('bird') ?? 0;
  check(share > 0 && share === nodeShare, 'bird_segmentation.bmp: bird share equals Node\'s', `${share} vs ${nodeShare}`);
  await screenshot(page, 'bird_segmentation');

  const dropped = await drop(page, CAT, 'dropped.bmp');
  check(dropped.file === 'dropped.bmp' && dropped.classes[0]!.score === top.score, 'an image dropped on the page is analysed like a picked one', `${dropped.file}: ${dropped.classes[0]!.label}`);

  await teachChecks(page);

  // Other work on the machine skews single measurements: alternate the two and keep each one's best.
  const speeds: { browser: Speed[]; node: Speed[] } = { browser: [], node: [] };
  for (let round = 0; round < ROUNDS; round++) {
    speeds.browser.push(await page.evaluate((runs) => window.mobilenetDemo!.benchmark(runs), RUNS));
    speeds.node.push(await node.benchmark(nodeCat.image, RUNS));
  }
  const best = (list: Speed[], key: keyof Speed) => Math.min(...list.map((s) => s[key])).toFixed(1);
  console.log(`ms/image on cat.bmp (best of ${ROUNDS}), Chromium with ${runtime.threads} WebAssembly thread(s), Node with onnxruntime-node's default threads:`);
  console.log(`  classification: Chromium WASM ${best(speeds.browser, 'classifyMs')}, Node ${best(speeds.node, 'classifyMs')}`);
  console.log(`  segmentation:   Chromium WASM ${best(speeds.browser, 'segmentMs')}, Node ${best(speeds.node, 'segmentMs')}`);

  const before = requests.length;
  await openPage(page, url);
  const refetched = requests.slice(before).filter((path) => path.startsWith('/models/'));
  check(refetched.length === 0, 'after a reload the models come from the Cache Storage', refetched.join(', ') || 'no model requests');
}

async function main(): Promise<void> {
  if (!(await stat(join(DEMO_DIR, 'index.html')).catch(() => null))) throw new Error(`${DEMO_DIR} has no page: run npm run build:web`);
  if (process.argv[2] === '--serve') {
    const server = await serveStatic(DEMO_DIR, Number(process.argv[3] ?? 8080));
    console.log(`serving the demo at ${server.url} (Ctrl-C stops)`);
    return;
  }
  const { skip } = requireFixtures(CAT, BIRD);
  if (skip) {
    console.log(`browser test skipped: it ${skip}`);
    return;
  }
  ensureChromium();
  await mkdir(OUTPUT_DIR, { recursive: true });
  const profile = await mkdtemp(join(tmpdir(), 'mobilenet-v2-chromium-'));
  const server = await serveStatic(DEMO_DIR);
  const node = await NodeReference.load();
  const context = await launchChromium(profile);
  try {
    const page = await context.newPage();
    page.on('pageerror', (err) => check(false, 'no uncaught error in the page', err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') console.log(`[page console] ${msg.text()}`);
    });
    await runChecks(page, server.url, server.requests, node);
  } catch (err) {
    check(false, 'the browser test ran to the end', (err as Error).message);
  } finally {
    await context.close();
    await server.close();
    await node.dispose();
    await rm(profile, { recursive: true, force: true });
  }
  console.log(`screenshots in ${OUTPUT_DIR}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
