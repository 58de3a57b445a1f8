/**
 * The model core's contracts: the graph builder's recorded quantization plan, the classifier head
 * with `num_labels = 0`, transformers' loading warnings, the pure problem-type rule, and
 * `await using` on models and pipelines.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import '../src/node/setup.js';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../src/errors.js';
import { parameterSpecs } from '../src/model/architecture.js';
import { buildGraph } from '../src/model/graph.js';
import { setLogger } from '../src/model/logging.js';
import { effectiveProblemType } from '../src/model/losses.js';
import {
  loadPretrained, MobileNetV2ForImageClassification, MobileNetV2ForSemanticSegmentation, type AnyMobileNetV2Model,
} from '../src/model/modeling_mobilenet_v2.js';
import { pipeline } from '../src/pipelines/pipeline_node.js';
import type { Float32Tensor, Tensor } from '../src/tensor.js';
import { REPO_ROOT } from './helpers.js';

const small = { depthMultiplier: 0.35 };

function pixels(batch: number, size: number): Float32Tensor {
  const data = new Float32Array(batch * 3 * size * size).map((_, i) => Math.sin(i * 0.37));
  return { dtype: 'float32', shape: [batch, 3, size, size], data };
}

/** Runs `body` with warnings captured instead of printed. */
async function captureWarnings(body: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const previous = setLogger((m) => seen.push(m));
  try {
    await body();
  } finally {
    setLogger(previous);
  }
  return seen;
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mnv2-core-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('graph builder: recorded quantization plan', () => {
  it('records the input, every module output, residual sums, pooling and the classifier, under record keys', () => {
    const config = new MobileNetV2Config({ ...small, numLabels: 3 });
    const specs = parameterSpecs(config, 'MobileNetV2ForImageClassification');
    const byKey = new Map(specs.map((p) => [p.key, p]));
    const weights = (key: string) => new Float32Array(byKey.get(key)!.shape.reduce((a, b) => a * b, 1)).fill(0.5);
    const { model, quantization } = buildGraph(config, weights, {
      architecture: 'MobileNetV2ForImageClassification', hiddenStates: [1], head: true, pooling: 'adaptive',
    });
    const keys = quantization.activations.map((p) => p.key);
    for (const key of ['input', 'mobilenet_v2.conv_stem.first_conv', 'mobilenet_v2.layer.0.reduce_1x1', 'mobilenet_v2.layer.1',
      'mobilenet_v2.layer.3', 'mobilenet_v2.conv_1x1', 'mobilenet_v2.pooler', 'classifier']) {
      assert.ok(keys.includes(key), `missing point ${key}`);
    }
    // Every recorded tensor exists in the graph, also after renaming to a public output.
    const tensors = new Set([...model.graph.node.flatMap((n) => n.output), ...model.graph.input.map((i) => i.name)]);
    for (const p of quantization.activations) assert.ok(tensors.has(p.tensor), `${p.key}: no tensor ${p.tensor}`);
    assert.equal(quantization.activations.find((p) => p.key === 'mobilenet_v2.layer.1')!.tensor, 'hidden_states.1');
    // Weight keys name real checkpoint keys.
    assert.equal(quantization.weightKeys.get('layer.3.conv_3x3'), 'mobilenet_v2.layer.3.conv_3x3.convolution.weight');
    assert.equal(quantization.weightKeys.get('classifier'), 'classifier.weight');
    for (const key of quantization.weightKeys.values()) assert.ok(byKey.has(key), key);
    // One opset, no producer version to go stale.
    assert.deepEqual(model.opsetImport.map((o) => o.domain), ['']);
    assert.equal(model.producerVersion, undefined);
  });
});

describe('classifier head with num_labels = 0', () => {
  for (const pooling of ['adaptive', 'tf'] as const) {
    it(`${pooling} pooling: logits are the pooled features, and labels give a MobileNetV2Error`, async () => {
      const model = MobileNetV2ForImageClassification.fromConfig(new MobileNetV2Config({ ...small, numLabels: 0 }));
      const out = await model.forward(pixels(1, 64), { pooling });
      assert.ok(out.logits, 'logits present');
      assert.deepEqual(out.logits.shape, out.poolerOutput!.shape);
      assert.deepEqual(out.logits.data, out.poolerOutput!.data);
      if (pooling === 'tf') {
        const labels: Tensor = { dtype: 'int64', shape: [1], data: new BigInt64Array([0n]) };
        await assert.rejects(model.forward(pixels(1, 64), { pooling, labels }), (e: Error) => e instanceof MobileNetV2Error && /\[batch, labels\] logits/.test(e.message));
      }
      await model.dispose();
    });
  }
});

describe('problem type', () => {
  const int64Labels: Tensor = { dtype: 'int64', shape: [2], data: new BigInt64Array([1n, 0n]) };
  const floatLabels: Tensor = { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 0, 1, 0, 1, 0]) };

  it('effectiveProblemType is pure: override, else config, else inferred from labels', () => {
    const config = new MobileNetV2Config({ ...small, numLabels: 3 });
    assert.equal(effectiveProblemType(config, int64Labels), 'single_label_classification');
    assert.equal(effectiveProblemType(config, floatLabels), 'multi_label_classification');
    assert.equal(effectiveProblemType(config, floatLabels, 'regression'), 'regression');
    assert.equal(effectiveProblemType(new MobileNetV2Config({ ...small, numLabels: 1 }), floatLabels), 'regression');
    assert.equal(config.problemType, null);
  });

  it('loss() leaves the config alone; forward() records an inferred type as transformers does, not an override', async () => {
    const model = MobileNetV2ForImageClassification.fromConfig(new MobileNetV2Config({ ...small, numLabels: 3 }));
    const pv = pixels(2, 32);
    const { logits } = await model.forward(pv);
    const multi = model.loss(logits!, floatLabels);
    assert.equal(model.config.problemType, null);
    await model.forward(pv, { labels: floatLabels, problemType: 'regression' });
    assert.equal(model.config.problemType, null);
    const viaForward = await model.forward(pv, { labels: floatLabels });
    assert.equal(viaForward.loss, multi);
    assert.equal(model.config.problemType, 'multi_label_classification');
    await model.dispose();
  });
});

