/**
 * The models a worker holds: one pipeline per task it has been asked for, loaded at the first job
 * of that task and kept, each turning a batch of decoded images into the JSON objects the matching
 * command prints (`classify --json`, `segment --json`, `embed --format json`).
 */
import { MobileNetV2Error } from '../errors.js';
import { loadPipeline, preparerOptions, type ModelFlags } from '../cli/support/command_helpers.js';
import type { PipelineOfTask } from '../pipelines/pipeline.js';
import { DEFAULT_TOP_K } from '../pipelines/image_classification.js';
import { classificationJson, embeddingJson, segmentationJson } from '../pipelines/result_json.js';
import type { RawImage } from '../processing/image.js';
import { createPreparer, type Preparer } from '../processing/prepare_pool_node.js';
import { JOB_TASKS, MAX_CHUNK, type JobTask, type TaskOptions } from './payload.js';

/** A loaded task: runs a batch and says how its images are decoded. */
export interface TaskRunner {
  run(images: RawImage[], options: TaskOptions): Promise<object[]>;
  /** Decodes and preprocesses its images, kept across chunks, for `runBatches`. */
  readonly prepare: Preparer;
  dispose(): Promise<void>;
}

type Pipe<T extends JobTask> = PipelineOfTask[(typeof JOB_TASKS)[T]];

/** How each task runs a batch, as its command does. */
const RUNS: { [T in JobTask]: (pipe: Pipe<T>, images: RawImage[], options: TaskOptions) => Promise<object[]> } = {
  classify: async (pipe, images, options) => (await pipe.run(images, { topK: options.topK ?? DEFAULT_TOP_K })).map(classificationJson),
  segment: async (pipe, images) => (await pipe.predict(images)).map(segmentationJson),
  embed: async (pipe, images, options) => (await pipe.run(images, options.outIndex === undefined ? {} : { outIndex: options.outIndex })).map((t) => embeddingJson(t.data)),
};

async function loadRunner<T extends JobTask>(task: T, flags: ModelFlags & { batchSize: number }): Promise<TaskRunner> {
  const pipe = (await loadPipeline(JOB_TASKS[task], { ...flags, worker: true })) as Pipe<T>;
  const run = RUNS[task];
  const options = preparerOptions(pipe, flags.threads);
  // A worker runs chunk after chunk: one preparer serves them all (a decode pool where one pays,
  // its threads ending when idle and restarting on demand) instead of one started per chunk.
  const prepare = createPreparer(MAX_CHUNK, options);
  return {
    run: (images, taskOptions) => run(pipe, images, taskOptions),
    prepare,
    dispose: async () => {
      await prepare.close();
      await pipe.dispose();
    },
  };
}

/** The pipelines of one worker, by task, each loaded once. */
export class TaskModels {
  private readonly loaded = new Map<JobTask, Promise<TaskRunner>>();

  constructor(private readonly flags: ModelFlags & { batchSize: number }) {}

  /**
   * The runner of `task`, loading its model at the first call. A model that cannot do the task
   * (a classifier asked to segment) fails with E_CHECKPOINT_MISMATCH, every time; another load
   * failure (a hub timeout) is tried again at the next call.
   */
  async get(task: JobTask): Promise<TaskRunner> {
    let runner = this.loaded.get(task);
    if (!runner) {
      runner = loadRunner(task, this.flags);
      this.loaded.set(task, runner);
      runner.catch((err: unknown) => {
        if (!(err instanceof MobileNetV2Error && err.code === 'E_CHECKPOINT_MISMATCH')) this.loaded.delete(task);
      });
    }
    return runner;
  }

  /** Releases every loaded model and decode pool. */
  async dispose(): Promise<void> {
    const runners = await Promise.allSettled(this.loaded.values());
    this.loaded.clear();
    for (const r of runners) if (r.status === 'fulfilled') await r.value.dispose();
  }
}
