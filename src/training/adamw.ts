/** AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, the optimiser of every trainer here. */

// β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (PyTorch's defaults); 1 − β written out, as 1 − 0.9 is not 0.1 in floating point.
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-8;

/**
 * One AdamW step on `params` in place: moments `m`, `v` (zero at the start) updated with `grad`,
 * `step` counting from 1, weights shrunk by `lr · decay` (0 for biases and norms) before the Adam update.
 */
export function adamWStep(
  params: Float32Array, grad: ArrayLike<number>, m: Float32Array | Float64Array, v: Float32Array | Float64Array, step: number, lr: number, decay: number,
): void {
  const c1 = 1 - BETA1 ** step;
  const c2 = 1 - BETA2 ** step;
  const shrink = 1 - lr * decay;
  for (let i = 0; i < params.length; i++) {
    const g = grad[i]!;
    m[i] = BETA1 * m[i]! + 0.1 * g;
    v[i] = BETA2 * v[i]! + 0.001 * g * g;
    params[i] = params[i]! * shrink - (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + EPSILON);
  }
}