describe("transformers' loading warnings", () => {
  let deeplab: string;
  before(async () => {
    deeplab = join(dir, 'deeplab');
    await MobileNetV2ForSemanticSegmentation.fromConfig(new MobileNetV2Config({ ...small, numLabels: 4 })).savePretrained(deeplab);
  });

  it('names the newly initialised head and the unused checkpoint weights', async () => {
    let model: MobileNetV2ForImageClassification | undefined;
    const seen = await captureWarnings(async () => (model = await MobileNetV2ForImageClassification.fromPretrained(deeplab)));
    assert.equal(seen.length, 2);
    assert.ok(seen[0]!.startsWith(`Some weights of the model checkpoint at ${deeplab} were not used when initializing MobileNetV2ForImageClassification: ['`), seen[0]);
    assert.ok(seen[0]!.includes("'segmentation_head.conv_pool.convolution.weight', "), seen[0]);
    assert.equal(seen[1], `Some weights of MobileNetV2ForImageClassification were not initialized from the model checkpoint at ${deeplab} ` +
      "and are newly initialized: ['classifier.weight', 'classifier.bias']\n" +
      'You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.');
    assert.deepEqual(model!.loadReport.missingKeys, ['classifier.weight', 'classifier.bias']);
  });

  it('says nothing for a matching checkpoint, with warnings: false, or with the logger silenced', async () => {
    assert.deepEqual(await captureWarnings(() => loadPretrained(deeplab)), []);
    assert.deepEqual(await captureWarnings(() => MobileNetV2ForImageClassification.fromPretrained(deeplab, { warnings: false })), []);
    const previous = setLogger(null);
    try {
      const model = await MobileNetV2ForImageClassification.fromPretrained(deeplab);
      assert.equal(model.loadReport.unexpectedKeys.length > 0, true);
    } finally {
      setLogger(previous);
    }
  });
});

describe('await using', () => {
  it('disposes a model at the end of its scope', async () => {
    let escaped: MobileNetV2ForImageClassification;
    {
      await using model = MobileNetV2ForImageClassification.fromConfig(new MobileNetV2Config({ ...small, numLabels: 2 }));
      escaped = model;
      await model.forward(pixels(1, 32));
    }
    await assert.rejects(escaped.forward(pixels(1, 32)), /disposed/);
  });

  it('disposes a pipeline and its model at the end of its scope', async () => {
    let model: AnyMobileNetV2Model;
    {
      await using classifier = await pipeline('image-classification', join(REPO_ROOT, 'models/mobilenet_v2_1.0_224_quant'));
      model = classifier.model;
    }
    await assert.rejects(model.forward(pixels(1, 32)), /disposed/);
  });
});
