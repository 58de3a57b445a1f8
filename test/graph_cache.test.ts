/**
 * Weights read on first use, and the compiled-graph cache: a second process-like load of the same
 * checkpoint runs from the cached graph without reading the tensor data, with identical outputs.
 */
import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import '../src/node/setup.js';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../src/errors.js';
import type { ModelFiles } from '../src/hub/model_files.js';
import { LocalFiles } from '../src/hub/local_files_node.js';
import { loadPretrained, MobileNetV2ForImageClassification } from '../src/model/modeling_mobilenet_v2.js';
import { libraryCodeHash } from '../src/node/graph_cache.js';
import type { Float32Tensor } from '../src/tensor.js';
import { REPO_ROOT } from './helpers.js';

/** LocalFiles that counts whole-file reads per name. */
function counting(folder: string): ModelFiles & { reads: Map<string, number> } {
  const local = new LocalFiles(folder);
  const reads = new Map<string, number>();
  return {
    description: local.description,
    reads,
    read: (name) => {
      reads.set(name, (reads.get(name) ?? 0) + 1);
      return local.read(name);
    },
    stat: (name) => local.stat(name),
    readRange: (name, start, length) => local.readRange(name, start, length),
  };
}

const pixels: Float32Tensor = { dtype: 'float32', shape: [1, 3, 40, 40], data: new Float32Array(3 * 40 * 40).map((_, i) => Math.sin(i)) };
let dir: string;
let cache: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mnv2-cache-'));
  cache = join(dir, 'cache');
  process.env['MOBILENET_V2_CACHE'] = cache;
  const model = MobileNetV2ForImageClassification.fromConfig(new MobileNetV2Config({ depthMultiplier: 0.35, numLabels: 4 }));
  await model.savePretrained(join(dir, 'model'));
});
after(async () => {
  delete process.env['MOBILENET_V2_CACHE'];
  await rm(dir, { recursive: true, force: true });
});

describe('weights on first use and the compiled-graph cache', () => {
  it('validates from the header, reads data only to build a graph, and reuses the cached graph', async () => {
    const first = counting(join(dir, 'model'));
    const a = await loadPretrained(first);
    assert.equal(first.reads.get('model.safetensors'), undefined, 'loading reads only the header');
    const outA = await a.forward(pixels);
    assert.equal(first.reads.get('model.safetensors'), 1);
    assert.equal((await readdir(join(cache, 'graphs'))).filter((f) => f.endsWith('.onnx')).length, 1);
    await a.dispose();

    const second = counting(join(dir, 'model'));
    const b = await loadPretrained(second);
    const outB = await b.forward(pixels);
    assert.equal(second.reads.get('model.safetensors'), undefined, 'a cached graph needs no weights');
    assert.deepEqual(outB.logits!.data, outA.logits!.data);
    // Anything else that needs the weights still reads them.
    assert.equal((await b.getStateDict()).size, (await a.getStateDict()).size);
    assert.equal(second.reads.get('model.safetensors'), 1);
    await b.dispose();
  });

  it('a changed checkpoint or request misses the cache', async () => {
    const model = await loadPretrained(join(dir, 'model'));
    await model.forward(pixels, { outputHiddenStates: true });
    assert.equal((await readdir(join(cache, 'graphs'))).length, 2);
    await model.dispose();
    const other = MobileNetV2ForImageClassification.fromConfig(new MobileNetV2Config({ depthMultiplier: 0.35, numLabels: 4, initializerRange: 0.5 }));
    await other.savePretrained(join(dir, 'model'));
    const reloaded = counting(join(dir, 'model'));
    const changed = await loadPretrained(reloaded);
    const out = await changed.forward(pixels);
    assert.equal(reloaded.reads.get('model.safetensors'), 1, 'new weights are read, not served from the old graph');
    assert.deepEqual(out.logits!.data, (await other.forward(pixels)).logits!.data);
    await Promise.all([changed.dispose(), other.dispose()]);
  });

  it('still rejects a truncated or wrongly shaped checkpoint when loading', async () => {
    const bad = join(dir, 'bad');
    await MobileNetV2ForImageClassification.fromConfig(new MobileNetV2Config({ depthMultiplier: 0.35, numLabels: 4 })).savePretrained(bad);
    const files = new LocalFiles(bad);
    const bytes = (await files.read('model.safetensors'))!;
    await writeFile(join(bad, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    await assert.rejects(loadPretrained(bad), (e: Error) => e instanceof MobileNetV2Error && /truncated|bytes after|beyond/.test(e.message));
    await writeFile(join(bad, 'config.json'), JSON.stringify({ model_type: 'mobilenet_v2', depth_multiplier: 0.5, num_labels: 4 }));
    await writeFile(join(bad, 'model.safetensors'), bytes);
    await assert.rejects(loadPretrained(bad), /has shape .* but the config needs/);
  });

  it('keys on all of the library code: editing the TFLite importer (outside the graph folders) changes the key', async () => {
    const copy = join(dir, 'code');
    await cp(join(REPO_ROOT, 'dist/src'), copy, { recursive: true, filter: (src) => !src.endsWith('.map') && !src.endsWith('.d.ts') });
    const before = libraryCodeHash(copy);
    assert.equal(libraryCodeHash(copy), before, 'stable');
    await appendFile(join(copy, 'convert/tflite/quantization.js'), '\n// edited\n');
    const afterImporterEdit = libraryCodeHash(copy);
    assert.notEqual(afterImporterEdit, before);
    await writeFile(join(copy, 'convert/tflite/new_module.js'), 'export {};\n');
    assert.notEqual(libraryCodeHash(copy), afterImporterEdit, 'a new module changes the key too');
  });
});
