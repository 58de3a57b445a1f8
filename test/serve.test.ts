/**
 * `mobilenet-v2 serve` answers: a server on 127.0.0.1 with the built-in models gives the sample
 * photos the classify and segment pipelines' answers (as the CLI's --json objects), embeddings,
 * multipart batches, KServe v2 metadata and an infer round trip equal to `forward`, JSON errors
 * (400, 404, 413) and Prometheus metrics.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { classificationJson, segmentationJson } from '../src/pipelines/result_json.js';
import { decodeImage } from '../src/processing/image_io_node.js';
import { float32Tensor } from '../src/tensor.js';
import { assertClose, REPO_ROOT } from './helpers.js';
import { post, useServer } from './serve_server.js';

const SAMPLES = ['cat.jpg', 'bird.jpg', 'grace_hopper.jpg'];

/** Asserts two classification answers agree: same classes, scores within float noise of batching. */
function assertSamePredictions(got: { predictions: Array<{ index: number; label: string; score: number }> }, want: typeof got, what: string): void {
  assert.deepEqual(got.predictions.map((p) => [p.index, p.label]), want.predictions.map((p) => [p.index, p.label]), what);
  assertClose(got.predictions.map((p) => p.score), want.predictions.map((p) => p.score), what, 1e-5, 1e-4);
}

