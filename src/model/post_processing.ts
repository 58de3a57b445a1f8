/** transformers' `post_process_semantic_segmentation` for MobileNetV2 segmentation logits. */
import { check } from '../errors.js';
import type { Float32Tensor, Tensor } from '../tensor.js';
import { argmaxChannels, interpolateBilinear } from './functional.js';

/**
 * Per-item class maps from `[B, N, h, w]` logits: with `targetSizes` (one `[height, width]` per
 * item) the logits are first resized bilinearly (align_corners=false) to that size; without, the
 * maps are at logit resolution. Returns int64 `[height, width]` tensors; argmax ties go to the
 * lower class index, as in torch.
 */
export function postProcessSemanticSegmentation(
  outputs: { logits?: Float32Tensor },
  targetSizes?: ReadonlyArray<readonly [number, number]>,
): Tensor<'int64'>[] {
  const logits = outputs.logits;
  check(logits && logits.shape.length === 4, 'post-processing needs [batch, labels, height, width] segmentation logits');
  const [batch, n, h, w] = logits.shape as [number, number, number, number];
  check(!targetSizes || targetSizes.length === batch,
    () => `Make sure that you pass in as many target sizes as the batch dimension of the logits (${targetSizes!.length} vs ${batch})`);
  const items: Tensor<'int64'>[] = [];
  for (let b = 0; b < batch; b++) {
    const item: Float32Tensor = { dtype: 'float32', shape: [1, n, h, w], data: logits.data.subarray(b * n * h * w, (b + 1) * n * h * w) };
    const size = targetSizes?.[b];
    const resized = size ? interpolateBilinear(item, size[0], size[1]) : item;
    const [, , oh, ow] = resized.shape as number[];
    items.push({ dtype: 'int64', shape: [oh!, ow!], data: argmaxChannels(resized.data, n, oh! * ow!) });
  }
  return items;
}
