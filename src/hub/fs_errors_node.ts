/**
 * File-system failures of the hub cache and local model folders (EACCES, ENOSPC, ENAMETOOLONG,
 * EISDIR, …) as one-line {@link MobileNetV2Error}s naming the path, the original error kept as
 * `cause`.
 */
import { oneLine } from '../describe.js';
import { MobileNetV2Error } from '../errors.js';

/**
 * The error for failing to `action` `path`: E_FILE_NOT_FOUND for a read, E_FILE_WRITE for a write.
 * Node's message repeats the path after the reason (`ENOSPC: no space left on device, write '…'`);
 * only the reason is kept.
 */
export function fsError(action: 'read' | 'write', path: string, err: unknown): MobileNetV2Error {
  const reason = err instanceof Error ? err.message.split(', ')[0]! : String(err);
  return new MobileNetV2Error(`cannot ${action} ${oneLine(path)}: ${oneLine(reason)}`, {
    code: action === 'read' ? 'E_FILE_NOT_FOUND' : 'E_FILE_WRITE',
    cause: err,
  });
}

/** Runs `step` (which reads or writes `path`), turning a file-system failure into {@link fsError}. */
export async function fsStep<T>(action: 'read' | 'write', path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw err instanceof MobileNetV2Error ? err : fsError(action, path, err);
  }
}
