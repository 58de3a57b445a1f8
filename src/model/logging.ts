/**
 * Where the library's warnings go: `console.warn` unless redirected or silenced with
 * {@link setLogger} (transformers' `logging.set_verbosity_error()`), and the loading warnings
 * transformers prints, in its words.
 */
import type { Architecture } from '../config/configuration_mobilenet_v2.js';
import type { LoadReport } from './loading.js';

/** Receives one warning (possibly several lines). */
export type Logger = (message: string) => void;

let logger: Logger | null = (message) => console.warn(message);

/** Sends warnings to `handler`, or drops them with `null`; returns the previous handler. */
export function setLogger(handler: Logger | null): Logger | null {
  const previous = logger;
  logger = handler;
  return previous;
}

/** Emits a warning through the current logger. */
export function warn(message: string): void {
  logger?.(message);
}

/** A key list as transformers prints it (a Python list). */
function pythonList(keys: readonly string[]): string {
  return `[${keys.map((k) => `'${k}'`).join(', ')}]`;
}

/**
 * transformers' warnings after loading `source` into `architecture`: checkpoint weights the class
 * does not use, and weights the checkpoint lacks (freshly initialised, so the model needs training).
 */
export function warnAboutLoadReport(report: LoadReport, architecture: Architecture, source: string): void {
  if (report.unexpectedKeys.length > 0) {
    warn(
      `Some weights of the model checkpoint at ${source} were not used when initializing ${architecture}: ${pythonList(report.unexpectedKeys)}\n` +
        `- This IS expected if you are initializing ${architecture} from the checkpoint of a model trained on another task or with another architecture.\n` +
        `- This IS NOT expected if you are initializing ${architecture} from the checkpoint of a model that you expect to be exactly identical.`,
    );
  }
  if (report.missingKeys.length > 0) {
    warn(
      `Some weights of ${architecture} were not initialized from the model checkpoint at ${source} and are newly initialized: ${pythonList(report.missingKeys)}\n` +
        'You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.',
    );
  }
}
