/**
 * The compiled-graph cache on disk (Node): `<cache>/mobilenet-v2/graphs/<sha256 of the key>.onnx`,
 * where `<cache>` is `$MOBILENET_V2_CACHE`, else `$XDG_CACHE_HOME`, else `~/.cache`. Building a
 * graph means reading every weight and folding BatchNorm; loading a cached file lets ONNX Runtime
 * read it directly, which makes a cold `classify` faster and leaner. Files are written atomically
 * and may be deleted at any time. `MOBILENET_V2_GRAPH_CACHE=0` turns the cache off. Keys include
 * a hash of the library's own graph-building code, so an edited or upgraded library never reuses
 * a graph an older version built.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GraphCache } from '../platform.js';
import { writeFileAtomic } from './write_folder.js';

/** The library's cache folder: `$MOBILENET_V2_CACHE`, else `$XDG_CACHE_HOME/mobilenet-v2`, else `~/.cache/mobilenet-v2`. */
export function cacheRoot(env: NodeJS.ProcessEnv): string {
  return env['MOBILENET_V2_CACHE'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'mobilenet-v2');
}

function cacheFolder(env: NodeJS.ProcessEnv): string {
  return join(cacheRoot(env), 'graphs');
}

/** Folders (beside this one) whose code decides what a graph contains. */
const GRAPH_CODE = ['config', 'model', 'onnx', 'quantization'];
let codeHash: string | undefined;

/** sha256 of the graph-building modules, computed once per process (a few dozen small files). */
function graphCodeHash(): string {
  if (codeHash === undefined) {
    const hash = createHash('sha256');
    const src = dirname(dirname(fileURLToPath(import.meta.url)));
    for (const folder of GRAPH_CODE) {
      for (const file of readdirSync(join(src, folder)).filter((f) => f.endsWith('.js')).sort()) {
        hash.update(file).update(readFileSync(join(src, folder, file)));
      }
    }
    codeHash = hash.digest('hex');
  }
  return codeHash;
}

function fileOf(key: string, env: NodeJS.ProcessEnv): string {
  return join(cacheFolder(env), `${createHash('sha256').update(graphCodeHash()).update(key).digest('hex')}.onnx`);
}

/** The Node graph cache; the environment is read at each call, so tests can point it elsewhere. */
export const nodeGraphCache: GraphCache = {
  async get(key) {
    if (process.env['MOBILENET_V2_GRAPH_CACHE'] === '0') return null;
    const path = fileOf(key, process.env);
    return access(path).then(() => path, () => null);
  },
  async put(key, graph) {
    if (process.env['MOBILENET_V2_GRAPH_CACHE'] === '0') return null;
    const path = fileOf(key, process.env);
    // A cache that cannot be written (read-only home, full disk) only costs speed.
    return writeFileAtomic(path, graph).then(() => path, () => null);
  },
};
