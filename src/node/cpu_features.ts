/**
 * What the CPU offers ONNX Runtime's integer kernels (Node: read from /proc/cpuinfo on Linux).
 * Only VNNI matters here: with it, signed int8 weights (U8S8 kernels) are exact and faster than
 * unsigned ones; without it they may saturate (see src/quantization/qdq_graph.ts).
 */
import { readFileSync } from 'node:fs';

/** `MOBILENET_V2_INT8_WEIGHTS=int8|uint8` overrides the choice (e.g. to compare both). */
const OVERRIDE = 'MOBILENET_V2_INT8_WEIGHTS';

/** Whether the x86 CPU has AVX-512 VNNI or AVX-VNNI, from the flags in `cpuinfo`. */
export function cpuinfoHasVnni(cpuinfo: string): boolean {
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
  return flags.includes('avx512_vnni') || flags.includes('avx_vnni');
}

let cached: boolean | undefined;

/**
 * Whether int8 graphs on this machine should store signed weights: on an x86 CPU with VNNI, or as
 * {@link OVERRIDE} says. Anywhere else (no /proc/cpuinfo, other CPUs) unsigned, exact everywhere.
 */
export function signedInt8WeightsPay(env: NodeJS.ProcessEnv = process.env): boolean {
  const override = env[OVERRIDE];
  if (override === 'int8' || override === 'uint8') return override === 'int8';
  if (cached === undefined) {
    try {
      cached = (process.arch === 'x64' || process.arch === 'ia32') && cpuinfoHasVnni(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      cached = false;
    }
  }
  return cached;
}
