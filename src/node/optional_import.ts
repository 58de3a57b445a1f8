/**
 * Optional peer dependencies (bullmq, ioredis, …) are not installed with the package, to keep a
 * plain install small: only the command that needs one imports it, and when it is missing says in
 * one line which `npm install …` brings it.
 */
import { MobileNetV2Error } from '../errors.js';

/**
 * The error for a failed import of optional `packages`: when a module was not found, an
 * E_MISSING_DEPENDENCY {@link MobileNetV2Error} naming the `npm install` line; any other failure
 * (a broken install) is returned as it is.
 */
export function missingDependency(err: unknown, packages: readonly string[], purpose: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return err;
  return new MobileNetV2Error(`${purpose} needs ${packages.join(' and ')}, optional packages that are not installed: npm install ${packages.join(' ')}`, {
    code: 'E_MISSING_DEPENDENCY', cause: err,
  });
}

/** Runs `load` (the dynamic imports of optional `packages`), mapping a missing module with {@link missingDependency}. */
export async function importOptional<T>(load: () => Promise<T>, packages: readonly string[], purpose: string): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw missingDependency(err, packages, purpose);
  }
}
