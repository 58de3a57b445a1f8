/**
 * Opening a checkpoint folder: `config.json` now, the weights' descriptions now, their data only
 * when a model first needs it. A safetensors file on a medium with ranged reads (a local folder,
 * the hub cache) is validated from its header alone; a model whose compiled graph is cached never
 * reads the tensor data at all.
 */
import { MobileNetV2Config } from '../config/configuration_mobilenet_v2.js';
import { parseJson } from '../describe.js';
import { MobileNetV2Error } from '../errors.js';
import type { ModelFiles } from '../hub/model_files.js';
import { parseTorchCheckpoint } from '../weights/pytorch.js';
import { parseSafetensors, parseSafetensorsHeader, safetensorsPrefixLength } from '../weights/safetensors.js';
import type { StateDict, TensorDescription } from './loading.js';

/** A checkpoint whose tensors are described but possibly not read yet. */
export interface OpenCheckpoint {
  readonly config: MobileNetV2Config;
  /** dtype and shape of every tensor, by key. */
  readonly tensors: ReadonlyMap<string, TensorDescription>;
  /** safetensors `__metadata__` (empty for a .bin). */
  readonly metadata: Record<string, string>;
  /** The weights file, for error messages. */
  readonly source: string;
  /** Identity of the weights file's contents, when the medium can tell (keys the graph cache). */
  readonly fingerprint: string | null;
  /** Reads the tensors (once the caller needs their data). */
  load(): Promise<StateDict>;
}

async function readConfig(files: ModelFiles): Promise<MobileNetV2Config> {
  const bytes = await files.read('config.json');
  if (!bytes) throw new MobileNetV2Error(`${files.description}: no config.json`, { code: 'E_FILE_NOT_FOUND' });
  const source = `${files.description}/config.json`;
  return MobileNetV2Config.fromJSON(parseJson(new TextDecoder().decode(bytes), source, 'E_CONFIG_INVALID'), source);
}

/** Reads a file that must exist now that its size is known, failing clearly if it vanished. */
async function readExisting(files: ModelFiles, name: string, source: string): Promise<Uint8Array> {
  const bytes = await files.read(name);
  if (!bytes) throw new MobileNetV2Error(`${source} disappeared while the model was loaded`, { code: 'E_FILE_NOT_FOUND' });
  return bytes;
}

/** Opens config.json and the weights (model.safetensors, else pytorch_model.bin) of a model. */
export async function openCheckpoint(files: ModelFiles): Promise<OpenCheckpoint> {
  const config = await readConfig(files);
  const safetensors = `${files.description}/model.safetensors`;
  const stat = files.stat && files.readRange ? await files.stat('model.safetensors') : null;
  if (stat && files.readRange) {
    const first8 = await files.readRange('model.safetensors', 0, 8);
    const prefix = await files.readRange('model.safetensors', 0, safetensorsPrefixLength(first8, stat.size, safetensors));
    const header = parseSafetensorsHeader(prefix, stat.size, safetensors);
    const load = async () => {
      const bytes = await readExisting(files, 'model.safetensors', safetensors);
      if (bytes.length !== stat.size) throw new MobileNetV2Error(`${safetensors} changed while the model was loaded`, { code: 'E_CHECKPOINT_CORRUPT' });
      return parseSafetensors(bytes, safetensors).tensors;
    };
    return {
      config, tensors: new Map(header.entries.map((e) => [e.name, e])), metadata: header.metadata,
      source: safetensors, fingerprint: stat.fingerprint, load,
    };
  }
  const bytes = await files.read('model.safetensors');
  if (bytes) {
    const parsed = parseSafetensors(bytes, safetensors);
    return { config, tensors: parsed.tensors, metadata: parsed.metadata, source: safetensors, fingerprint: null, load: async () => parsed.tensors };
  }
  const bin = await files.read('pytorch_model.bin');
  if (bin) {
    const source = `${files.description}/pytorch_model.bin`;
    const tensors = parseTorchCheckpoint(bin, source);
    return { config, tensors, metadata: {}, source, fingerprint: null, load: async () => tensors };
  }
  throw new MobileNetV2Error(`${files.description}: no model.safetensors or pytorch_model.bin`, { code: 'E_FILE_NOT_FOUND' });
}
