/**
 * The server's Prometheus metrics (`GET /metrics`), on prom-client with a registry of the
 * server's own (so several servers in one process, as in the tests, keep apart): requests by route
 * and status, request latency, batch sizes and model time, queue depth, images per second, model
 * load time, plus prom-client's process metrics (RSS, CPU, event-loop lag, heap).
 */
import type * as PromClient from 'prom-client';

/** Seconds of the sliding window `images_per_second` is averaged over. */
const RATE_WINDOW_S = 10;

/** What the metrics read from the server when scraped. */
export interface MetricSources {
  /** Requests waiting for each model (by model name). */
  queueDepth(): ReadonlyMap<string, number>;
  /** Images admitted and not yet answered. */
  inFlight(): number;
}

/** Images per second over the last {@link RATE_WINDOW_S} seconds, from per-second counts. */
class RateWindow {
  private readonly counts = new Float64Array(RATE_WINDOW_S);
  private readonly seconds = new Float64Array(RATE_WINDOW_S).fill(-1);

  add(n: number, now = Date.now()): void {
    const second = Math.floor(now / 1000);
    const slot = second % RATE_WINDOW_S;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.counts[slot] = 0;
    }
    this.counts[slot]! += n;
  }

  perSecond(now = Date.now()): number {
    const second = Math.floor(now / 1000);
    let sum = 0;
    for (let i = 0; i < RATE_WINDOW_S; i++) if (second - this.seconds[i]! < RATE_WINDOW_S) sum += this.counts[i]!;
    return sum / RATE_WINDOW_S;
  }
}

/** The server's metrics and their registry. */
export class ServerMetrics {
  readonly registry: PromClient.Registry;
  private readonly requests: PromClient.Counter<'route' | 'status'>;
  private readonly latency: PromClient.Histogram<'route'>;
  private readonly batchSize: PromClient.Histogram<'model'>;
  private readonly batchSeconds: PromClient.Histogram<'model'>;
  private readonly images: PromClient.Counter<'model'>;
  private readonly loadSeconds: PromClient.Gauge<'model'>;
  private readonly rate = new RateWindow();

  constructor(prom: typeof PromClient, sources: MetricSources) {
    const registry = (this.registry = new prom.Registry());
    const registers = [registry];
    prom.collectDefaultMetrics({ register: registry });
    this.requests = new prom.Counter({ name: 'mobilenet_v2_requests_total', help: 'HTTP requests answered, by route and status code', labelNames: ['route', 'status'], registers });
    this.latency = new prom.Histogram({
      name: 'mobilenet_v2_request_duration_seconds', help: 'Time from request to answer, by route', labelNames: ['route'], registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.batchSize = new prom.Histogram({ name: 'mobilenet_v2_batch_size', help: 'Images per model run', labelNames: ['model'], registers, buckets: [1, 2, 4, 8, 16, 32, 64, 128] });
    this.batchSeconds = new prom.Histogram({
      name: 'mobilenet_v2_batch_duration_seconds', help: 'Time of one model run', labelNames: ['model'], registers,
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
    this.images = new prom.Counter({ name: 'mobilenet_v2_images_total', help: 'Images run through a model', labelNames: ['model'], registers });
    this.loadSeconds = new prom.Gauge({ name: 'mobilenet_v2_model_load_seconds', help: 'Time to load and warm up each model', labelNames: ['model'], registers });
    const rate = this.rate;
    new prom.Gauge({
      name: 'mobilenet_v2_images_per_second', help: `Images run through the models per second, over the last ${RATE_WINDOW_S} s`, registers,
      collect() {
        this.set(rate.perSecond());
      },
    });
    new prom.Gauge({
      name: 'mobilenet_v2_queue_depth', help: 'Requests waiting for the model', labelNames: ['model'], registers,
      collect() {
        for (const [model, depth] of sources.queueDepth()) this.set({ model }, depth);
      },
    });
    new prom.Gauge({
      name: 'mobilenet_v2_images_in_flight', help: 'Images admitted and not yet answered (bounded by --max-queue)', registers,
      collect() {
        this.set(sources.inFlight());
      },
    });
  }

  /** Counts an answered request. */
  request(route: string, status: number, seconds: number): void {
    this.requests.inc({ route, status: String(status) });
    this.latency.observe({ route }, seconds);
  }

  /** Counts a model run of `rows` images. */
  batch(model: string, rows: number, ms: number): void {
    this.batchSize.observe({ model }, rows);
    this.batchSeconds.observe({ model }, ms / 1000);
    this.images.inc({ model }, rows);
    this.rate.add(rows);
  }

  /** Records a model's load (and warm-up) time. */
  loaded(model: string, seconds: number): void {
    this.loadSeconds.set({ model }, seconds);
  }
}
