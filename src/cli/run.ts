import { Command, CommanderError } from 'commander';

/**
 * Registers `commands` on `program`, parses `argv` and returns the process exit code. Any error a
 * command throws becomes one line on stderr (`mobilenet-v2: <message>`), with the stack only when
 * `--verbose` is given. Commands report partial failure by returning a non-zero code.
 */
export async function runCli(
  program: Command,
  commands: ReadonlyArray<(program: Command) => void>,
  argv: readonly string[],
): Promise<number> {
  program.exitOverride();
  program.configureOutput({ outputError: (str, write) => write(`mobilenet-v2: ${str.replace(/^error: /, '')}`) });
  for (const register of commands) register(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed it
    const verbose = argv.includes('--verbose');
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`mobilenet-v2: ${message}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
