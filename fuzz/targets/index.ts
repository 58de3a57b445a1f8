/** Every fuzz target, in the order `npm run fuzz` runs them. */
import type { Target } from '../target.js';
import { config } from './config.js';
import { hub } from './hub.js';
import { imageTargets } from './images.js';
import { processor } from './processor.js';
import { pytorch } from './pytorch.js';
import { safetensors } from './safetensors.js';
import { segmap } from './segmap.js';
import { tflite } from './tflite.js';

export const TARGETS: readonly Target[] = [safetensors, pytorch, tflite, ...imageTargets, segmap, config, processor, hub];
