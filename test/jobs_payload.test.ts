/**
 * The parts of the job commands that need no Redis: the job payload's checks, model matching,
 * queue names and URLs, job ids, and the one-line error for missing optional packages.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MobileNetV2Error } from '../src/errors.js';
import { modelMismatch, parseChunk, PAYLOAD_VERSION } from '../src/jobs/payload.js';
import { checkQueueName, checkRedisUrl, chunkJobId, chunkOfJobId, QUEUE_PEERS, redactUrl } from '../src/jobs/queue.js';
import { missingPeerError } from '../src/node/optional_peer.js';

const chunk = {
  v: PAYLOAD_VERSION, submission: 'ab12', chunk: 2, start: 64, task: 'classify', options: { topK: 3 },
  model: null, revision: null, dtype: 'fp32',
  images: [{ file: 'photos/a.jpg', source: { kind: 'path', path: '/data/photos/a.jpg' } }],
};

/** Asserts `parseChunk` refuses `data` with a one-line message matching `pattern`. */
function refuses(data: unknown, pattern: RegExp): void {
  assert.throws(() => parseChunk(data), (e: Error) => e instanceof MobileNetV2Error && !e.message.includes('\n') && pattern.test(e.message), JSON.stringify(data));
}

describe('job payload', () => {
  it('reads a valid chunk as it is', () => {
    assert.deepEqual(parseChunk(structuredClone(chunk)), { ...chunk, options: { topK: 3, outIndex: undefined } });
  });

  it('refuses what a worker cannot run, naming the field', () => {
    refuses({ ...chunk, v: 2 }, /^job payload: version 2, this worker reads version 1$/);
    refuses({ ...chunk, task: 'detect' }, /task "detect" is not one of classify, segment, embed/);
    refuses({ ...chunk, dtype: 'fp16' }, /dtype "fp16"/);
    refuses({ ...chunk, images: [] }, /images must be a list of 1\.\.1000 images/);
    refuses({ ...chunk, images: [{ file: 'x', source: { kind: 'url', url: 'https://example.com/x.jpg' } }] }, /images\[0\]\.source: source kind "url" is not one this worker reads/);
    refuses({ ...chunk, images: [{ file: 'x', source: { kind: 'path', path: 'photos/x.jpg' } }] }, /images\[0\]\.source\.path must be absolute/);
    refuses({ ...chunk, options: { topK: 0 } }, /options\.topK must be an integer 1\.\.100000, got 0/);
    refuses({ ...chunk, submission: 'a:b' }, /submission "a:b" is not a submission id/);
    refuses('a string', /the job data must be an object/);
  });

  it('matches models by name, revision and dtype', () => {
    const builtIn = { model: null, revision: null, dtype: 'fp32' } as const;
    assert.equal(modelMismatch(builtIn, builtIn), null);
    assert.match(modelMismatch(builtIn, { ...builtIn, model: 'google/mobilenet_v2_1.0_224', revision: 'v1' })!,
      /^the job asks for google\/mobilenet_v2_1\.0_224@v1 \(fp32\), but this worker serves the built-in model \(fp32\)/);
    assert.match(modelMismatch(builtIn, { ...builtIn, dtype: 'int8' })!, /asks for the built-in model \(int8\)/);
  });
});

describe('queue names, URLs and job ids', () => {
  it('checks --queue and --redis, hiding passwords in messages', () => {
    assert.equal(checkQueueName('photos-2026.v1'), 'photos-2026.v1');
    assert.throws(() => checkQueueName('a:b'), /--queue "a:b": a queue name is 1-64 letters/);
    assert.equal(checkRedisUrl('rediss://h:6380/2'), 'rediss://h:6380/2');
    assert.throws(() => checkRedisUrl('http://u:secret@h/'), (e: Error) => /not a redis:\/\//.test(e.message) && !e.message.includes('secret'));
    assert.equal(redactUrl('redis://user:secret@h:6379/0'), 'redis://user:***@h:6379/0');
  });

  it('numbers the jobs of a submission and reads the number back', () => {
    assert.equal(chunkOfJobId('ab12', chunkJobId('ab12', 41)), 41);
    assert.equal(chunkOfJobId('ab1', chunkJobId('ab12', 41)), null);
    assert.equal(chunkOfJobId('ab12', 'ab12-x'), null);
  });
});

describe('optional packages', () => {
  it('names the npm install line of the job commands when bullmq or ioredis is missing', () => {
    const notFound = Object.assign(new Error("Cannot find package 'bullmq'"), { code: 'ERR_MODULE_NOT_FOUND' });
    const err = missingPeerError(notFound, QUEUE_PEERS.what, QUEUE_PEERS.packages);
    assert.ok(err instanceof MobileNetV2Error);
    assert.equal(err.code, 'E_MISSING_DEPENDENCY');
    assert.equal(err.message, 'mobilenet-v2 submit, worker and jobs needs the optional packages bullmq, ioredis: npm install bullmq ioredis');
  });
});
