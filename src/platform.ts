/**
 * Environment services the core needs but must not implement with Node APIs: finding a model's
 * files from a string (a folder or a hub id) and writing a checkpoint folder. The Node entry point
 * registers file-system and hub implementations; the browser entry point registers fetch-based ones.
 */
import { MobileNetV2Error } from './errors.js';
import type { DownloadProgressCallback, ModelFiles } from './hub/model_files.js';

/** How to find a model given by hub id (all optional; environment variables fill the rest). */
export interface HubOptions {
  /** Branch, tag or commit (default `main`). */
  readonly revision?: string;
  /** Hub cache folder (default `$HF_HUB_CACHE` or `$HF_HOME/hub`). */
  readonly cacheDir?: string;
  /** Hub or mirror URL (default `$HF_ENDPOINT` or https://huggingface.co). */
  readonly endpoint?: string;
  /** Access token (default `$HF_TOKEN`). */
  readonly token?: string;
  /** Only use cached files (default `$HF_HUB_OFFLINE`). */
  readonly offline?: boolean;
  /** Download progress: `true` for a progress bar on a terminal, or a callback. */
  readonly progress?: boolean | DownloadProgressCallback;
}

/**
 * A persistent store of compiled ONNX graphs, keyed by everything a graph depends on, so a later
 * process can hand the runtime a file instead of rebuilding the graph from the weights.
 */
export interface GraphCache {
  /** Path of the graph stored under `key`, or null. */
  get(key: string): Promise<string | null>;
  /** Stores a graph under `key`; returns its path, or null when it could not be stored. */
  put(key: string, graph: Uint8Array): Promise<string | null>;
}

/** Services an entry point provides. */
export interface Platform {
  /**
   * Whether int8 graphs built for sessions here store signed weights (exact and faster only where
   * the CPU has VNNI; see src/quantization/qdq_graph.ts). Absent: unsigned, exact everywhere.
   */
  readonly signedInt8Weights?: () => boolean;
  /** Compiled-graph store (Node); absent where graphs cannot be kept (browsers). */
  readonly graphCache?: GraphCache;
  /** Resolves a folder path, URL or hub id to the model's files. */
  resolveModelFiles(source: string, options: HubOptions): Promise<ModelFiles>;
  /** Writes `files` into folder `dir` atomically (all files appear, or none). */
  writeFolder(dir: string, files: Record<string, Uint8Array>): Promise<void>;
}

let platform: Platform | null = null;

/** Registers the environment's services (done by the entry points). */
export function setPlatform(p: Platform): void {
  platform = p;
}

/** The registered services, or null when no entry point registered any. */
export function findPlatform(): Platform | null {
  return platform;
}

/** The registered services; throws when no entry point registered any. */
export function getPlatform(): Platform {
  if (!platform) throw new MobileNetV2Error('no platform registered: import "mobilenet-v2" (Node) or "mobilenet-v2/browser"', { code: 'E_RUNTIME' });
  return platform;
}
