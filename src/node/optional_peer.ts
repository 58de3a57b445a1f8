/**
 * Optional peer dependencies (fastify, prom-client, bullmq, …): not installed with the package (its
 * Node install stays small), imported only by the command that needs them, and a one-line error
 * naming the `npm install` line to run when they are missing.
 */
import { MobileNetV2Error } from '../errors.js';

/**
 * The error to throw for a failed import of optional `packages`: a MobileNetV2Error
 * (E_MISSING_DEPENDENCY) saying what to install when a module was not found, else `cause` itself.
 *
 * @param what the command or feature that needs them, e.g. "mobilenet-v2 serve".
 */
export function missingPeerError(cause: unknown, what: string, packages: readonly string[]): unknown {
  const code = (cause as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return cause;
  return new MobileNetV2Error(`${what} needs the optional packages ${packages.join(', ')}: npm install ${packages.join(' ')}`, { code: 'E_MISSING_DEPENDENCY', cause });
}

/** Runs `load` (the dynamic imports of `packages`), turning a missing module into {@link missingPeerError}'s error. */
export async function importPeers<T>(what: string, packages: readonly string[], load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw missingPeerError(err, what, packages);
  }
}
