/**
 * `mobilenet-v2 submit`, `worker` and `jobs` against the local Redis: every image exactly once with
 * `classify`'s answers though a worker is killed mid-chunk, SIGTERM drain, cancel, per-image
 * errors, refusals, a chunk that keeps failing, Redis down. Each test has a queue of its own,
 * removed after; workers free a dead worker's chunk within seconds (FAST_RECOVERY).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, REPO_ROOT, useTempDir } from './helpers.js';
import { sample } from './cli_image_commands.js';
import { CliProcess, killAll, redisRelay, removeQueue, requireRedis, runCli, startWorker, TEST_REDIS, uniqueQueue } from './jobs_helpers.js';

const SAMPLES = ['cat.jpg', 'bird.jpg', 'grace_hopper.jpg'].map(sample);
const CLASSIFIER = join(REPO_ROOT, 'models/mobilenet_v2_1.0_224_quant');

type Line = { file: string; error?: string; predictions?: Array<{ index: number; label: string; score: number }> } & Record<string, unknown>;

function readLines(path: string): Line[] {
  return readFileSync(path, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as Line);
}

/** What `mobilenet-v2 <command> --json` prints for `files`, one object per image. */
function commandJson(command: string, files: readonly string[]): Line[] {
  const r = cli(command, '--json', ...files);
  return (JSON.parse(r.stdout) as Line[]);
}

/** Asserts two classification results agree: same classes in the same order, scores within 1e-5. */
function assertSameClassification(got: Line, want: Line): void {
  assert.equal(got.file, want.file);
  assert.deepEqual(got.predictions?.map((p) => p.index), want.predictions?.map((p) => p.index), got.file);
  got.predictions?.forEach((p, i) => assert.ok(Math.abs(p.score - want.predictions![i]!.score) < 1e-5, `${got.file}: ${p.score} vs ${want.predictions![i]!.score}`));
}

/** `submit` arguments for `queue`. */
const on = (queue: string): string[] => ['--redis', TEST_REDIS, '--queue', queue];

