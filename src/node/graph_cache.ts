/**
 * The compiled-graph cache on disk (Node): `<cache>/mobilenet-v2/graphs/<sha256 of the key>.onnx`,
 * where `<cache>` is `$MOBILENET_V2_CACHE`, else `$XDG_CACHE_HOME`, else `~/.cache`. Building a
 * graph means reading every weight and folding BatchNorm; loading a cached file lets ONNX Runtime
 * read it directly, which makes a cold `classify` faster and leaner. Files are written atomically
 * and may be deleted at any time. `MOBILENET_V2_GRAPH_CACHE=0` turns the cache off. Keys include
 * a hash of the library's whole compiled code, so an edited or upgraded library never reuses a
 * graph an older version built (int8 graphs, for one, depend on the TFLite importer's records).
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

/**
 * sha256 of every module under `root` (names and contents). Hashing all of the library's code,
 * rather than a list of folders thought to build graphs, cannot miss a dependency; it costs about
 * 1 MB of reading and hashing (tens of milliseconds), once per process that uses the cache.
 */
export function libraryCodeHash(root: string): string {
  const hash = createHash('sha256');
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js')).sort();
  for (const file of files) hash.update(file).update('\0').update(readFileSync(join(root, file)));
  return hash.digest('hex');
}

let codeHash: string | undefined;

/** {@link libraryCodeHash} of this library (the folder above this module's). */
function graphCodeHash(): string {
  codeHash ??= libraryCodeHash(dirname(dirname(fileURLToPath(import.meta.url))));
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
