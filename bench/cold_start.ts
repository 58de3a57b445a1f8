/**
 * Cold start: one photo classified by a fresh process, from process start to exit — our CLI
 * against the equivalent transformers.js script (load a local model, classify one JPEG, exit).
 * Wall time is measured around the child; peak RSS comes from GNU time when it is installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './report.js';

const GNU_TIME = '/usr/bin/time';
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Wall time (ms) and peak RSS (MB, NaN when unknown) of one command. */
function measure(args: readonly string[], env: NodeJS.ProcessEnv): { ms: number; rssMb: number } {
  const withTime = existsSync(GNU_TIME);
  const command = withTime ? [GNU_TIME, '-f', '%M', process.execPath, ...args] : [process.execPath, ...args];
  const start = performance.now();
  const child = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', env });
  const ms = performance.now() - start;
  if (child.status !== 0) throw new Error(`cold start: ${args.join(' ')} failed: ${child.stderr.trim().split('\n').slice(-3).join(' ')}`);
  const kb = withTime ? Number(child.stderr.trim().split('\n').at(-1)) : NaN;
  return { ms, rssMb: kb / 1024 };
}

/** The transformers.js script: the same model folder, the same photo, top-5. */
async function transformersScript(dir: string, root: string, name: string, photo: string): Promise<string> {
  const script = join(dir, 'transformers_js_classify.mjs');
  const url = import.meta.resolve('@huggingface/transformers');
  await writeFile(script, [
    `import { env, pipeline } from ${JSON.stringify(url)};`,
    `env.localModelPath = ${JSON.stringify(root)};`,
    'env.allowRemoteModels = false;',
    `const classify = await pipeline('image-classification', ${JSON.stringify(name)}, { dtype: 'fp32' });`,
    `console.log(JSON.stringify(await classify(${JSON.stringify(photo)}, { top_k: 5 })));`,
  ].join('\n'));
  return script;
}

/** Median wall time and peak RSS over `reps` interleaved runs of each side. */
export async function coldStart(
  tempDir: string, transformers: { root: string; name: string } | null, modelDir: string, photo: string, reps: number,
): Promise<Array<{ name: string; ms: number; rssMb: number }>> {
  const classify = [CLI, 'classify', '--model', modelDir, photo];
  // The usual case reuses the compiled graph a previous run cached; the uncached row is a first run.
  const sides: Array<{ name: string; args: string[]; env?: NodeJS.ProcessEnv }> = [
    { name: 'cold-start-ours-classify', args: classify },
    { name: 'cold-start-ours-classify-uncached', args: classify, env: { ...process.env, MOBILENET_V2_GRAPH_CACHE: '0' } },
  ];
  if (transformers) {
    sides.push({ name: 'cold-start-transformers-js', args: [await transformersScript(tempDir, transformers.root, transformers.name, photo)] });
  }
  const runs = sides.map(() => [] as Array<{ ms: number; rssMb: number }>);
  measure(classify, process.env); // fills the graph cache
  for (let r = 0; r < reps; r++) sides.forEach((side, i) => runs[i]!.push(measure(side.args, side.env ?? process.env)));
  return sides.map((side, i) => ({ name: side.name, ms: median(runs[i]!.map((x) => x.ms)), rssMb: median(runs[i]!.map((x) => x.rssMb)) }));
}
