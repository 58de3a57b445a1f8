/**
 * `npm run bench [-- --json] [-- --quick]`: the `mobilenet-v2 bench` command, run from the
 * source checkout.
 */
import { Command } from 'commander';
import { register } from '../src/cli/commands/bench.js';
import { runCli } from '../src/cli/run.js';

const program = new Command('mobilenet-v2').option('--verbose', 'print stack traces on errors');
process.exitCode = await runCli(program, [register], [...process.argv.slice(0, 2), 'bench', ...process.argv.slice(2)]);
