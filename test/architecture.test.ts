/**
 * The source tree's shape: no import cycle between the folders of src/, and the one key-layout
 * rule (backbone keys carry `mobilenet_v2.` in the head models, head keys never do).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { checkpointKey, isHeadKey, moduleKeys, parameterSpecs } from '../src/model/architecture.js';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { REPO_ROOT } from './helpers.js';

const SRC = join(REPO_ROOT, 'src');
/** `import … from '…'`, `export … from '…'`, `import '…'` and `import('…')`. */
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*'([^']+)'|(?:^|\n)\s*import\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

/** Folder of a file relative to src/ (`convert/tflite`), or null for the root files (entry points, errors, platform). */
function folderOf(file: string): string | null {
  const folder = dirname(relative(SRC, file)).split('\\').join('/');
  return folder === '.' ? null : folder;
}

/** Folder → folders its files import from (relative imports only). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => join(SRC, f));
  for (const file of files) {
    const from = folderOf(file);
    if (from === null) continue;
    if (!graph.has(from)) graph.set(from, new Set());
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (!spec.startsWith('.')) continue;
      const to = folderOf(join(dirname(file), spec));
      if (to !== null && to !== from) graph.get(from)!.add(to);
    }
  }
  return graph;
}

/** A cycle in `graph` as a path `a → b → … → a`, or null. */
function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe('source layout', () => {
  it('has no import cycle between the folders of src/', () => {
    const graph = folderGraph();
    assert.ok(graph.get('model')?.has('quantization'), 'the scan sees model → quantization');
    assert.ok(graph.get('convert/tflite')?.has('model'), 'the scan sees convert/tflite → model');
    const cycle = findCycle(graph);
    assert.equal(cycle, null, `import cycle: ${cycle?.join(' → ')}`);
  });

  it('the cycle finder finds a planted cycle', () => {
    const graph = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]]);
    assert.deepEqual(findCycle(graph), ['a', 'b', 'c', 'a']);
  });
});

describe('key layout', () => {
  it('prefixes backbone keys in the head models only, never head keys', () => {
    assert.equal(checkpointKey('layer.3.conv_3x3'), 'mobilenet_v2.layer.3.conv_3x3');
    assert.equal(checkpointKey('mobilenet_v2.conv_1x1.convolution.weight'), 'mobilenet_v2.conv_1x1.convolution.weight');
    assert.equal(checkpointKey('mobilenet_v2.conv_1x1.convolution.weight', true), 'conv_1x1.convolution.weight');
    assert.equal(checkpointKey('classifier.weight'), 'classifier.weight');
    assert.equal(checkpointKey('segmentation_head.conv_pool'), 'segmentation_head.conv_pool');
    assert.equal(isHeadKey('classifier'), true);
    assert.equal(isHeadKey('classifier_extra.weight'), false);
    assert.deepEqual(moduleKeys('layer.0.expand_1x1'), {
      weight: 'mobilenet_v2.layer.0.expand_1x1.convolution.weight',
      bias: 'mobilenet_v2.layer.0.expand_1x1.normalization.bias',
      normalization: 'mobilenet_v2.layer.0.expand_1x1.normalization',
    });
    assert.deepEqual(moduleKeys('classifier'), { weight: 'classifier.weight', bias: 'classifier.bias', normalization: null });
  });

  it('every parameter of every class follows the rule', () => {
    const config = new MobileNetV2Config({ depthMultiplier: 0.35, numLabels: 5 });
    for (const architecture of ['MobileNetV2Model', 'MobileNetV2ForImageClassification', 'MobileNetV2ForSemanticSegmentation'] as const) {
      for (const { key } of parameterSpecs(config, architecture)) {
        const prefixed = key.startsWith('mobilenet_v2.');
        assert.equal(prefixed, architecture !== 'MobileNetV2Model' && !isHeadKey(key), `${architecture}: ${key}`);
      }
    }
  });
});
