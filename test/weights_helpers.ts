/** Assertions shared by the checkpoint-format tests. */
import assert from 'node:assert/strict';
import { MobileNetV2Error } from '../src/errors.js';
import type { Tensor } from '../src/tensor.js';

/** A tensor's raw bytes, for exact comparisons. */
export function rawBytes(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Asserts that `parse` throws a MobileNetV2Error that starts with `source: ` and matches `pattern`. */
export function assertRejects(parse: () => unknown, source: string, pattern: RegExp): void {
  assert.throws(parse, (e: unknown) => {
    assert.ok(e instanceof MobileNetV2Error, `expected MobileNetV2Error, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${source}: `), `message does not name ${source}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Asserts both maps hold the same names, dtypes, shapes and exact data. */
export function assertSameTensors(got: Map<string, Tensor>, want: Map<string, Tensor>): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [name, t] of want) {
    const g = got.get(name)!;
    assert.equal(g.dtype, t.dtype, name);
    assert.deepEqual(g.shape, t.shape, name);
    assert.ok(rawBytes(g).equals(rawBytes(t)), `${name}: data differ`);
  }
}
