/**
 * Prometheus metrics of one encoder process (prom-client, a registry per app so that tests and
 * benchmarks can start several). Text format at GET /metrics.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class EncoderMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'encoder_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'encoder_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'encoder_errors_total',
    help: 'Errors by code (whole requests and single items of a batch)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'encoder_batch_size',
    help: 'Items per model run',
    labelNames: ['model', 'tower'] as const,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });
  readonly modelSeconds = new Histogram({
    name: 'encoder_model_run_seconds',
    help: 'Duration of one model run (a whole batch)',
    labelNames: ['model', 'tower'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly decodeSeconds = new Histogram({
    name: 'encoder_decode_seconds',
    help: 'Decode and preprocessing time of one image (sharp decode, resize, crop, normalise)',
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly fetchSeconds = new Histogram({
    name: 'encoder_fetch_seconds',
    help: 'Download time of one image URL',
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  /** 1 per loaded model, labelled with the tower variants it runs (constant after startup). */
  readonly models = new Gauge({
    name: 'encoder_model_info',
    help: 'Loaded models and the tower variants they run',
    labelNames: ['model', 'version', 'image_variant', 'text_variant'] as const,
    registers: [this.registry],
  });

  modelLoaded(model: { id: string; version: string; imageVariant: string; textVariant: string }): void {
    this.models.set(
      {
        model: model.id,
        version: model.version,
        image_variant: model.imageVariant,
        text_variant: model.textVariant,
      },
      1,
    );
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
