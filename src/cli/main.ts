#!/usr/bin/env node
/**
 * `mobilenet-v2` command line. Each sub-command lives in `commands/<name>.ts` and exports a
 * `register(program)` function; this file only wires them together and turns errors into one line
 * on stderr and a non-zero exit code (stack traces only with `--verbose`).
 */
import { Command } from 'commander';
import { register as bench } from './commands/bench.js';
import { register as classify } from './commands/classify.js';
import { register as convert } from './commands/convert.js';
import { register as embed } from './commands/embed.js';
import { register as exportOnnx } from './commands/export_onnx.js';
import { register as forward } from './commands/forward.js';
import { register as info } from './commands/info.js';
import { register as preprocess } from './commands/preprocess.js';
import { register as segment } from './commands/segment.js';
import { runCli } from './run.js';

const program = new Command('mobilenet-v2')
  .description("Hugging Face transformers' MobileNetV2 and DeepLabV3 on ONNX Runtime")
  .option('--verbose', 'print stack traces on errors');

const commands: Array<(program: Command) => void> = [
  classify,
  segment,
  embed,
  info,
  convert,
  exportOnnx,
  bench,
  forward,
  preprocess,
];

process.exitCode = await runCli(program, commands, process.argv);
