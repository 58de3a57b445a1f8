/**
 * Pace rules of one transfer: the read timeout (no byte for too long) and the least average
 * speed, checked between reads, with the messages that say which limit was hit and how to raise it.
 */
import { LIMIT_VARIABLES, type HubLimits } from './hub_limits.js';

/** What a limit was, and how to raise it: `no data for 10 s (HF_HUB_DOWNLOAD_TIMEOUT)`. */
export function limitHit(limits: HubLimits, key: 'metadataTimeoutMs' | 'readTimeoutMs', what: string): string {
  return `${what} within ${limits[key] / 1000} s; raise ${LIMIT_VARIABLES[key][0]} (seconds) on a slow network`;
}

/**
 * The read timeout and least speed of one transfer: {@link wait} says how long the next read may
 * take, {@link update} takes what arrived and throws when a limit is broken.
 */
export class Pace {
  readonly #limits: HubLimits;
  #lastByte = Date.now();
  #windowStart = Date.now();
  #windowBytes = 0;

  constructor(limits: HubLimits) {
    this.#limits = limits;
  }

  /** Milliseconds until a rule would be broken if nothing more arrives. */
  wait(): number {
    const now = Date.now();
    const { readTimeoutMs, minBytesPerSecond, speedWindowMs } = this.#limits;
    const windowEnd = minBytesPerSecond > 0 ? this.#windowStart + speedWindowMs : Infinity;
    return Math.max(0, Math.min(this.#lastByte + readTimeoutMs, windowEnd) - now);
  }

  /** Records `bytes` more (0 when a wait ran out); throws when a rule is broken. */
  update(bytes: number): void {
    const now = Date.now();
    const { readTimeoutMs, minBytesPerSecond, speedWindowMs } = this.#limits;
    if (bytes > 0) this.#lastByte = now;
    this.#windowBytes += bytes;
    if (now - this.#lastByte >= readTimeoutMs) {
      throw new Error(limitHit(this.#limits, 'readTimeoutMs', 'no data'));
    }
    if (minBytesPerSecond > 0 && now - this.#windowStart >= speedWindowMs) {
      const speed = (this.#windowBytes * 1000) / (now - this.#windowStart);
      if (speed < minBytesPerSecond) {
        throw new Error(
          `${speed.toFixed(1)} bytes/s over ${speedWindowMs / 1000} s, below the least ${minBytesPerSecond} bytes/s; ` +
            `lower ${LIMIT_VARIABLES.minBytesPerSecond[0]} (0 turns the rule off) on a slow network`,
        );
      }
      this.#windowStart = now;
      this.#windowBytes = 0;
    }
  }
}

/** The next chunk of `reader`: `undefined` at the end, `null` when nothing came within `ms`. */
export async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number,
): Promise<Uint8Array | undefined | null> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<null>((done) => {
    timer = setTimeout(() => done(null), ms);
  });
  try {
    const result = await Promise.race([reader.read(), waited]);
    return result === null ? null : result.done ? undefined : result.value;
  } finally {
    clearTimeout(timer);
  }
}

