/**
 * The limits that keep a slow or hostile hub (or mirror) from stalling a download or filling the
 * disk: the one home of their defaults. Node reads overrides from the environment (see
 * hub_env_node.ts); every field can also be given as an option. No Node APIs here.
 */

/** How long, how slow and how big hub answers may be. */
export interface HubLimits {
  /** Time a metadata (HEAD) request may take, redirects included. HF_HUB_ETAG_TIMEOUT, seconds. */
  readonly metadataTimeoutMs: number;
  /**
   * Time a download may wait for the answer's headers or receive no byte at all before it is given
   * up (and can be resumed later). HF_HUB_DOWNLOAD_TIMEOUT, seconds, as huggingface_hub's per-read
   * timeout.
   */
  readonly readTimeoutMs: number;
  /**
   * Least average speed, in bytes per second, over each {@link speedWindowMs} of a download; a
   * server dripping bytes just fast enough to dodge the read timeout fails this rule.
   * MOBILENET_V2_HUB_MIN_SPEED; 0 turns the rule off.
   */
  readonly minBytesPerSecond: number;
  /** Length of the windows the least speed is measured over. MOBILENET_V2_HUB_SPEED_WINDOW, seconds. */
  readonly speedWindowMs: number;
  /**
   * Most bytes accepted for a metadata file (`.json`, `.txt`) served without any announced size;
   * weight files must announce their size. MOBILENET_V2_HUB_MAX_UNSIZED, bytes.
   */
  readonly maxUnsizedBytes: number;
  /** Redirects followed per request before the answer is refused. MOBILENET_V2_HUB_MAX_REDIRECTS. */
  readonly maxRedirects: number;
}

/** The defaults: huggingface_hub's 10 s timeouts, 1 KiB/s over 30 s, 8 MiB for unsized JSON. */
export const DEFAULT_HUB_LIMITS: HubLimits = {
  metadataTimeoutMs: 10_000,
  readTimeoutMs: 10_000,
  minBytesPerSecond: 1024,
  speedWindowMs: 30_000,
  maxUnsizedBytes: 8 * 1024 * 1024,
  maxRedirects: 5,
};

/**
 * The environment variable that overrides each limit, and its unit: seconds (as huggingface_hub's
 * HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT), bytes per second, or bytes.
 */
export const LIMIT_VARIABLES: Readonly<Record<keyof HubLimits, readonly [name: string, scale: number]>> = {
  metadataTimeoutMs: ['HF_HUB_ETAG_TIMEOUT', 1000],
  readTimeoutMs: ['HF_HUB_DOWNLOAD_TIMEOUT', 1000],
  minBytesPerSecond: ['MOBILENET_V2_HUB_MIN_SPEED', 1],
  speedWindowMs: ['MOBILENET_V2_HUB_SPEED_WINDOW', 1000],
  maxUnsizedBytes: ['MOBILENET_V2_HUB_MAX_UNSIZED', 1],
  maxRedirects: ['MOBILENET_V2_HUB_MAX_REDIRECTS', 1],
};

/**
 * Whether `file` is small metadata (configs, label lists) that a server may send without a
 * length, within {@link HubLimits.maxUnsizedBytes}; anything else is a weight file.
 */
export function isMetadataFile(file: string): boolean {
  return /\.(json|txt)$/i.test(file);
}
