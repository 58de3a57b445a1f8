/**
 * The HTTP server of `mobilenet-v2 serve`, on Fastify: the REST routes (/v1/classify, /v1/segment,
 * /v1/embed), the KServe v2 routes (health, model metadata, infer), /metrics, and backpressure.
 *
 * Every inference request is admitted against a budget of `maxQueue` images in flight (decoding,
 * waiting or in the model); past it, 429 with Retry-After, before the body is read. Each has a
 * deadline (`timeoutMs`): past it, 504, and its work leaves the queue. Bodies above `maxBodyMb`
 * get 413, bad images 400, anything unexpected 500; every error is JSON `{"error", "code"}`. So
 * memory stays bounded by about `maxQueue` × (`maxBodyMb` + one image's pixel values), plus the
 * images the decode workers hold (each under the decoder's pixel limit).
 *
 * fastify, @fastify/multipart and prom-client are optional peer dependencies, imported here only.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MobileNetV2Error, type MobileNetV2ErrorCode } from '../errors.js';
import { importPeers } from '../node/optional_peer.js';
import { packageVersion } from '../pipelines/default_models_node.js';
import { pascalVocPalette } from '../pipelines/palette.js';
import { classificationJson, embeddingJson, segmentationJson } from '../pipelines/result_json.js';
import type { RawImage } from '../processing/image.js';
import { encodePng } from '../processing/image_io_node.js';
import { untilAborted, type BatchOutputs } from './batcher.js';
import { ServerMetrics } from './metrics_node.js';
import { loadServedModels, servedList, type AnyServedModel, type ServedModelOptions, type ServedModels } from './models_node.js';
import { inferResponse, parseInferRequest } from './v2_protocol.js';

/** Everything `startServer` takes. */
export interface ServeOptions extends ServedModelOptions {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** Most images in flight; more get 429. */
  readonly maxQueue: number;
  /** Milliseconds a request may take; then 504. */
  readonly timeoutMs: number;
  /** Largest request body (all images of a multipart request together), in MiB; more get 413. */
  readonly maxBodyMb: number;
  /** Log level of the one-line JSON logs on stdout (pino's), or false for none. */
  readonly logLevel?: string | false;
  /** Loads the models (default: {@link loadServedModels}); tests wrap it to hold loading or the model. */
  readonly load?: (options: ServedModelOptions) => Promise<ServedModels>;
}

/** A started server. */
export interface RunningServer {
  /** `http://host:port`. */
  readonly url: string;
  /** Resolves once the models are loaded and warm (ready); rejects when loading fails, after closing the server. */
  readonly ready: Promise<void>;
  /** Stops accepting requests, answers those in flight, then releases the models. */
  close(): Promise<void>;
}

/** The optional packages the server needs. */
const SERVE_PEERS = ['fastify', '@fastify/multipart', 'prom-client'] as const;

/** HTTP status of each error code; others are 500. */
const STATUS: Partial<Record<MobileNetV2ErrorCode, number>> = {
  E_INVALID_ARGUMENT: 400,
  E_IMAGE_DECODE: 400,
  E_IMAGE_TOO_LARGE: 400,
  E_NOT_FOUND: 404,
  E_BODY_TOO_LARGE: 413,
  E_OVERLOADED: 429,
  E_UNAVAILABLE: 503,
  E_DISPOSED: 503,
  E_DEADLINE_EXCEEDED: 504,
};

