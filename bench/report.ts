/**
 * Benchmark results: the rows (`{"results": [...]}` in JSON), the ratios the project's performance
 * goals are stated in, and the text table.
 */
import { formatProfile, type StageProfile } from './profile.js';

/** One measured configuration. */
export interface ResultRow {
  readonly name: string;
  readonly batch: number;
  readonly size: number;
  /** Intra-op threads; null where the runtime picks (the CLI's defaults in the cold-start rows). */
  readonly threads: number | null;
  readonly ms_per_image: number;
  readonly images_per_s: number;
  /** Peak resident memory of the process that ran it. */
  readonly rss_mb: number;
  /** Largest |logit − ours-fp32 logit| on the shared input (model-only rows). */
  readonly max_abs_diff?: number | null;
}

/** A goal: `value` (how many times faster, or a fraction) against `target`. */
export interface Ratio {
  readonly name: string;
  readonly value: number;
  readonly target: number;
  /** Whether the value must be at least (`>=`) or at most (`<=`) the target. */
  readonly direction: '>=' | '<=';
  readonly pass: boolean;
}

/** The int8 top-1 agreement with fp32 on one photo. */
export interface PhotoAgreement {
  readonly photo: string;
  readonly fp32: number;
  readonly int8: number;
}

/** Everything one benchmark run produced. */
export interface BenchReport {
  readonly results: ResultRow[];
  readonly ratios: Ratio[];
  readonly int8_top1: PhotoAgreement[];
  /** Per-stage ms/image of the photo path, fp32 and int8 (see profile.ts). */
  readonly profile: StageProfile[];
  /** Engines that could not run (a peer not installed), with the reason. */
  readonly skipped: string[];
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A row from per-call times. */
export function row(
  name: string, spec: { batch: number; size: number }, threads: number | null, callMs: readonly number[], imagesPerCall: number, rssMb: number,
  maxAbsDiff?: number | null,
): ResultRow {
  const ms = median(callMs) / imagesPerCall;
  return {
    name, batch: spec.batch, size: spec.size, threads, ms_per_image: round(ms, 3), images_per_s: round(1000 / ms, 1), rss_mb: round(rssMb, 1),
    ...(maxAbsDiff !== undefined ? { max_abs_diff: maxAbsDiff } : {}),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function find(rows: readonly ResultRow[], name: string, batch: number, size: number, threads: number | null): ResultRow | undefined {
  return rows.find((r) => r.name === name && r.batch === batch && r.size === size && r.threads === threads);
}

/** A goal met or not: `value` (rounded to 3 digits) against `target`. */
export function goal(name: string, value: number, target: number, direction: '>=' | '<='): Ratio {
  const rounded = round(value, 3);
  return { name, value: rounded, target, direction, pass: direction === '>=' ? rounded >= target : rounded <= target };
}

/** A goal as the report prints it: `ok` or `MISS`, its name, value and target. */
export function formatGoal(r: Ratio): string {
  return `${r.pass ? 'ok  ' : 'MISS'} ${r.name}: ${r.value} (goal ${r.direction} ${r.target})`;
}

/**
 * The goals' ratios, from rows of one run: `slower / faster` speed-ups (`a` over `b` means how many
 * times b's time a's time is), for every thread count measured.
 */
export function ratios(rows: readonly ResultRow[], threads: readonly number[]): Ratio[] {
  const out: Ratio[] = [];
  const add = (name: string, a: ResultRow | undefined, b: ResultRow | undefined, target: number, direction: '>=' | '<=', key: 'ms_per_image' | 'rss_mb' = 'ms_per_image'): void => {
    if (a && b) out.push(goal(name, a[key] / b[key], target, direction));
  };
  for (const t of threads) {
    for (const batch of [1, 8]) {
      add(`ours-fp32 time / onnxruntime-raw-fp32 time, batch ${batch}, ${t} thread(s)`, find(rows, 'ours-fp32', batch, 224, t), find(rows, 'onnxruntime-raw-fp32', batch, 224, t), 1.05, '<=');
      add(`tfjs-wasm time / ours-fp32 time, batch ${batch}, ${t} thread(s)`, find(rows, 'tfjs-wasm', batch, 224, t), find(rows, 'ours-fp32', batch, 224, t), 3, '>=');
    }
    add(`ours-fp32 time / ours-int8 time, batch 1, ${t} thread(s)`, find(rows, 'ours-fp32', 1, 224, t), find(rows, 'ours-int8', 1, 224, t), 2, '>=');
    add(`transformers-js-pipeline time / ours-pipeline time, ${t} thread(s)`, find(rows, 'transformers-js-pipeline', 1, 224, t), find(rows, 'ours-pipeline', 1, 224, t), 1, '>=');
    const pipelined = find(rows, 'classify-pipelined', 8, 224, t);
    add(`classify-sequential time / classify-pipelined time (photo files → top-5), ${t} thread(s)`, find(rows, 'classify-sequential', 1, 224, t), pipelined, 1.5, '>=');
    add(`transformers.js one file after another / classify-pipelined (photo files → top-5), ${t} thread(s)`, find(rows, 'transformers-js-files', 1, 224, t), pipelined, 3, '>=');
    add(`transformers.js in batches of 8 / classify-pipelined (photo files → top-5), ${t} thread(s)`, find(rows, 'transformers-js-files', 8, 224, t), pipelined, 3, '>=');
  }
  const coldOurs = find(rows, 'cold-start-ours-classify', 1, 224, null);
  const coldTjs = find(rows, 'cold-start-transformers-js', 1, 224, null);
  add('cold start wall time: ours / transformers.js', coldOurs, coldTjs, 1, '<=');
  add('cold start peak RSS: ours / transformers.js', coldOurs, coldTjs, 1, '<=', 'rss_mb');
  return out;
}

/** Table lines: the first column left-aligned, the others right-aligned, each as wide as its widest cell. */
export function formatTable(header: readonly string[], lines: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [header, ...lines].map(fmt);
}

/** The report as text: the table, the goals, the int8 agreement. */
export function formatReport(report: BenchReport): string {
  const header = ['name', 'batch', 'size', 'threads', 'ms/image', 'images/s', 'peak RSS MB', 'max |Δlogit|'];
  const lines = report.results.map((r) => [
    r.name, String(r.batch), String(r.size), r.threads === null ? 'default' : String(r.threads), r.ms_per_image.toFixed(2),
    r.images_per_s.toFixed(1), r.rss_mb.toFixed(0), r.max_abs_diff === undefined || r.max_abs_diff === null ? '' : r.max_abs_diff.toExponential(1),
  ]);
  const parts = [...formatTable(header, lines), ''];
  for (const r of report.ratios) parts.push(formatGoal(r));
  if (report.int8_top1.length) {
    const same = report.int8_top1.filter((p) => p.fp32 === p.int8).length;
    parts.push(`int8 top-1 = fp32 top-1 on ${same}/${report.int8_top1.length} photos` +
      report.int8_top1.filter((p) => p.fp32 !== p.int8).map((p) => ` (${p.photo}: ${p.fp32} vs ${p.int8})`).join(''));
  }
  parts.push('', formatProfile(report.profile));
  for (const s of report.skipped) parts.push(`skipped: ${s}`);
  return `${parts.join('\n')}\n`;
}
