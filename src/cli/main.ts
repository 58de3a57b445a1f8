#!/usr/bin/env node
/**
 * `mobilenet-v2` command line. Each sub-command lives in `commands/<name>.ts` and exports a
 * `register(program)` function; this file only wires them together and turns errors into one line
 * on stderr and a non-zero exit code (stack traces only with `--verbose`).
 */
import { packageVersion } from '../pipelines/default_models_node.js';
import { Command } from 'commander';
import { cliArgv } from './long_argv.js';
import { runCli } from './run.js';

// `mobilenet-v2 classify … | head -1`: once the reader has closed the pipe, more output is
// pointless; stop quietly (exit 0, like a SIGPIPE'd Unix tool) instead of a stack trace. Any other
// failure to write stdout (a full disk) is one line and exit 1.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') process.stderr.write(`mobilenet-v2: cannot write standard output: ${err.message}\n`);
  process.exit(err.code === 'EPIPE' ? 0 : 1);
});
process.stderr.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));

type CommandModule = { register: (program: Command) => void };

/** Sub-commands in `--help` order; each module is imported only when needed. */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  classify: () => import('./commands/classify.js'),
  segment: () => import('./commands/segment.js'),
  embed: () => import('./commands/embed.js'),
  info: () => import('./commands/info.js'),
  convert: () => import('./commands/convert.js'),
  'export-onnx': () => import('./commands/export_onnx.js'),
  bench: () => import('./commands/bench.js'),
  forward: () => import('./commands/forward.js'),
  preprocess: () => import('./commands/preprocess.js'),
  train: () => import('./commands/train.js'),
  eval: () => import('./commands/eval.js'),
  serve: () => import('./commands/serve.js'),
  submit: () => import('./commands/submit.js'),
  worker: () => import('./commands/worker.js'),
  jobs: () => import('./commands/jobs.js'),
};

const program = new Command('mobilenet-v2')
  .description("Hugging Face transformers' MobileNetV2 and DeepLabV3 on ONNX Runtime")
  .option('--verbose', 'print stack traces on errors')
  .version(packageVersion(), '-V, --version', 'print the version');

// A cold start matters (`mobilenet-v2 classify photo.jpg`): load only the command being run, and
// every command for `--help`, `help` or an unknown name (so commander can list or reject it).
// A long command line runs in a re-run child instead (./long_argv.ts): then argv is null here.
const argv = cliArgv();
if (argv) {
  const named = argv.slice(2).find((arg) => !arg.startsWith('-'));
  const names = named !== undefined && named in COMMANDS ? [named] : Object.keys(COMMANDS);
  const modules = await Promise.all(names.map((name) => COMMANDS[name]!()));
  process.exitCode = await runCli(program, modules.map((m) => m.register), argv);
}
