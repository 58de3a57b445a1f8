/**
 * Long command lines (a shell glob of a thousand photos). ONNX Runtime reads /proc/self/cmdline
 * when it creates a session and walks it recursively: in a worker thread (4 MB stack), a command
 * line past about 15 KB overflows the stack and the process dies with SIGSEGV (onnxruntime-node
 * 1.30, Linux). The CLI therefore re-runs itself with a short command line and hands the
 * arguments over on a pipe (file descriptor 3) when they are long.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Command lines longer than this (bytes, as /proc/self/cmdline holds them) are handed over on a pipe. */
export const LONG_ARGV_BYTES = 4096;

/** Set in the re-run process: the arguments arrive as JSON on file descriptor 3. */
const ARGV_FD_ENV = 'MOBILENET_V2_ARGV_FD';

/** Bytes of a command line as the kernel stores it: each argument and its terminating NUL. */
export function commandLineBytes(argv: readonly string[]): number {
  return argv.reduce((n, arg) => n + Buffer.byteLength(arg) + 1, 0);
}

/**
 * The CLI's arguments (`process.argv` form): read from the pipe in a re-run process, else
 * `process.argv` itself; null when the command line is long, in which case this process has
 * re-run itself and will exit with the child's status.
 */
export function cliArgv(): string[] | null {
  if (process.env[ARGV_FD_ENV] === '3') {
    delete process.env[ARGV_FD_ENV];
    return [...process.argv.slice(0, 2), ...(JSON.parse(readFileSync(3, 'utf8')) as string[])];
  }
  if (commandLineBytes([...process.execArgv, ...process.argv]) <= LONG_ARGV_BYTES) return process.argv;
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'], env: { ...process.env, [ARGV_FD_ENV]: '3' },
  });
  const pipe = child.stdio[3] as NodeJS.WritableStream;
  pipe.on('error', () => undefined); // a child that dies early reports for itself
  pipe.end(JSON.stringify(process.argv.slice(2)));
  // The terminal's Ctrl-C reaches the whole process group; a kill or a supervisor's SIGTERM only us.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal); // die of the same signal, as a shell expects
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
  return null;
}
