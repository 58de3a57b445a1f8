/**
 * Foreign values and text (config fields, file and zip entry names, parser errors, HTTP headers)
 * made fit for an error message: one line, and short however big the input was. Every
 * {@link MobileNetV2Error} that quotes something from a file or a server goes through here, so the
 * CLI can print any message as a single line.
 */
import { MobileNetV2Error, type MobileNetV2ErrorCode } from './errors.js';

/** Longest piece of foreign text quoted in a message; longer text is cut and ends in `…`. */
export const MAX_QUOTED_CHARS = 200;

// Control characters (C0, DEL, C1) and the two Unicode line breaks: each would break the line.
const LINE_BREAKERS = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;
const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` on one line: control characters written as escapes (`\n`, `\u0000`), and cut to `max`
 * characters with `…` (never inside a surrogate pair).
 */
export function oneLine(text: string, max = MAX_QUOTED_CHARS): string {
  let cut = text.length > max ? text.slice(0, max) : text;
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  const escaped = cut.replace(LINE_BREAKERS, (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return cut.length < text.length ? `${escaped}…` : escaped;
}

/** `text` quoted as JSON writes a string (so `\n` shows as an escape), cut short first. */
export function quote(text: string, max = MAX_QUOTED_CHARS): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/**
 * A short rendering of a value for an error message: numbers as JavaScript writes them (`Infinity`
 * and `NaN` included, which JSON would write as null), small flat values as JSON, anything big or
 * nested by its kind only (stringifying it whole could take long or overflow the stack).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return quote(value, 60);
  if (typeof value !== 'object' || value === null) return String(value);
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  const entries = Object.entries(value);
  const flat = entries.length <= 8 && entries.every(([, v]) => typeof v !== 'object' || v === null);
  if (flat) return oneLine(JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)));
  const keys = entries.slice(0, 5).map(([k]) => quote(k, 40)).join(', ');
  return Array.isArray(value) ? `a list of ${value.length} items` : `an object with keys ${keys}${entries.length > 5 ? ', …' : ''}`;
}

/**
 * Parses JSON `text`, turning a syntax error into a one-line {@link MobileNetV2Error} with `code`
 * (V8's own message quotes the raw text, newlines and all; it is kept as the `cause`).
 */
export function parseJson(text: string, source: string, code: MobileNetV2ErrorCode): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MobileNetV2Error(`${source} is not valid JSON (${oneLine((err as Error).message)})`, { code, cause: err });
  }
}
