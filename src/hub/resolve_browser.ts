/**
 * Entry point for browsers: a model given as a URL (absolute, or a path relative to the page) or
 * as a hub model id. Browsers cannot ask whether a folder exists the way Node can, so the two are
 * told apart by form: a URL has a scheme or starts with `/`, `./` or `../`; anything else must be
 * a hub id.
 */
import { MobileNetV2Error } from '../errors.js';
import type { HubOptions } from '../platform.js';
import { browserModelFiles, BrowserUrlFiles, type BrowserFetchOptions } from './browser_files.js';
import { isHubModelId } from './hub_common.js';
import type { ModelFiles } from './model_files.js';

/** `https://…`, `http://…`, `//host/…`, `/…`, `./…`, `../…`, `.` and `..`. */
const URL_FORM = /^(?:https?:|\/|\.\.?(?:\/|$))/i;

/**
 * The files of a model at a URL or on the hub, fetched with progress and kept in the Cache
 * Storage. `config.json` is fetched right away, so a wrong address or id fails here with a clear
 * MobileNetV2Error. Browsers have no environment variables: the hub is https://huggingface.co
 * unless `endpoint` says otherwise; `cacheDir` names the Cache Storage bucket; `progress: true`
 * has no terminal to draw on and reports nothing (pass a callback).
 */
export async function resolveModelFilesInBrowser(source: string, options: HubOptions = {}): Promise<ModelFiles> {
  const fetchOptions: BrowserFetchOptions = {
    token: options.token,
    offline: options.offline,
    cacheName: options.cacheDir,
    onProgress: typeof options.progress === 'function' ? options.progress : undefined,
  };
  if (URL_FORM.test(source)) {
    const files = new BrowserUrlFiles(source, fetchOptions);
    if ((await files.read('config.json')) === null) {
      throw new MobileNetV2Error(`no model at ${files.description}: it has no config.json (HTTP 404)`);
    }
    return files;
  }
  if (!isHubModelId(source)) {
    throw new MobileNetV2Error(
      `"${source}" is not a URL (a page path must start with /, ./ or ../) and not a hub model id (like google/mobilenet_v2_1.0_224)`,
    );
  }
  return browserModelFiles(source, { ...fetchOptions, revision: options.revision, endpoint: options.endpoint });
}
