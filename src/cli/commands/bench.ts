/**
 * `mobilenet-v2 bench [--json] [--quick]`: times this library against bare ONNX Runtime, tfjs,
 * onnxruntime-web and transformers.js (see bench/ in the source checkout; `npm run bench` runs the
 * same code). The harness and its peers are development dependencies, loaded only here.
 */
import type { Command } from 'commander';
import { MobileNetV2Error } from '../../errors.js';

interface BenchFlags {
  json?: boolean;
  quick?: boolean;
  model?: string;
  segmentationModel?: string;
  train?: boolean;
  trainLarge?: boolean;
  trainFineTune?: boolean;
  serve?: boolean;
  jobs?: boolean;
}

/** Registers the `bench` command. */
export function register(program: Command): void {
  program
    .command('bench')
    .description('benchmark against bare onnxruntime-node, tfjs-wasm, onnxruntime-web and transformers.js (source checkout with dev dependencies)')
    .option('--json', 'print {"results":[{"name","batch","size","threads","ms_per_image","images_per_s","rss_mb"}], "ratios", ...}')
    .option('--quick', 'a short run: batch 1, one thread, fewer rounds')
    .option('-m, --model <dir>', 'classification checkpoint folder (default: the shipped mobilenet_v2_1.0_224_quant)')
    .option('--segmentation-model <dir>', 'segmentation checkpoint folder, timed at 513×513 (default: the shipped DeepLabV3)')
    .option('--train', 'run only the training benchmark (train on the flowers fixture: embedding images/s, s/epoch, peak RSS, head vs --augment accuracy)')
    .option('--train-large', 'add the 20 000-image training case (10-20 minutes on 2 cores)')
    .option('--train-fine-tune', 'add train --fine-tune 1, 2, 4 on the flowers split (with its default augmented views and without) and --fine-tune 2 on upright vs upside-down flowers, each beside the head (about 20 minutes on 2 cores)')
    .option('--serve', 'run only the serve benchmark (mobilenet-v2 serve under autocannon load: 1/8/32/128 clients, batching on and off, overload; against classify in one process)')
    .option('--jobs', 'run only the batch-job benchmark: 1000 photos through classify vs submit with 1, 2, 3 workers, and recovery from a killed worker (needs Redis on 127.0.0.1:6379)')
    .action(async (flags: BenchFlags) => {
      let harness: typeof import('../../../bench/harness.js');
      let report: typeof import('../../../bench/report.js');
      let training: typeof import('../../../bench/train.js');
      let serving: typeof import('../../../bench/serve.js');
      try {
        [harness, report, training, serving] = await Promise.all([
          import('../../../bench/harness.js'), import('../../../bench/report.js'), import('../../../bench/train.js'), import('../../../bench/serve.js'),
        ]);
      } catch (cause) {
        // The installed package ships dist/src only: bench/ and its peers live in the source checkout.
        throw new MobileNetV2Error('mobilenet-v2 bench needs a source checkout: the benchmark harness (bench/) and its peers are not in the installed package; clone the repository, then npm ci && npm run bench', { code: 'E_FILE_NOT_FOUND', cause });
      }
      const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
      // A full run includes the training and serve benchmarks; --quick leaves them out, --train, --serve or --jobs runs only that one.
      const only = flags.train ? 'train' : flags.serve ? 'serve' : flags.jobs ? 'jobs' : null;
      const result = only ? null : await harness.runBenchmark({ quick: flags.quick, model: flags.model, segmentationModel: flags.segmentationModel, log });
      const trained = only === 'train' || (!only && (flags.trainLarge || flags.trainFineTune || !flags.quick))
        ? await training.runTrainingBenchmark({ large: flags.trainLarge, fineTune: flags.trainFineTune, log })
        : null;
      const served = only === 'serve' || (!only && !flags.quick) ? await serving.runServeBenchmark({ quick: flags.quick, model: flags.model, log }) : null;
      // Only on request: it needs a Redis server (and imports bullmq).
      const jobs = only === 'jobs' ? await import('../../../bench/jobs.js') : null;
      const queued = jobs && (await jobs.runJobsBenchmark({ log }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ...result, ...(trained ? { training: trained } : {}), ...(served ? { serve: served } : {}), ...(queued ? { jobs: queued } : {}) }, null, 2)}\n`);
        return;
      }
      const parts = [result && report.formatReport(result), trained && training.formatTraining(trained), served && serving.formatServeReport(served), queued && jobs?.formatJobs(queued)];
      process.stdout.write(parts.filter((p) => p).join('\n'));
    });
}
