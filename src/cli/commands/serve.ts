/**
 * `mobilenet-v2 serve`: an HTTP inference server for the classifier and the segmenter (REST and
 * KServe v2 routes, dynamic batching, backpressure, Prometheus metrics; see src/serve/). Stops on
 * SIGTERM or SIGINT after answering the requests in flight, exit code 0.
 */
import { InvalidArgumentError, type Command } from 'commander';
import {
  addModelOptions, checkModelFlags, nonNegativeInteger, positiveInteger, positiveNumber, type ModelFlags,
} from '../support/command_helpers.js';

interface ServeFlags extends ModelFlags {
  segmentationModel?: string;
  host: string;
  port: number;
  maxBatch: number;
  maxDelayMs: number;
  maxQueue: number;
  timeoutMs: number;
  workers?: number;
  maxBodyMb: number;
  logLevel: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function port(value: string): number {
  const n = nonNegativeInteger(value);
  if (n > 65535) throw new InvalidArgumentError('must be a port number 0..65535.');
  return n;
}

function logLevel(value: string): string {
  if (!LOG_LEVELS.includes(value)) throw new InvalidArgumentError(`must be one of ${LOG_LEVELS.join(', ')}.`);
  return value;
}

/** Resolves on the first SIGTERM or SIGINT; a second one ends the process at once (the default action). */
function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/** Registers the `serve` command. */
export function register(program: Command): void {
  const command = program.command('serve')
    .description('run an HTTP inference server: /v1/classify, /v1/segment, /v1/embed, KServe v2 (/v2/...), /metrics; dynamic batching across clients');
  addModelOptions(command, 'the shipped mobilenet_v2_1.0_224_quant ImageNet classifier; also used for /v1/embed')
    .option('--segmentation-model <model>', 'segmentation model folder or hub id (default: the shipped deeplabv3_mnv2_pascal_quant)')
    .option('--host <host>', 'address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', port, 8080)
    .option('--max-batch <n>', 'most images per model run (1: no batching)', positiveInteger, 8)
    .option('--max-delay-ms <ms>', 'most milliseconds a request waits for others to batch with', nonNegativeInteger, 5)
    .option('--max-queue <n>', 'most images in flight (decoding, queued, running); more get 429 with Retry-After', positiveInteger, 256)
    .option('--timeout-ms <ms>', 'deadline of a request; past it 504 and its work is dropped', positiveInteger, 30_000)
    .option('--workers <n>', 'decode and preprocess worker threads per model (default: the cores the model threads leave, at least 1)', positiveInteger)
    .option('--max-body-mb <mb>', 'largest request body in MiB (all images of a multipart request together); more get 413', positiveNumber, 20)
    .option('--log-level <level>', `one-line JSON logs on stdout at this level (${LOG_LEVELS.join(', ')})`, logLevel, 'info')
    .action(async (flags: ServeFlags) => {
      checkModelFlags(flags);
      const { startServer } = await import('../../serve/server_node.js');
      const stopped = stopSignal();
      const server = await startServer({ ...flags, logLevel: flags.logLevel === 'silent' ? false : flags.logLevel });
      // A signal while the models load stops the server as well.
      const first = await Promise.race([server.ready.then(() => null), stopped]);
      if (first === null) await stopped;
      await server.close();
    });
}
