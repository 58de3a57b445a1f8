/**
 * The one error type the library throws for bad input: a missing or corrupt file, a wrong tensor
 * shape, an unsupported config. Its message names the file, key or field at fault, so the CLI can
 * print it as a single line without a stack trace; its `code` says what kind of failure it is, for
 * programs (as huggingface.js' `HubApiError` carries its HTTP status).
 */

/**
 * Stable codes of {@link MobileNetV2Error}, documented in the README ("Errors"). Codes are only
 * ever added, never renamed, so programs may switch on them.
 */
export const ERROR_CODES = {
  /** A bad argument or option: a wrong tensor shape, dtype, thread count, unknown task. */
  E_INVALID_ARGUMENT: 'a bad argument or option',
  /** config.json or preprocessor_config.json has a wrong, unknown or out-of-range field. */
  E_CONFIG_INVALID: 'an invalid config',
  /** A checkpoint file (safetensors, PyTorch .bin, TFLite) is corrupt, truncated or malformed. */
  E_CHECKPOINT_CORRUPT: 'a corrupt checkpoint',
  /** A PyTorch pickle asks for something the safe unpickler refuses (code execution). */
  E_CHECKPOINT_UNSAFE: 'an unsafe checkpoint',
  /** A well-formed checkpoint that does not fit the model: missing keys, wrong shapes. */
  E_CHECKPOINT_MISMATCH: 'a checkpoint that does not fit the model',
  /** An image (or segmentation map) that cannot be decoded. */
  E_IMAGE_DECODE: 'an image that cannot be decoded',
  /** An image above the pixel limit (decompression-bomb guard). */
  E_IMAGE_TOO_LARGE: 'an image above the pixel limit',
  /** A file or folder that does not exist or cannot be read. */
  E_FILE_NOT_FOUND: 'a missing file',
  /** An output file that cannot be written. */
  E_FILE_WRITE: 'an output that cannot be written',
  /** The hub (or mirror) has no such repository, revision or file. */
  E_HUB_NOT_FOUND: 'a model not on the hub',
  /** The hub answered with an error, an unsafe value or a file that fails verification. */
  E_HUB_RESPONSE: 'a bad answer from the hub',
  /** The hub cannot be reached, or answered too slowly. */
  E_HUB_UNREACHABLE: 'the hub out of reach',
  /** Offline mode and the file is not in the cache. */
  E_HUB_OFFLINE: 'offline without a cached copy',
  /** ONNX Runtime failed to load or run a graph. */
  E_RUNTIME: 'an ONNX Runtime failure',
  /** The model or pipeline was used after `dispose()`. */
  E_DISPOSED: 'use after dispose',
  /** `mobilenet-v2 serve`: the queue is full; retry after the `Retry-After` seconds (HTTP 429). */
  E_OVERLOADED: 'a server at its queue limit',
  /** `mobilenet-v2 serve`: a request not answered within its deadline, its work dropped (HTTP 504). */
  E_DEADLINE_EXCEEDED: 'a request past its deadline',
  /** `mobilenet-v2 serve`: a request body above the size limit (HTTP 413). */
  E_BODY_TOO_LARGE: 'a request body above the limit',
  /** `mobilenet-v2 serve`: no such route or model (HTTP 404). */
  E_NOT_FOUND: 'an unknown route or model',
  /** `mobilenet-v2 serve`: models not loaded yet, or the server is shutting down (HTTP 503). */
  E_UNAVAILABLE: 'a server not ready',
  /** An optional peer dependency (fastify, prom-client, …) that is not installed. */
  E_MISSING_DEPENDENCY: 'an optional package not installed',
  /** `mobilenet-v2 submit|worker|jobs`: Redis cannot be reached, or was lost for longer than the reconnect budget. */
  E_QUEUE_UNREACHABLE: 'Redis out of reach',
  /** `mobilenet-v2 submit|jobs`: an unknown, expired, cancelled or unfinished submission. */
  E_SUBMISSION: 'an unknown, cancelled or unfinished submission',
  /** A library bug: an invariant that should always hold did not. */
  E_INTERNAL: 'an internal error',
} as const;

/** One of {@link ERROR_CODES}' keys. */
export type MobileNetV2ErrorCode = keyof typeof ERROR_CODES;

/** Options of {@link MobileNetV2Error}: a code (default `E_INVALID_ARGUMENT`) and the original error. */
export interface MobileNetV2ErrorOptions {
  code?: MobileNetV2ErrorCode;
  cause?: unknown;
}

export class MobileNetV2Error extends Error {
  override name = 'MobileNetV2Error';
  /** What kind of failure this is; see {@link ERROR_CODES}. */
  readonly code: MobileNetV2ErrorCode;

  constructor(message: string, options: MobileNetV2ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? 'E_INVALID_ARGUMENT';
  }
}

/** Throws a {@link MobileNetV2Error} with `message` (and `code`) unless `condition` holds. */
export function check(condition: unknown, message: string | (() => string), code?: MobileNetV2ErrorCode): asserts condition {
  if (!condition) throw new MobileNetV2Error(typeof message === 'string' ? message : message(), { code });
}
