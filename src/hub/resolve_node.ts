/** Entry point for Node: a model given as a local folder or as a hub model id. */
import { stat } from 'node:fs/promises';
import { MobileNetV2Error } from '../errors.js';
import { envFlag, hubSettings, type Env, type HubSettingsOverrides } from './hub_env_node.js';
import { HubFiles } from './hub_files_node.js';
import { checkRepoPath, DEFAULT_REVISION, isHubModelId, modelNotFoundError } from './hub_common.js';
import { LocalFiles } from './local_files_node.js';
import type { DownloadProgressCallback, ModelFiles } from './model_files.js';
import { terminalProgress } from './progress_node.js';

/** Options of {@link resolveModelFiles}; hub settings default to the HF_* environment variables. */
export interface ResolveModelFilesOptions extends HubSettingsOverrides {
  /** Branch, tag or commit of a hub model; default `main`. Ignored for a local folder. */
  readonly revision?: string;
  /**
   * Download progress: `true` draws a bar on stderr, `false` nothing, a function receives the
   * events. Default: a bar when stderr is a terminal, unless HF_HUB_DISABLE_PROGRESS_BARS is set.
   */
  readonly progress?: boolean | DownloadProgressCallback;
  /** Environment to read HF_* variables from; default `process.env`. */
  readonly env?: Env;
}

/**
 * The files of a model given as a local folder (which wins when it exists) or as a hub model id
 * (`google/mobilenet_v2_1.0_224`), downloaded on demand into the Hugging Face cache. For a hub
 * model, `config.json` is resolved right away, so a missing model, revision or cache entry fails
 * here with a clear MobileNetV2Error rather than later in the loader.
 */
export async function resolveModelFiles(
  pathOrRepoId: string,
  options: ResolveModelFilesOptions = {},
): Promise<ModelFiles> {
  const kind = await pathKind(pathOrRepoId);
  if (kind === 'folder') return new LocalFiles(pathOrRepoId);
  if (kind === 'file') {
    throw new MobileNetV2Error(`${pathOrRepoId} is a file; expected a model folder or a hub model id`);
  }
  if (!isHubModelId(pathOrRepoId)) {
    throw new MobileNetV2Error(
      `"${pathOrRepoId}" is not a folder and not a hub model id (like google/mobilenet_v2_1.0_224)`,
    );
  }
  const revision = options.revision ?? DEFAULT_REVISION;
  checkRepoPath(revision, 'revision');
  const env = options.env ?? process.env;
  const settings = await hubSettings(options, env);
  const progress = options.progress ?? (process.stderr.isTTY === true && !envFlag(env, 'HF_HUB_DISABLE_PROGRESS_BARS'));
  const files = new HubFiles({
    ...settings,
    repoId: pathOrRepoId,
    revision,
    onProgress: progress === true ? terminalProgress() : progress === false ? undefined : progress,
  });
  if ((await files.locate('config.json')) === null) {
    throw modelNotFoundError(pathOrRepoId, revision, settings.endpoint);
  }
  return files;
}

/** Whether `path` is an existing folder, an existing file, or nothing on disk. */
async function pathKind(path: string): Promise<'folder' | 'file' | 'none'> {
  try {
    return (await stat(path)).isDirectory() ? 'folder' : 'file';
  } catch {
    return 'none';
  }
}
