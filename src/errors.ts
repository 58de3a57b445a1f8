/**
 * The one error type the library throws for bad input: a missing or corrupt file, a wrong tensor
 * shape, an unsupported config. Its message names the file, key or field at fault, so the CLI can
 * print it as a single line without a stack trace.
 */
export class MobileNetV2Error extends Error {
  override name = 'MobileNetV2Error';
}

/** Throws a {@link MobileNetV2Error} with `message` unless `condition` holds. */
export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new MobileNetV2Error(typeof message === 'string' ? message : message());
}