/** One image of a request: its name in messages and its bytes. */
interface NamedImage {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** An admitted inference request: its deadline and its share of the image budget. */
interface Work {
  readonly controller: AbortController;
  images: number;
}

/** The `top_k` query parameter. */
function topKOf(query: unknown): number | undefined {
  const value = (query as Record<string, unknown>).top_k;
  if (value === undefined) return undefined;
  const k = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(k) || k < 1) {
    throw new MobileNetV2Error(`top_k must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return k;
}

/** The JSON error body and status of any error a route or Fastify throws. */
function errorAnswer(err: FastifyError | Error, maxBodyMb: number): { status: number; code: MobileNetV2ErrorCode; message: string } {
  if (err instanceof MobileNetV2Error) return { status: STATUS[err.code] ?? 500, code: err.code, message: err.message };
  const status = (err as FastifyError).statusCode;
  if (status === 413) return { status, code: 'E_BODY_TOO_LARGE', message: `request body above the limit of ${maxBodyMb} MiB (--max-body-mb)` };
  if (status !== undefined && status >= 400 && status < 500) return { status, code: 'E_INVALID_ARGUMENT', message: err.message };
  return { status: 500, code: 'E_INTERNAL', message: `internal error: ${err.message}` };
}

/** Starts a server: it listens at once (live), and is ready once the models are loaded. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const [{ default: fastify, LogController }, { default: multipart }, prom] = await importPeers('mobilenet-v2 serve', SERVE_PEERS,
    () => Promise.all([import('fastify'), import('@fastify/multipart'), import('prom-client')]));
  const maxBodyBytes = Math.floor(options.maxBodyMb * 1024 * 1024);
  const version = packageVersion();
  let models: ServedModels | null = null;
  let closing = false;
  let inFlight = 0;
  let batchMs = 0; // recent model run time, for Retry-After
  const works = new WeakMap<FastifyRequest, Work>();
  const metrics = new ServerMetrics(prom, {
    queueDepth: () => new Map(models ? servedList(models).map((m) => [m.name, m.batcher.waiting]) : []),
    inFlight: () => inFlight,
  });
  const app: FastifyInstance = fastify({
    logger: options.logLevel === false ? false : { level: options.logLevel ?? 'info' },
    logController: new LogController({ disableRequestLogging: true }), // one line per request, from onResponse below
    bodyLimit: maxBodyBytes,
  });
  await app.register(multipart, { limits: { fileSize: maxBodyBytes, files: options.maxQueue, fields: 16, fieldSize: 64 * 1024 } });
  for (const type of ['application/octet-stream', /^image\//]) app.addContentTypeParser(type, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  /** The models, for a new request: none while they load or once the server is shutting down. */
  const ready = (): ServedModels => {
    if (!models || closing) throw new MobileNetV2Error(closing ? 'the server is shutting down' : 'the models are still loading; see /v2/health/ready', { code: 'E_UNAVAILABLE' });
    return models;
  };
  /** The models, for a request admitted by {@link admit} (it finishes even while the server shuts down). */
  const admitted = (): ServedModels => models!;
  const reserve = (work: Work, images: number): void => {
    if (work.images + images > options.maxQueue) {
      throw new MobileNetV2Error(`the request holds ${work.images + images} images, more than the server takes at once (--max-queue ${options.maxQueue})`, { code: 'E_BODY_TOO_LARGE' });
    }
    if (inFlight + images > options.maxQueue) {
      throw new MobileNetV2Error(`the server has ${inFlight} images in flight, at its limit of ${options.maxQueue} (--max-queue); retry later`, { code: 'E_OVERLOADED' });
    }
    inFlight += images;
    work.images += images;
  };
  /** Admits an inference request (before its body is read) and arms its deadline. */
  const admit = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    ready();
    const work: Work = { controller: new AbortController(), images: 0 };
    reserve(work, 1);
    works.set(request, work);
    const timer = setTimeout(() => work.controller.abort(new MobileNetV2Error(
      `request not answered within ${options.timeoutMs} ms (--timeout-ms); its work was dropped`, { code: 'E_DEADLINE_EXCEEDED' })), options.timeoutMs);
    reply.raw.once('close', () => {
      clearTimeout(timer);
      inFlight -= work.images;
      // Whatever of this request is still queued (another image failed, the client left) is dropped.
      work.controller.abort(new MobileNetV2Error('the request ended', { code: 'E_UNAVAILABLE' }));
    });
  };
  const signalOf = (request: FastifyRequest): AbortSignal => works.get(request)!.controller.signal;

  /** The images of a request: its body (image bytes), or each file of a multipart body. */
  const imagesOf = async (request: FastifyRequest): Promise<{ images: NamedImage[]; multipart: boolean }> => {
    if (request.isMultipart()) {
      const work = works.get(request)!;
      const images: NamedImage[] = [];
      let total = 0;
      const read = async (): Promise<void> => {
        for await (const part of request.files()) {
          if (images.length > 0) reserve(work, 1);
          const bytes = await part.toBuffer();
          total += bytes.length;
          if (total > maxBodyBytes) throw new MobileNetV2Error(`multipart images above the limit of ${options.maxBodyMb} MiB together (--max-body-mb)`, { code: 'E_BODY_TOO_LARGE' });
          images.push({ name: part.filename || part.fieldname || `image ${images.length}`, bytes });
        }
      };
      await untilAborted(read(), work.controller.signal);
      if (images.length === 0) throw new MobileNetV2Error('the multipart body holds no file; send images as file parts');
      return { images, multipart: true };
    }
    const body = request.body;
    if (!(body instanceof Uint8Array)) throw new MobileNetV2Error('send the image bytes as the body (Content-Type: image/*) or images as multipart/form-data files');
    if (body.length === 0) throw new MobileNetV2Error('empty body: send the image bytes (Content-Type: image/*)', { code: 'E_IMAGE_DECODE' });
    return { images: [{ name: 'image', bytes: body }], multipart: false };
  };

  /**
   * Runs every image of a request through `model` (decode workers, then the batcher) and builds
   * one answer each: the answer itself for one image, `[{"file", ...answer}]` for multipart.
   */
  const runImages = async <A extends object>(
    request: FastifyRequest, model: AnyServedModel, answer: (image: RawImage, outputs: BatchOutputs) => A | Promise<A>,
  ): Promise<A | Array<{ file: string } & A>> => {
    const signal = signalOf(request);
    signal.throwIfAborted(); // the deadline may pass while the body arrives
    const { images, multipart: several } = await imagesOf(request);
    const answers = await Promise.all(images.map(async ({ name, bytes }) => {
      const prepared = await model.prepare(bytes, name, signal);
      return answer(prepared.images[0]!, await model.infer(prepared.pixelValues, signal));
    }));
    return several ? answers.map((a, i) => ({ file: images[i]!.name, ...a })) : answers[0]!;
  };

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, code, message } = errorAnswer(err, options.maxBodyMb);
    if (status >= 500 && code !== 'E_DEADLINE_EXCEEDED' && code !== 'E_UNAVAILABLE') request.log.error({ err }, message);
    if (code === 'E_OVERLOADED') reply.header('retry-after', String(Math.max(1, Math.ceil((inFlight / options.maxBatch) * batchMs / 1000))));
    if (code === 'E_UNAVAILABLE') reply.header('retry-after', '1');
    void reply.code(status).send({ error: message, code });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}`, code: 'E_NOT_FOUND' });
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    metrics.request(route, reply.statusCode, reply.elapsedTime / 1000);
    request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
  });
  app.addHook('onClose', async () => {
    await Promise.all(models ? servedList(models).map((m) => m.close()) : []);
  });

  app.post('/v1/classify', { onRequest: admit }, async (request) => {
    const topK = topKOf(request.query);
    const { classifier } = admitted();
    return runImages(request, classifier,
      (_image, out) => classificationJson(classifier.pipeline.classesFromLogits(out.logits!, topK === undefined ? {} : { topK })[0]!));
  });
  app.post('/v1/segment', { onRequest: admit }, async (request, reply) => {
    const mask = (request.query as Record<string, unknown>).mask;
    if (mask !== undefined && mask !== 'png') throw new MobileNetV2Error(`mask must be png, got ${JSON.stringify(mask)}`);
    const { segmenter } = admitted();
    const classes = segmenter.pipeline.model.config.numLabels;
    if (mask && classes > 256) throw new MobileNetV2Error(`mask=png: the model has ${classes} classes; a PNG class map holds at most 256`);
    if (mask && request.isMultipart()) throw new MobileNetV2Error('mask=png answers one image: send its bytes as the body, not multipart');
    const answers = await runImages(request, segmenter, async (image, out) => {
      const prediction = segmenter.pipeline.predictionsFromLogits([image], out.logits!)[0]!;
      if (!mask) return segmentationJson(prediction);
      const { labels, width, height } = prediction.map;
      return { png: await encodePng({ data: labels as Uint8Array, width, height, channels: 1 }, { palette: pascalVocPalette(classes) }) };
    });
    if (!mask) return answers;
    return reply.type('image/png').send(Buffer.from((answers as { png: Uint8Array }).png));
  });
  app.post('/v1/embed', { onRequest: admit }, async (request) => {
    const { classifier } = admitted();
    return runImages(request, classifier, (_image, out) => embeddingJson(out.pooler_output!.data));
  });

  const modelNamed = (name: string, among = ready()): AnyServedModel => {
    const found = servedList(among).find((m) => m.name === name);
    if (!found) throw new MobileNetV2Error(`no model ${JSON.stringify(name)}; GET /v2/models lists them`, { code: 'E_NOT_FOUND' });
    return found;
  };
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_request, reply) => {
    const isReady = models !== null && !closing;
    return reply.code(isReady ? 200 : 503).send({ ready: isReady });
  });
  app.get('/v2', async () => ({ name: 'mobilenet-v2', version, extensions: [] }));
  app.get('/v2/models', async () => ({
    models: servedList(ready()).map((m) => ({ name: m.name, versions: m.metadata.versions, platform: m.metadata.platform, ready: true })),
  }));
  app.get<{ Params: { name: string } }>('/v2/models/:name', async (request) => modelNamed(request.params.name).metadata);
  app.get<{ Params: { name: string } }>('/v2/models/:name/ready', async (request) => ({ name: modelNamed(request.params.name).name, ready: true }));
  app.post<{ Params: { name: string } }>('/v2/models/:name/infer', { onRequest: admit }, async (request) => {
    const model = modelNamed(request.params.name, admitted());
    const infer = parseInferRequest(request.body, { channels: model.channels, outputs: model.metadata.outputs.map((o) => o.name) });
    reserve(works.get(request)!, infer.pixelValues.shape[0]! - 1);
    return inferResponse(model.name, infer, await model.infer(infer.pixelValues, signalOf(request)));
  });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  const load = options.load ?? loadServedModels;
  const loading = load({
    ...options,
    onBatch: (model, rows, ms) => {
      batchMs = batchMs === 0 ? ms : 0.8 * batchMs + 0.2 * ms;
      metrics.batch(model, rows, ms);
      options.onBatch?.(model, rows, ms);
    },
  }).then(async (loaded) => {
    if (closing) {
      await Promise.all(servedList(loaded).map((m) => m.close()));
      throw new MobileNetV2Error('the server was closed while its models loaded', { code: 'E_UNAVAILABLE' });
    }
    models = loaded;
    for (const m of servedList(loaded)) metrics.loaded(m.name, m.loadSeconds);
    app.log.info({ models: Object.fromEntries(servedList(loaded).map((m) => [m.name, { loadSeconds: m.loadSeconds }])) }, 'models ready');
  }, async (err: unknown) => {
    await app.close();
    throw err;
  });
  loading.catch(() => undefined); // the caller awaits `ready`; an early failure must not be unhandled meanwhile
  return {
    url,
    ready: loading,
    close: async () => {
      closing = true;
      app.log.info('shutting down: answering the requests in flight');
      await app.close();
      app.log.info('stopped');
    },
  };
}
