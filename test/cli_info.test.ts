/** `mobilenet-v2 info`: class, parameter count and MACs of the shipped models. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cli } from './cli_image_commands.js';
import { REPO_ROOT } from './helpers.js';

describe('mobilenet-v2 info', () => {
  it('describes the built-in classifier: 3,506,153 parameters, 300.8 M MACs at 224x224, and lists layers', () => {
    const r = cli('info', '--layers');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /architecture: MobileNetV2ForImageClassification/);
    assert.match(r.stdout, /parameters:\s+3,506,153 \(backbone 2,223,872, head 1,282,281\)/);
    assert.match(r.stdout, /MACs:\s+300\.8 M at 224x224/);
    assert.match(r.stdout, /\n\s+layer\.15\.reduce_1x1\s+\[320, 7, 7\]\s+/);
  });

  it('prints JSON for a given model and size', () => {
    const r = cli('info', '--json', '--model', join(REPO_ROOT, 'models/deeplabv3_mnv2_pascal_quant'), '--size', '257x321');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { architecture: string; config: Record<string, unknown>; macs: { height: number; width: number; total: number } };
    assert.equal(out.architecture, 'MobileNetV2ForSemanticSegmentation');
    assert.equal(out.config['output_stride'], 16);
    assert.deepEqual([out.macs.height, out.macs.width], [257, 321]);
    assert.ok(out.macs.total > 5e8 && out.macs.total < 2e9, String(out.macs.total));
  });
});
