/** Tensor constructors: bad shapes are a MobileNetV2Error, never a RangeError. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MobileNetV2Config } from '../src/config/configuration_mobilenet_v2.js';
import { MobileNetV2Error } from '../src/errors.js';
import { MobileNetV2Model } from '../src/model/modeling_mobilenet_v2.js';
import { checkedNumel, float32Tensor, type Float32Tensor } from '../src/tensor.js';

const invalid = (message: RegExp) => (err: Error) => err instanceof MobileNetV2Error && err.code === 'E_INVALID_ARGUMENT' && message.test(err.message);

describe('float32Tensor', () => {
  it('builds a tensor whose shape matches its data', () => {
    const t = float32Tensor(new Float32Array(6), [2, 3]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(float32Tensor(new Float32Array(1), []).data.length, 1);
    assert.equal(float32Tensor(new Float32Array(0), [0, 2 ** 40]).data.length, 0);
  });

  it('refuses a length mismatch, negative, fractional, non-finite and overflowing sizes', () => {
    assert.throws(() => float32Tensor(new Float32Array(5), [2, 3]), invalid(/tensor data has 5 elements but shape \[2, 3\] needs 6/));
    assert.throws(() => float32Tensor(new Float32Array(6), [-2, -3]), invalid(/shape \[-2, -3\] has a size that is not a non-negative integer \(-2\)/));
    assert.throws(() => float32Tensor(new Float32Array(6), [1.5, 4]), invalid(/not a non-negative integer \(1\.5\)/));
    assert.throws(() => float32Tensor(new Float32Array(6), [NaN]), invalid(/\(NaN\)/));
    assert.throws(() => float32Tensor(new Float32Array(6), [2 ** 53, 2 ** 53]), invalid(/\(9007199254740992\)/));
    assert.throws(() => float32Tensor(new Float32Array(6), [2 ** 30, 2 ** 30, 2 ** 30]), invalid(/has more than 2147483647 elements/));
    assert.throws(() => float32Tensor([1, 2] as unknown as Float32Array, [2]), invalid(/tensor data must be a Float32Array/));
    assert.throws(() => float32Tensor(new Float32Array(1), 'x' as unknown as number[]), invalid(/shape must be a list of sizes, got "x"/));
  });

  it('checkedNumel carries the caller\'s code and tensor name', () => {
    assert.equal(checkedNumel([2, 3, 4], 'w', 'E_CHECKPOINT_CORRUPT'), 24);
    assert.throws(() => checkedNumel([3, -1], 'tensor "w"', 'E_CHECKPOINT_CORRUPT'),
      (err: Error) => err instanceof MobileNetV2Error && err.code === 'E_CHECKPOINT_CORRUPT' && /^tensor "w": shape \[3, -1\]/.test(err.message));
  });
});

describe('model input limit', () => {
  it('refuses pixel_values too large to run before ONNX Runtime allocates anything', async () => {
    const model = MobileNetV2Model.fromConfig(new MobileNetV2Config({ depthMultiplier: 0.35 }));
    // A shape-only tensor: the check must come from the shape, as no real [1, 3, 100000, 100000] array can exist.
    const huge = { dtype: 'float32', shape: [1, 3, 100_000, 100_000], data: new Float32Array(0) } as Float32Tensor;
    const tall = float32Tensor(new Float32Array(3 * 20_000 * 1000), [1, 3, 20_000, 1000]);
    for (const pixelValues of [huge, tall]) {
      const start = performance.now();
      await assert.rejects(model.forward(pixelValues),
        invalid(/^pixel_values \[1, 3, \d+, \d+\] has more than 16777216 pixels \(batch × height × width\), too many to run$/));
      assert.ok(performance.now() - start < 1000);
    }
    await model.dispose();
  });
});
