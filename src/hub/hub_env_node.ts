/**
 * Hub settings from the environment variables huggingface_hub reads (Node), so that this library
 * and Python transformers share a cache, an endpoint and a token.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { MobileNetV2Error } from '../errors.js';
import { DEFAULT_ENDPOINT } from './hub_common.js';
import { DEFAULT_HUB_LIMITS, LIMIT_VARIABLES, type HubLimits } from './hub_limits.js';

/** Environment variables, as in `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Explicit settings; each one given wins over its environment variable. */
export interface HubSettingsOverrides {
  /** Hub cache folder; default HF_HUB_CACHE, else `$HF_HOME/hub`. */
  readonly cacheDir?: string;
  /** Hub or mirror URL; default HF_ENDPOINT, else https://huggingface.co. */
  readonly endpoint?: string;
  /** Access token; default HF_TOKEN, else the token file `huggingface-cli login` writes. */
  readonly token?: string;
  /** Use only the cache; default HF_HUB_OFFLINE. */
  readonly offline?: boolean;
  /** Timeouts and size caps; each one not given comes from its variable (see {@link LIMIT_VARIABLES}). */
  readonly limits?: Partial<HubLimits>;
}

/** Fully resolved hub settings. */
export interface HubSettings {
  readonly cacheDir: string;
  readonly endpoint: string;
  readonly token: string | undefined;
  readonly offline: boolean;
  readonly limits: HubLimits;
}


/**
 * Resolves hub settings like huggingface_hub: HF_HOME (default `$XDG_CACHE_HOME/huggingface` or
 * `~/.cache/huggingface`), HF_HUB_CACHE (or the older HUGGINGFACE_HUB_CACHE; default
 * `$HF_HOME/hub`), HF_ENDPOINT, HF_TOKEN (else the file HF_TOKEN_PATH, default `$HF_HOME/token`)
 * and HF_HUB_OFFLINE (1/ON/YES/TRUE).
 */
export async function hubSettings(overrides: HubSettingsOverrides, env: Env): Promise<HubSettings> {
  const hfHome = expandHome(env['HF_HOME'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'huggingface'));
  const cacheDir = overrides.cacheDir ?? env['HF_HUB_CACHE'] ?? env['HUGGINGFACE_HUB_CACHE'] ?? join(hfHome, 'hub');
  const endpoint = (overrides.endpoint ?? nonEmpty(env['HF_ENDPOINT']) ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  return {
    cacheDir: resolve(expandHome(cacheDir)),
    endpoint,
    token:
      overrides.token ?? nonEmpty(env['HF_TOKEN']) ?? (await tokenFile(env['HF_TOKEN_PATH'] ?? join(hfHome, 'token'))),
    offline: overrides.offline ?? envFlag(env, 'HF_HUB_OFFLINE'),
    limits: hubLimits(overrides.limits ?? {}, env),
  };
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Each limit from `overrides`, else its environment variable, else its default. */
export function hubLimits(overrides: Partial<HubLimits>, env: Env): HubLimits {
  const limits = { ...DEFAULT_HUB_LIMITS };
  for (const key of Object.keys(LIMIT_VARIABLES) as (keyof HubLimits)[]) {
    const [name, scale] = LIMIT_VARIABLES[key];
    const raw = nonEmpty(env[name]);
    const value = overrides[key] ?? (raw === undefined ? limits[key] : Number(raw) * scale);
    // Node's timers take at most 2^31 - 1 ms; a longer one would fire at once.
    const most = key.endsWith('Ms') ? MAX_TIMER_MS : Number.MAX_SAFE_INTEGER;
    if (!(value >= 0 && value <= most)) {
      const [given, unit] = overrides[key] === undefined ? [`${name}=${raw}`, scale] : [`limits.${key}=${value}`, 1];
      throw new MobileNetV2Error(`invalid hub limit ${given}: expected a number from 0 to ${most / unit}`, {
        code: 'E_INVALID_ARGUMENT',
      });
    }
    limits[key] = value;
  }
  return limits;
}

/** A boolean variable the way huggingface_hub reads one: 1, ON, YES or TRUE, in any case. */
export function envFlag(env: Env, name: string): boolean {
  return ['1', 'ON', 'YES', 'TRUE'].includes((env[name] ?? '').trim().toUpperCase());
}

/** `~/x` → `<home>/x`, as Python's expanduser. */
function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

/** The trimmed value, or `undefined` when unset or blank. */
function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === '' ? undefined : trimmed;
}

/** The token saved by `huggingface-cli login`, if any. */
async function tokenFile(path: string): Promise<string | undefined> {
  try {
    return nonEmpty(await readFile(expandHome(path), 'utf8'));
  } catch {
    return undefined;
  }
}