describe('mobilenet-v2 serve', () => {
  const t = useServer({ maxBodyMb: 4 });
  const photos = new Map<string, Uint8Array<ArrayBuffer>>();
  before(async () => {
    for (const name of SAMPLES) photos.set(name, new Uint8Array(await readFile(join(REPO_ROOT, 'samples', name))));
    await t.server.ready;
  });

  it('is live and ready, and lists its models with their v2 metadata', async () => {
    assert.deepEqual(await (await fetch(`${t.server.url}/v2/health/live`)).json(), { live: true });
    const ready = await fetch(`${t.server.url}/v2/health/ready`);
    assert.equal(ready.status, 200);
    const { models } = (await (await fetch(`${t.server.url}/v2/models`)).json()) as { models: Array<{ name: string; ready: boolean }> };
    assert.deepEqual(models.map((m) => m.name), ['mobilenet_v2_1.0_224_quant', 'deeplabv3_mnv2_pascal_quant']);
    const meta = (await (await fetch(`${t.server.url}/v2/models/mobilenet_v2_1.0_224_quant`)).json()) as { outputs: unknown };
    assert.deepEqual(meta.outputs, [{ name: 'logits', datatype: 'FP32', shape: [-1, 1001] }, { name: 'pooler_output', datatype: 'FP32', shape: [-1, 1280] }]);
    assert.equal((await fetch(`${t.server.url}/v2/models/deeplabv3_mnv2_pascal_quant/ready`)).status, 200);
    const unknown = await fetch(`${t.server.url}/v2/models/nope`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'E_NOT_FOUND');
  });

  it('classifies the sample photos as the classify pipeline does (top_k, the CLI JSON object)', async () => {
    const { classifier } = t.models;
    await Promise.all(SAMPLES.map(async (name) => {
      const response = await post(t.server, '/v1/classify?top_k=3', photos.get(name)!);
      assert.equal(response.status, 200, name);
      const want = classificationJson(await classifier.pipeline(join(REPO_ROOT, 'samples', name), { topK: 3 }));
      assertSamePredictions((await response.json()) as typeof want, want, name);
    }));
  });

  it('classifies several images of one multipart request, each as {"file", "predictions"}', async () => {
    const form = new FormData();
    for (const name of ['cat.jpg', 'bird.jpg']) form.append('images', new Blob([photos.get(name)!], { type: 'image/jpeg' }), name);
    const response = await post(t.server, '/v1/classify?top_k=2', form);
    assert.equal(response.status, 200);
    const answers = (await response.json()) as Array<{ file: string } & ReturnType<typeof classificationJson>>;
    assert.deepEqual(answers.map((a) => a.file), ['cat.jpg', 'bird.jpg']);
    for (const a of answers) {
      const want = classificationJson(await t.models.classifier.pipeline(join(REPO_ROOT, 'samples', a.file), { topK: 2 }));
      assertSamePredictions(a, want, a.file);
    }
  });

  it('segments as the segment pipeline does, and answers ?mask=png with the class map', async () => {
    const { segmenter } = t.models;
    const response = await post(t.server, '/v1/segment', photos.get('bird.jpg')!);
    assert.equal(response.status, 200);
    const [want] = await segmenter.pipeline.predict([await decodeImage(photos.get('bird.jpg')!)]);
    assert.deepEqual(await response.json(), segmentationJson(want!));
    const mask = await post(t.server, '/v1/segment?mask=png', photos.get('bird.jpg')!);
    assert.equal(mask.status, 200);
    assert.equal(mask.headers.get('content-type'), 'image/png');
    const png = await decodeImage(new Uint8Array(await mask.arrayBuffer()));
    assert.deepEqual([png.width, png.height], [want!.map.width, want!.map.height]);
    const bad = await post(t.server, '/v1/segment?mask=jpg', photos.get('bird.jpg')!);
    assert.equal(bad.status, 400);
  });

  it('embeds: the pooled features of the classifier', async () => {
    const response = await post(t.server, '/v1/embed', photos.get('cat.jpg')!);
    assert.equal(response.status, 200);
    const { embedding } = (await response.json()) as { embedding: number[] };
    const { classifier } = t.models;
    const want = await classifier.pipeline.model.forward(classifier.pipeline.prepare([await decodeImage(photos.get('cat.jpg')!)]).pixelValues);
    assertClose(embedding, want.poolerOutput!.data, 'embedding', 1e-5, 1e-4);
  });

  it('v2 infer returns what forward returns on the same tensor (flat and nested data)', async () => {
    const { classifier } = t.models;
    const { pixelValues } = classifier.pipeline.prepare([await decodeImage(photos.get('cat.jpg')!)]);
    const want = await classifier.pipeline.model.forward(pixelValues);
    const input = { name: 'pixel_values', shape: pixelValues.shape, datatype: 'FP32', data: Array.from(pixelValues.data) };
    const response = await post(t.server, '/v2/models/mobilenet_v2_1.0_224_quant/infer', JSON.stringify({ id: 'cat', inputs: [input] }), 'application/json');
    assert.equal(response.status, 200);
    const answer = (await response.json()) as { model_name: string; id: string; outputs: Array<{ name: string; shape: number[]; datatype: string; data: number[] }> };
    assert.equal(answer.model_name, 'mobilenet_v2_1.0_224_quant');
    assert.equal(answer.id, 'cat');
    assert.deepEqual(answer.outputs.map((o) => [o.name, o.shape, o.datatype]), [['logits', [1, 1001], 'FP32'], ['pooler_output', [1, 1280], 'FP32']]);
    assertClose(answer.outputs[0]!.data, want.logits!.data, 'logits', 1e-5, 0);
    assertClose(answer.outputs[1]!.data, want.poolerOutput!.data, 'pooler_output', 1e-5, 0);

    // A small nested tensor through the segmenter, one output asked for.
    const tiny = float32Tensor(Float32Array.from({ length: 3 * 4 * 4 }, (_, i) => Math.sin(i)), [1, 3, 4, 4]);
    const nested = [0, 1, 2].map((c) => [0, 1, 2, 3].map((y) => Array.from(tiny.data.subarray((c * 4 + y) * 4, (c * 4 + y + 1) * 4))));
    const seg = await post(t.server, '/v2/models/deeplabv3_mnv2_pascal_quant/infer',
      JSON.stringify({ inputs: [{ name: 'pixel_values', shape: [1, 3, 4, 4], datatype: 'FP32', data: [nested] }], outputs: [{ name: 'logits' }] }), 'application/json');
    assert.equal(seg.status, 200);
    const segAnswer = (await seg.json()) as { outputs: Array<{ data: number[] }> };
    assertClose(segAnswer.outputs[0]!.data, (await t.models.segmenter.pipeline.model.forward(tiny)).logits!.data, 'segmentation logits', 1e-5, 0);
  });

  it('answers bad input with a JSON error and a code: 400 (bad image, bad tensor, no image), 413 (body too large), 404', async () => {
    const cases: Array<[Promise<Response>, number, string, RegExp]> = [
      [post(t.server, '/v1/classify', new TextEncoder().encode('not an image')), 400, 'E_IMAGE_DECODE', /unsupported or unrecognized image format/],
      [post(t.server, '/v1/classify', new Uint8Array(0)), 400, 'E_IMAGE_DECODE', /empty body/],
      [post(t.server, '/v1/classify', '{}', 'application/json'), 400, 'E_INVALID_ARGUMENT', /send the image bytes/],
      [post(t.server, '/v1/classify?top_k=0', photos.get('cat.jpg')!), 400, 'E_INVALID_ARGUMENT', /top_k must be a positive integer/],
      [post(t.server, '/v2/models/mobilenet_v2_1.0_224_quant/infer', '{"inputs":[]}', 'application/json'), 400, 'E_INVALID_ARGUMENT', /must hold one tensor/],
      [post(t.server, '/v1/classify', new Uint8Array(5 * 1024 * 1024)), 413, 'E_BODY_TOO_LARGE', /above the limit of 4 MiB/],
      [fetch(`${t.server.url}/v1/nothing`), 404, 'E_NOT_FOUND', /no route GET \/v1\/nothing/],
    ];
    for (const [pending, status, code, message] of cases) {
      const response = await pending;
      const body = (await response.json()) as { error: string; code: string };
      assert.equal(response.status, status, body.error);
      assert.equal(body.code, code, body.error);
      assert.match(body.error, message);
    }
    const form = new FormData();
    form.append('a', new Blob([new Uint8Array(2.5 * 1024 * 1024)]), 'a.jpg');
    form.append('b', new Blob([new Uint8Array(2.5 * 1024 * 1024)]), 'b.jpg');
    const tooMuch = await post(t.server, '/v1/classify', form);
    assert.equal(tooMuch.status, 413, 'multipart images are limited together');
    assert.equal(((await tooMuch.json()) as { code: string }).code, 'E_BODY_TOO_LARGE');
  });

  it('counts requests, batches, images and load time in /metrics', async () => {
    const response = await fetch(`${t.server.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/plain/);
    const text = await response.text();
    assert.match(text, /mobilenet_v2_requests_total\{route="\/v1\/classify",status="200"\} [1-9]/);
    assert.match(text, /mobilenet_v2_requests_total\{route="\/v1\/classify",status="400"\} [1-9]/);
    assert.match(text, /mobilenet_v2_request_duration_seconds_count\{route="\/v1\/segment"\} [1-9]/);
    assert.match(text, /mobilenet_v2_batch_size_count\{model="mobilenet_v2_1.0_224_quant"\} [1-9]/);
    assert.match(text, /mobilenet_v2_images_total\{model="deeplabv3_mnv2_pascal_quant"\} [1-9]/);
    assert.match(text, /mobilenet_v2_model_load_seconds\{model="mobilenet_v2_1.0_224_quant"\} \d/);
    assert.match(text, /mobilenet_v2_queue_depth\{model="mobilenet_v2_1.0_224_quant"\} 0/);
    assert.match(text, /mobilenet_v2_images_per_second [\d.]+/);
    assert.match(text, /process_resident_memory_bytes \d/);
  });
});
