/**
 * Builds the demo page into dist/demo/ with esbuild: bundles web/main.ts (and the library's browser
 * entry point), and copies the page, onnxruntime-web's WebAssembly files (served by the page itself:
 * no CDN) and the built-in models from models/. Usage: node web/build.mjs [outDir]
 */
import { build } from 'esbuild';
import { copyFile, cp, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? resolve(root, 'dist/demo'));
const MODELS = ['mobilenet_v2_1.0_224_quant', 'deeplabv3_mnv2_pascal_quant'];
// onnxruntime-web's default build (JSEP: WASM and WebGPU in one binary) loads these two files.
const ORT_FILES = ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];

for (const model of MODELS) {
  const folder = resolve(root, 'models', model);
  if (!(await stat(folder).catch(() => null))?.isDirectory()) {
    throw new Error(`built-in model ${folder} is missing: the demo serves the package's models/ (npm run build:models converts them)`);
  }
}
await rm(out, { recursive: true, force: true });
await mkdir(resolve(out, 'ort'), { recursive: true });
await build({
  entryPoints: [resolve(root, 'web/main.ts')],
  outfile: resolve(out, 'main.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  // The non-embedding onnxruntime-web build: its WebAssembly loader is fetched from wasmPaths.
  conditions: ['onnxruntime-web-use-extern-wasm'],
  logLevel: 'warning',
});
await Promise.all([
  ...['index.html', 'style.css'].map((file) => copyFile(resolve(root, 'web', file), resolve(out, file))),
  ...ORT_FILES.map((file) => copyFile(fileURLToPath(import.meta.resolve(`onnxruntime-web/${file}`)), resolve(out, 'ort', file))),
  ...MODELS.map((model) => cp(resolve(root, 'models', model), resolve(out, 'models', model), { recursive: true })),
]);
console.log(`demo page built in ${out}`);
