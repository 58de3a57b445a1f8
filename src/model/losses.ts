/**
 * transformers' losses for MobileNetV2 heads (spec §5–6), computed in float64 on the logits.
 * The classification problem type is inferred from the labels when the config has none.
 */
import type { MobileNetV2Config, ProblemType } from '../config/configuration_mobilenet_v2.js';
import { check, MobileNetV2Error } from '../errors.js';
import { formatShape, numel, type Float32Tensor, type Tensor } from '../tensor.js';
import { interpolateBilinear } from './functional.js';

/** PyTorch `CrossEntropyLoss`'s default ignore index. */
const TORCH_IGNORE_INDEX = -100;

function labelValues(labels: Tensor): number[] {
  check(labels.dtype !== 'float16' && labels.dtype !== 'bfloat16', `labels of dtype ${labels.dtype} are not supported; use float32`);
  return Array.from(labels.data as ArrayLike<number | bigint>, Number);
}

/**
 * The problem type a classification loss uses: `override`, else the config's `problem_type`, else
 * transformers' inference from `num_labels` and the labels' dtype. Pure: the config is not changed.
 */
export function effectiveProblemType(
  config: Pick<MobileNetV2Config, 'numLabels' | 'problemType'>, labels: Tensor, override?: ProblemType,
): ProblemType {
  const chosen = override ?? config.problemType;
  if (chosen) return chosen;
  if (config.numLabels === 1) return 'regression';
  return labels.dtype === 'int64' || labels.dtype === 'int32' ? 'single_label_classification' : 'multi_label_classification';
}

/** Mean cross-entropy over the rows of `[rows, n]` logits, skipping `ignoreIndex` targets (NaN if all are). */
function crossEntropy(logits: (row: number, c: number) => number, n: number, targets: number[], ignoreIndex: number): number {
  let total = 0;
  let count = 0;
  targets.forEach((t, row) => {
    if (t === ignoreIndex) return;
    check(Number.isInteger(t) && t >= 0 && t < n, `label ${t} is out of range for ${n} classes`);
    let max = -Infinity;
    for (let c = 0; c < n; c++) max = Math.max(max, logits(row, c));
    let sum = 0;
    for (let c = 0; c < n; c++) sum += Math.exp(logits(row, c) - max);
    total += Math.log(sum) + max - logits(row, t);
    count++;
  });
  return total / count;
}

/** Classification loss (regression MSE, single-label CE or multi-label BCE-with-logits), mean-reduced. */
export function classificationLoss(logits: Float32Tensor, labels: Tensor, problemType: ProblemType): number {
  const [batch, n] = logits.shape as [number, number];
  const y = labelValues(labels);
  const z = logits.data;
  switch (problemType) {
    case 'regression': {
      // MSELoss(logits.squeeze(), labels.squeeze()) for one label, else elementwise: same total either way.
      check(y.length === z.length, `regression labels have shape ${formatShape(labels.shape)} but logits ${formatShape(logits.shape)}`);
      return y.reduce((s, v, i) => s + (z[i]! - v) ** 2, 0) / y.length;
    }
    case 'single_label_classification':
      check(y.length === batch, `single-label labels have shape ${formatShape(labels.shape)}; expected [${batch}]`);
      return crossEntropy((r, c) => z[r * n + c]!, n, y, TORCH_IGNORE_INDEX);
    case 'multi_label_classification': {
      check(y.length === z.length, `multi-label labels have shape ${formatShape(labels.shape)} but logits ${formatShape(logits.shape)}`);
      // BCEWithLogits, the stable form: max(z,0) − z·y + log(1 + e^−|z|).
      return y.reduce((s, v, i) => s + Math.max(z[i]!, 0) - z[i]! * v + Math.log1p(Math.exp(-Math.abs(z[i]!))), 0) / y.length;
    }
    default:
      throw new MobileNetV2Error(`unknown problem_type ${JSON.stringify(problemType)}`, { code: 'E_CONFIG_INVALID' });
  }
}

/**
 * Segmentation loss: logits upsampled bilinearly (align_corners=false) to the labels' size, then
 * pixel-wise cross-entropy ignoring `ignoreIndex`, averaged over the pixels that count.
 */
export function semanticSegmentationLoss(logits: Float32Tensor, labels: Tensor, ignoreIndex: number): number {
  const [batch, n] = logits.shape as [number, number, number, number];
  if (n === 1) throw new MobileNetV2Error('The number of labels should be greater than one');
  check(labels.shape.length === 3 && labels.shape[0] === batch,
    `segmentation labels have shape ${formatShape(labels.shape)}; expected [${batch}, height, width]`);
  const [, h, w] = labels.shape as [number, number, number];
  const up = interpolateBilinear(logits, h, w).data;
  const pixels = h * w;
  const y = labelValues(labels);
  check(y.length === numel(labels.shape), 'labels data does not match their shape');
  // Row r = (item b, pixel p); channel c of that row sits at b·n·pixels + c·pixels + p.
  return crossEntropy((r, c) => up[Math.floor(r / pixels) * n * pixels + c * pixels + (r % pixels)]!, n, y, ignoreIndex);
}
