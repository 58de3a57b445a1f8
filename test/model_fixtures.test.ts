/** Issue 2 acceptance: every HF model fixture through the library API (safetensors and .bin). */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../src/node/setup.js';
import type { ModelFiles } from '../src/hub/model_files.js';
import { loadPretrained, type AnyMobileNetV2Model } from '../src/model/modeling_mobilenet_v2.js';
import { postProcessSemanticSegmentation } from '../src/model/post_processing.js';
import type { ProblemType } from '../src/config/configuration_mobilenet_v2.js';
import type { Float32Tensor, Tensor } from '../src/tensor.js';
import { assertOutputsMatch, explicitProblemTypes, modelFixtures, type ModelFixture } from './fixture_runner.js';

/** A fixture folder seen through a chosen config file and weights file. */
function fixtureFiles(dir: string, configFile: string, weightsFile: string): ModelFiles {
  return {
    description: dir,
    async read(name: string) {
      const mapped = name === 'config.json' ? configFile : name;
      if (name === 'model.safetensors' || name === 'pytorch_model.bin') {
        if (name !== weightsFile) return null;
      }
      try {
        return new Uint8Array(await readFile(join(dir, mapped)));
      } catch {
        return null;
      }
    },
  };
}

/** Runs every `pixel_values[@TAG]` of a fixture through `model` and names outputs as the fixture does. */
async function runFixture(model: AnyMobileNetV2Model, fixture: ModelFixture): Promise<Map<string, Tensor>> {
  const got = new Map<string, Tensor>();
  const problemTypes = new Map(explicitProblemTypes(fixture).map((e) => e.split('=') as [string, ProblemType]));
  for (const [key, pixels] of fixture.inputs) {
    const m = /^pixel_values(@.+)?$/.exec(key);
    if (!m) continue;
    const suffix = m[1] ?? '';
    const pv = pixels as Float32Tensor;
    const isSeg = model.architecture === 'MobileNetV2ForSemanticSegmentation';
    const out = await model.forward(pv, { outputHiddenStates: true, ...(isSeg ? { debug: true } : {}) });
    const set = (k: string, t: Tensor | undefined) => t && got.set(k + suffix, t);
    set('logits', out.logits);
    set('last_hidden_state', out.lastHiddenState);
    set('pooler_output', out.poolerOutput);
    out.hiddenStates?.forEach((t, i) => set(`hidden_states.${i}`, t));
    for (const [k, t] of Object.entries(out.debug ?? {})) set(k, t);
    for (const [lk, labels] of fixture.inputs) {
      const lm = /^labels(?:_(.+?))?(@.+)?$/.exec(lk);
      if (!lm || (lm[2] ?? '') !== suffix) continue;
      const before = model.config.problemType;
      const problemType = problemTypes.get(lm[1] ?? '');
      const withLoss = await model.forward(pv, { labels, ...(problemType ? { problemType } : {}) });
      model.config.problemType = before;
      set(`loss${lm[1] ? `_${lm[1]}` : ''}`, { dtype: 'float32', shape: [], data: new Float32Array([withLoss.loss!]) });
    }
    if (isSeg) {
      postProcessSemanticSegmentation(out).forEach((t, i) => set(`post_processed_no_target.${i}`, t));
      const sizes = fixture.meta.post_process_target_sizes;
      if (sizes) postProcessSemanticSegmentation(out, sizes).forEach((t, i) => set(`post_processed.${i}`, t));
    }
  }
  return got;
}

describe('HF reference fixtures through the API', () => {
  for (const fixture of modelFixtures()) {
    it(`${fixture.name}: model.safetensors + full config.json`, async () => {
      const model = await loadPretrained(fixtureFiles(fixture.dir, 'config.json', 'model.safetensors'));
      try {
        assert.equal(model.architecture, fixture.meta.model_class);
        assert.deepEqual(model.loadReport, { missingKeys: [], unexpectedKeys: [] });
        assertOutputsMatch(fixture, await runFixture(model, fixture));
      } finally {
        await model.dispose();
      }
    });
    it(`${fixture.name}: pytorch_model.bin (if shipped) + saved (diff) config`, async () => {
      const hasBin = await readFile(join(fixture.dir, 'pytorch_model.bin')).then(() => true, () => false);
      const model = await loadPretrained(fixtureFiles(fixture.dir, 'config_saved.json', hasBin ? 'pytorch_model.bin' : 'model.safetensors'));
      try {
        assertOutputsMatch(fixture, await runFixture(model, fixture));
      } finally {
        await model.dispose();
      }
    });
  }
});
