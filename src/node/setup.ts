/**
 * Wires the core to Node: onnxruntime-node as the runtime, the file system and the hub cache as
 * the platform. Imported for its side effect by the package's Node entry point.
 */
import '../runtime/ort_node.js';
import { resolveModelFiles } from '../hub/resolve_node.js';
import { setPlatform } from '../platform.js';
import { signedInt8WeightsPay } from './cpu_features.js';
import { nodeGraphCache } from './graph_cache.js';
import { writeFolder } from './write_folder.js';

setPlatform({ resolveModelFiles, writeFolder, graphCache: nodeGraphCache, signedInt8Weights: signedInt8WeightsPay });