describe('batch jobs over Redis (submit, worker, jobs)', await requireRedis(), () => {
  const tmp = useTempDir('jobs');
  after(killAll);

  it('returns every image exactly once with classify\'s answers though a worker is killed -9 mid-chunk and another joins', async () => {
    const queue = uniqueQueue('kill');
    after(() => removeQueue(queue));
    const files = [...SAMPLES, ...SAMPLES, ...SAMPLES, ...SAMPLES];
    const output = join(tmp(), 'kill.jsonl');
    const [a, b] = await Promise.all([startWorker(queue), startWorker(queue)]);
    const submit = new CliProcess(['submit', ...files, '--task', 'classify', ...on(queue), '--chunk', '2', '--wait', '-o', output]);
    // "started" comes before the chunk's model is loaded and run: the kill lands mid-chunk.
    const [, killed] = await a.waitFor(/chunk (\S+): started/);
    a.kill('SIGKILL');
    assert.equal(await a.exited, 'SIGKILL');
    const c = await startWorker(queue);
    try {
      assert.equal(await submit.exited, 0, submit.stderr);
    } finally {
      b.kill();
      c.kill();
      await Promise.all([b.exited, c.exited]);
    }
    assert.match(b.stderr + c.stderr, new RegExp(`chunk ${killed}: done`), 'the killed chunk ran again elsewhere');
    const lines = readLines(output);
    assert.deepEqual(lines.map((l) => l.file), files, 'every image once, in input order');
    const reference = commandJson('classify', files);
    lines.forEach((line, i) => assertSameClassification(line, reference[i]!));
  });

  describe('with one worker of the built-in models', () => {
    const queue = uniqueQueue('shared');
    let worker: CliProcess;
    before(async () => {
      worker = await startWorker(queue);
    });
    after(async () => {
      worker.kill();
      await worker.exited;
      await removeQueue(queue);
    });

    it('reports a corrupt and a missing image as {"file","error"} lines in place, as classify --json does (exit 1)', async () => {
      const bad = join(tmp(), 'corrupt.jpg');
      writeFileSync(bad, Buffer.from('not a JPEG at all'));
      const files = [SAMPLES[0]!, bad, join(tmp(), 'missing.jpg'), SAMPLES[1]!];
      const output = join(tmp(), 'errors.jsonl');
      const r = await runCli(['submit', ...files, '--task', 'classify', ...on(queue), '--chunk', '3', '--wait', '-o', output]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /2 of 4 images failed/);
      const lines = readLines(output);
      const reference = commandJson('classify', files);
      assert.deepEqual(lines.map((l) => l.error), reference.map((l) => l.error));
      assert.ok(lines[1]!.error && lines[2]!.error);
      assertSameClassification(lines[0]!, reference[0]!);
      assertSameClassification(lines[3]!, reference[3]!);
    });

    it('gives segment --json\'s objects for --task segment and embed\'s for --task embed', async () => {
      const segmented = join(tmp(), 'segment.jsonl');
      const embedded = join(tmp(), 'embed.jsonl');
      const runs = await Promise.all([
        runCli(['submit', SAMPLES[1]!, SAMPLES[0]!, '--task', 'segment', ...on(queue), '--wait', '-o', segmented]),
        runCli(['submit', SAMPLES[0]!, '--task', 'embed', ...on(queue), '--out-index', '4', '--wait', '-o', embedded]),
      ]);
      for (const r of runs) assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readLines(segmented), commandJson('segment', [SAMPLES[1]!, SAMPLES[0]!]));
      const reference = join(tmp(), 'embed.json');
      assert.equal(cli('embed', '-o', reference, '--out-index', '4', SAMPLES[0]!).status, 0);
      const [line] = readLines(embedded) as Array<{ file: string; embedding: number[] }>;
      const [want] = (JSON.parse(readFileSync(reference, 'utf8')) as { embeddings: Array<{ file: string; embedding: number[] }> }).embeddings;
      assert.equal(line!.file, want!.file);
      assert.equal(line!.embedding.length, 32);
      line!.embedding.forEach((v, i) => assert.ok(Math.abs(v - want!.embedding[i]!) < 1e-5, `embedding[${i}]`));
    });
  });

  it('drains on SIGTERM: finishes the chunk in hand, exits 0, takes no more; cancel removes the rest', async () => {
    const queue = uniqueQueue('drain');
    after(() => removeQueue(queue));
    const worker = await startWorker(queue);
    const submitted = await runCli(['submit', ...SAMPLES, ...SAMPLES, '--task', 'classify', ...on(queue), '--chunk', '1']);
    assert.equal(submitted.status, 0, submitted.stderr);
    const id = submitted.stdout.trim();
    const [, chunk] = await worker.waitFor(/chunk (\S+): started/);
    worker.kill('SIGTERM');
    assert.equal(await worker.exited, 0, worker.stderr);
    assert.match(worker.stderr, new RegExp(`chunk ${chunk}: done, 1 images`));
    const status = JSON.parse((await runCli(['jobs', 'status', id, '--json', ...on(queue)])).stdout) as { state: string; done_chunks: number; chunks: number };
    assert.equal(status.state, 'running');
    assert.ok(status.done_chunks >= 1 && status.done_chunks < 6, `done ${status.done_chunks} of 6`);

    const cancelled = await runCli(['jobs', 'cancel', id, ...on(queue)]);
    assert.equal(cancelled.status, 0, cancelled.stderr);
    assert.match(cancelled.stdout, new RegExp(`${6 - status.done_chunks} queued chunk\\(s\\) removed, 0 running`));
    const after_ = JSON.parse((await runCli(['jobs', 'status', id, '--json', ...on(queue)])).stdout) as { state: string };
    assert.equal(after_.state, 'cancelled');
    const results = await runCli(['jobs', 'results', id, ...on(queue)]);
    assert.equal(results.status, 1);
    assert.match(results.stderr, /^mobilenet-v2: submission \w+ was cancelled\n$/);
  });

  it('refuses a job for another model, a task its model cannot do, and a payload it cannot read, saying why', async () => {
    const queue = uniqueQueue('refuse');
    after(() => removeQueue(queue));
    const worker = await startWorker(queue, '--model', CLASSIFIER);
    const builtIn = join(tmp(), 'refused-builtin.jsonl');
    const segment = join(tmp(), 'refused-segment.jsonl');
    const [other, task] = await Promise.all([
      runCli(['submit', SAMPLES[0]!, '--task', 'classify', ...on(queue), '--wait', '-o', builtIn]),
      runCli(['submit', SAMPLES[0]!, '--task', 'segment', '--model', CLASSIFIER, ...on(queue), '--wait', '-o', segment]),
    ]);
    assert.equal(other.status, 1, other.stderr);
    assert.match(readLines(builtIn)[0]!.error!, /^chunk 0 failed: the job asks for the built-in model \(fp32\), but this worker serves .*mobilenet_v2_1\.0_224_quant \(fp32\)/);
    assert.equal(task.status, 1, task.stderr);
    assert.match(readLines(segment)[0]!.error!, /cannot segment: .*needs a MobileNetV2ForSemanticSegmentation checkpoint/);

    const [{ Queue }, { Redis }] = await Promise.all([import('bullmq'), import('ioredis')]);
    const client = new Redis(TEST_REDIS, { maxRetriesPerRequest: null });
    const raw = new Queue(queue, { connection: client });
    try {
      await raw.add('classify', { v: 99 }, { jobId: 'foreign-1' });
      const reason = await worker.waitFor(/chunk foreign-1: refused: (.*)/);
      assert.match(reason[1]!, /^job payload: version 99, this worker reads version 1$/);
      for (let i = 0; i < 50 && (await raw.getJobState('foreign-1')) !== 'failed'; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal((await raw.getJob('foreign-1'))?.failedReason, reason[1]);
    } finally {
      await raw.close();
      client.disconnect();
      worker.kill();
      await worker.exited;
    }
  });

  it('fails a chunk that keeps failing after its attempts, with the reason in every image\'s line', async () => {
    const queue = uniqueQueue('fail');
    after(() => removeQueue(queue));
    // The worker's model vanishes after it starts: each load fails, BullMQ retries, then gives up.
    const link = join(tmp(), 'vanishing-model');
    symlinkSync(CLASSIFIER, link);
    const worker = await startWorker(queue, '--model', link);
    rmSync(link);
    const output = join(tmp(), 'failed.jsonl');
    const r = await runCli(['submit', SAMPLES[0]!, SAMPLES[1]!, '--task', 'classify', '--model', link, '--attempts', '2', ...on(queue), '--wait', '-o', output]);
    worker.kill();
    await worker.exited;
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /2 of 2 images failed, 1 chunk\(s\) failed for good/);
    assert.match(worker.stderr, /failed \(attempt 1 of 2\): .*vanishing-model/);
    for (const line of readLines(output)) assert.match(line.error!, /^chunk 0 failed: .*vanishing-model.* is not a folder/);
  });

  it('fails within seconds, in one line and writing nothing, when Redis is not there', async () => {
    const down = 'redis://127.0.0.1:1';
    const output = join(tmp(), 'never.jsonl');
    for (const args of [
      ['submit', SAMPLES[0]!, '--task', 'classify', '--redis', down, '--wait', '-o', output],
      ['worker', '--redis', down],
      ['jobs', 'status', 'abc', '--redis', down],
    ]) {
      const started = performance.now();
      const r = await runCli(args, 20_000);
      assert.equal(r.status, 1, args[0]);
      assert.equal(r.stderr, 'mobilenet-v2: cannot reach Redis at redis://127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1); start redis-server there or pass --redis URL\n');
      assert.ok(performance.now() - started < 10_000, `${args[0]} took ${performance.now() - started} ms`);
    }
    assert.equal(existsSync(output), false);
  });

  it('ends a waiting submit and a worker in one line when Redis goes away, writing nothing', async () => {
    const queue = uniqueQueue('lost');
    after(() => Promise.all([removeQueue(queue), removeQueue(`${queue}-idle`)]));
    const relay = await redisRelay();
    const output = join(tmp(), 'lost.jsonl');
    const worker = new CliProcess(['worker', '--redis', relay.url, '--queue', `${queue}-idle`, '--reconnect-timeout', '1000']);
    await worker.waitFor(/ready: queue/);
    // No worker serves this queue: the submit waits until Redis goes.
    const submit = new CliProcess(['submit', SAMPLES[0]!, '--task', 'classify', '--redis', relay.url, '--queue', queue, '--wait', '-o', output]);
    await submit.waitFor(/0\/1 images done/);
    const cut = performance.now();
    relay.cut();
    const lost = new RegExp(`^mobilenet-v2: cannot reach Redis at ${relay.url.replaceAll('.', '\\.')}/? \\(.+\\); start redis-server there or pass --redis URL$`, 'm');
    assert.equal(await submit.exited, 1);
    assert.match(submit.stderr, lost);
    assert.equal(await worker.exited, 1);
    assert.match(worker.stderr, lost);
    assert.ok(performance.now() - cut < 15_000, `took ${performance.now() - cut} ms`);
    assert.equal(existsSync(output), false);
  });
});
