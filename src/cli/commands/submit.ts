/**
 * `mobilenet-v2 submit IMAGES|DIRS... --task classify|segment|embed [--chunk 32] [--wait --output
 * results.jsonl]`: queues images in chunks for `mobilenet-v2 worker` processes on any machine that
 * reaches the same Redis and sees the same files; with `--wait`, collects one JSON line per image
 * in input order — the objects `classify --json`, `segment --json` or `embed --format json` print.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { check } from '../../errors.js';
import { checkOutputFile } from '../../node/write_folder.js';
import { DEFAULT_TOP_K } from '../../pipelines/image_classification.js';
import { JOB_TASKS, MAX_CHUNK, modelRef, type JobTask } from '../../jobs/payload.js';
import { progressReport, removeSubmission, submitImages, waitForSubmission, writeResults } from '../../jobs/submit.js';
import {
  addModelOptions, checkModelFlags, IMAGE_ARGS_HELP, imageFiles, parseBlockIndex, positiveInteger, type ModelFlags,
} from '../support/command_helpers.js';
import { addQueueOptions, reportFailures, withQueue, type QueueFlags } from './jobs.js';

interface SubmitFlags extends ModelFlags, QueueFlags {
  task: JobTask;
  chunk: number;
  topK: number;
  outIndex?: number;
  attempts: number;
  output?: string;
  wait?: boolean;
}

function parseTask(value: string): JobTask {
  if (!(value in JOB_TASKS)) throw new InvalidArgumentError(`must be one of ${Object.keys(JOB_TASKS).join(', ')}.`);
  return value as JobTask;
}

/** Registers the `submit` command. */
export function register(program: Command): void {
  const command = program.command('submit')
    .description('queue images on Redis for mobilenet-v2 worker processes (on this or other machines sharing the files); with --wait, collect one JSON line per image')
    .argument('<images...>', IMAGE_ARGS_HELP)
    .requiredOption('--task <task>', `what the workers do: ${Object.keys(JOB_TASKS).join(', ')} (the same results as that command's JSON)`, parseTask);
  addQueueOptions(addModelOptions(command, "the task's built-in model; workers serving another model refuse the chunks", false))
    .option('--chunk <n>', `images per job (1..${MAX_CHUNK})`, positiveInteger, 32)
    .option('-k, --top-k <k>', 'classify: classes per image', positiveInteger, DEFAULT_TOP_K)
    .option('--out-index <k>', 'embed: the block 0..15 whose pooled output is the embedding (default: the last layer)', parseBlockIndex)
    .option('--attempts <n>', 'runs of a chunk before it fails for good (exponential backoff from 1 s between them)', positiveInteger, 3)
    .option('--wait', 'wait for the workers, then write the results (progress on stderr)')
    .option('-o, --output <file>', 'with --wait: write the results here, completely or not at all (default: stdout)')
    .action(async (args: string[], flags: SubmitFlags) => {
      check(flags.output === undefined || flags.wait, '--output needs --wait; collect a detached submission with: mobilenet-v2 jobs results ID --output FILE');
      check(flags.chunk <= MAX_CHUNK, `--chunk ${flags.chunk}: at most ${MAX_CHUNK} images per chunk`);
      checkModelFlags(flags);
      if (flags.output !== undefined) await checkOutputFile(flags.output);
      const { files } = await imageFiles(args);
      const options = flags.task === 'classify' ? { topK: flags.topK } : flags.task === 'embed' && flags.outIndex !== undefined ? { outIndex: flags.outIndex } : {};
      await withQueue(flags, async (client, queue) => {
        const submission = await submitImages(client, queue, { ...modelRef(flags), task: flags.task, options, files, chunkSize: flags.chunk, attempts: flags.attempts });
        const { id, spec } = submission;
        process.stderr.write(`mobilenet-v2: submission ${id}: ${spec.images} images in ${spec.chunks} chunks on queue ${queue.name}\n`);
        if (!flags.wait) return void process.stdout.write(`${id}\n`);
        // (A hint only: counting workers needs CLIENT LIST, which some managed Redis servers refuse.)
        const workers = await queue.getWorkersCount().catch(() => null);
        if (workers === 0) process.stderr.write(`mobilenet-v2: no worker is on queue ${queue.name} yet; start one: mobilenet-v2 worker --redis URL --queue ${queue.name}\n`);
        const bar = progressReport();
        const progress = await waitForSubmission(client, queue, submission, bar.report).finally(bar.stop);
        const written = await writeResults(client, submission, progress, flags.output);
        await removeSubmission(client, queue, submission, progress.failed);
        reportFailures(written);
        if (flags.output !== undefined) process.stderr.write(`mobilenet-v2: wrote ${written.lines} results to ${flags.output}\n`);
      });
    });
}
