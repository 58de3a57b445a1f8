/**
 * Channel arithmetic of transformers' MobileNetV2 (spec §2), reproduced exactly — including
 * Python's round-half-to-even and int() truncation — because every weight shape depends on it.
 */
import type { MobileNetV2Config } from './configuration_mobilenet_v2.js';

/** Projection channels of the reference width (stem reduce + 16 blocks), before the depth multiplier. */
const BASE_CHANNELS = [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320] as const;
/** Nominal stride of each of the 16 inverted-residual blocks. */
const BLOCK_STRIDES = [2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1] as const;
/** Width of the final 1×1 conv at depth multiplier 1. */
const LAST_CHANNELS = 1280;

/** Python's `round()` on a float: ties go to the even neighbour. */
export function pythonRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `make_divisible(value, divisor, min_value)` from transformers (and TF-slim). */
export function makeDivisible(value: number, divisor = 8, minValue: number | null = null): number {
  const min = minValue ?? divisor;
  let result = Math.max(min, Math.floor(Math.trunc(value + divisor / 2) / divisor) * divisor);
  if (result < 0.9 * value) result += divisor; // never go more than 10 % below the request
  return result;
}

/** `apply_depth_multiplier(config, channels)`: scale a reference width and round it. */
export function applyDepthMultiplier(config: MobileNetV2Config, channels: number): number {
  return makeDivisible(pythonRound(channels * config.depthMultiplier), config.depthDivisibleBy, config.minDepth);
}

/** Shape facts of one inverted-residual block (`layer.{index}`). */
export interface BlockSpec {
  /** Block index 0..15, as in the `layer.{index}` weight names. */
  readonly index: number;
  /** Input channels. */
  readonly inChannels: number;
  /** Channels after `expand_1x1`. */
  readonly expandedChannels: number;
  /** Output channels of `reduce_1x1`. */
  readonly outChannels: number;
  /** Actual stride of the depthwise conv (1 once the output stride is reached). */
  readonly stride: number;
  /** Dilation of the depthwise conv. */
  readonly dilation: number;
  /** Whether the block adds its input to its output. */
  readonly residual: boolean;
  /** Total stride of the block's output relative to the input image. */
  readonly reduction: number;
}

/** The whole backbone's channel and stride plan for a config. */
export interface BackbonePlan {
  /** Output channels of the stem's first conv (also of its expand and depthwise convs). */
  readonly stemChannels: number;
  /** Output channels of the stem (`conv_stem.reduce_1x1`). */
  readonly stemOutChannels: number;
  /** The 16 inverted-residual blocks. */
  readonly blocks: readonly BlockSpec[];
  /** Output channels of `conv_1x1` (the `last_hidden_state` width). */
  readonly lastChannels: number;
}

/**
 * Computes channels, strides, dilations and residuals of every block. The stride/dilation rule
 * follows transformers: once the running stride equals `output_stride`, later blocks keep stride
 * 1 and the block that would have strided keeps the old dilation (dilation grows after it).
 */
export function backbonePlan(config: MobileNetV2Config): BackbonePlan {
  const channels = BASE_CHANNELS.map((c) => applyDepthMultiplier(config, c));
  const blocks: BlockSpec[] = [];
  let currentStride = 2;
  let dilation = 1;
  for (let i = 0; i < BLOCK_STRIDES.length; i++) {
    const nominal = BLOCK_STRIDES[i]!;
    let stride: number;
    let blockDilation = 1;
    if (currentStride === config.outputStride) {
      stride = 1;
      blockDilation = dilation;
      dilation *= nominal;
    } else {
      stride = nominal;
      currentStride *= stride;
    }
    const inChannels = channels[i]!;
    const outChannels = channels[i + 1]!;
    blocks.push({
      index: i,
      inChannels,
      expandedChannels: makeDivisible(pythonRound(inChannels * config.expandRatio), config.depthDivisibleBy, config.minDepth),
      outChannels,
      stride,
      dilation: blockDilation,
      residual: stride === 1 && inChannels === outChannels,
      reduction: currentStride,
    });
  }
  const lastChannels =
    config.finegrainedOutput && config.depthMultiplier < 1.0 ? LAST_CHANNELS : applyDepthMultiplier(config, LAST_CHANNELS);
  return { stemChannels: applyDepthMultiplier(config, 32), stemOutChannels: channels[0]!, blocks, lastChannels };
}
