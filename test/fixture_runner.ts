/**
 * Runs a Hugging Face reference fixture (`HF_FIXTURES/<case>`: the shared set, or the vendored
 * subset without it) and compares every output in its `outputs.safetensors`, shared by the API and
 * CLI tests.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../src/tensor.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { assertClose, HF_FIXTURES } from './helpers.js';

/** One model fixture. */
export interface ModelFixture {
  name: string;
  dir: string;
  meta: {
    model_class: string;
    post_process_target_sizes?: Array<[number, number]>;
    loss_runs?: Array<{ loss_key: string; config_problem_type_before: string | null }>;
  };
  inputs: Map<string, Tensor>;
  outputs: Map<string, Tensor>;
}

/** Every model fixture folder (those with a model.safetensors); throws when there is none, so a fixture loop never passes empty. */
export function modelFixtures(): ModelFixture[] {
  const names = readdirSync(HF_FIXTURES).filter((d) => existsSync(join(HF_FIXTURES, d, 'model.safetensors')));
  assert.ok(names.length > 0, `no model fixtures (folders with a model.safetensors) in ${HF_FIXTURES}`);
  return names
    .sort()
    .map((name) => {
      const dir = join(HF_FIXTURES, name);
      const read = (f: string) => parseSafetensors(readFileSync(join(dir, f)), f).tensors;
      return { name, dir, meta: JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')), inputs: read('inputs.safetensors'), outputs: read('outputs.safetensors') };
    });
}

/** `--problem-type` settings the fixture's loss runs used explicitly (e.g. `regression_explicit=regression`). */
export function explicitProblemTypes(fixture: ModelFixture): string[] {
  return (fixture.meta.loss_runs ?? [])
    .filter((r) => r.config_problem_type_before !== null)
    .map((r) => `${r.loss_key.replace(/^loss_?/, '')}=${r.config_problem_type_before}`);
}

/**
 * Asserts that `got` holds every reference output within `|got − ref| ≤ 1e-3 + 1e-4·|ref|`; int64
 * maps (argmax) must be equal except at pixels whose reference top-1/top-2 margin is below 1e-2.
 */
export function assertOutputsMatch(fixture: ModelFixture, got: Map<string, Tensor>): void {
  let compared = 0;
  for (const [key, ref] of fixture.outputs) {
    if (key.startsWith('post_processed_margin')) continue;
    const tensor = got.get(key);
    assert.ok(tensor, `${fixture.name}: output "${key}" was not produced`);
    assert.equal(tensor.data.length, ref.data.length, `${fixture.name}: "${key}" has ${tensor.data.length} values, reference ${ref.data.length}`);
    if (ref.dtype === 'int64') {
      const margin = fixture.outputs.get(key.replace('post_processed', 'post_processed_margin'))?.data as Float32Array | undefined;
      for (let i = 0; i < ref.data.length; i++) {
        if (tensor.data[i] !== ref.data[i] && !(margin && margin[i]! < 1e-2)) {
          assert.fail(`${fixture.name}: "${key}"[${i}] is ${tensor.data[i]}, reference ${ref.data[i]}`);
        }
      }
    } else {
      assertClose(Array.from(tensor.data as Float32Array), Array.from(ref.data as Float32Array), `${fixture.name}: ${key}`);
    }
    compared++;
  }
  assert.ok(compared >= 4, `${fixture.name}: only ${compared} outputs compared`);
}
