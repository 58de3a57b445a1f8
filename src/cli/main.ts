#!/usr/bin/env node
/**
 * `mobilenet-v2` command line. Each sub-command lives in `commands/<name>.ts` and exports a
 * `register(program)` function; this file only wires them together and turns errors into one line
 * on stderr and a non-zero exit code (stack traces only with `--verbose`).
 */
import { Command } from 'commander';
import { runCli } from './run.js';

type CommandModule = { register(program: Command): void };

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
};

const program = new Command('mobilenet-v2')
  .description("Hugging Face transformers' MobileNetV2 and DeepLabV3 on ONNX Runtime")
  .option('--verbose', 'print stack traces on errors');

// A cold start matters (`mobilenet-v2 classify photo.jpg`): load only the command being run, and
// every command for `--help`, `help` or an unknown name (so commander can list or reject it).
const named = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const names = named !== undefined && named in COMMANDS ? [named] : Object.keys(COMMANDS);
const modules = await Promise.all(names.map((name) => COMMANDS[name]!()));

process.exitCode = await runCli(program, modules.map((m) => m.register), process.argv);
