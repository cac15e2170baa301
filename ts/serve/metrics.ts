/** Prometheus metrics of `kiln serve`, kept by prom-client (the Node client Prometheus' own docs list). */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServeResponse } from './protocols/http.js';
import type { Repository } from './repository.js';

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'kiln_requests_total', help: 'Requests answered, by protocol, model, version and HTTP status',
    labelNames: ['protocol', 'model', 'version', 'status'], registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'kiln_request_duration_seconds', help: 'Time from the request to its answer',
    labelNames: ['protocol', 'model'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: 'kiln_batch_size', help: 'Rows per batch run by the model', labelNames: ['model'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [this.registry],
  });
  private readonly loadSeconds = new Gauge({
    name: 'kiln_model_load_seconds', help: 'Time to load the served version of each model', labelNames: ['model', 'version'], registers: [this.registry],
  });

  constructor(repository: () => Repository | undefined) {
    collectDefaultMetrics({ register: this.registry, prefix: 'kiln_process_' });
    new Gauge({
      name: 'kiln_queue_depth', help: 'Rows waiting for a batch, per model', labelNames: ['model'], registers: [this.registry],
      collect() {
        this.reset();
        for (const model of repository()?.queues() ?? []) this.inc({ model: model.name }, model.batcher.depth);
      },
    });
  }

  observe(response: ServeResponse, seconds: number): void {
    const model = response.model ?? '';
    this.requests.inc({ protocol: response.protocol, model, version: response.version === undefined ? '' : String(response.version), status: String(response.status) });
    this.latency.observe({ protocol: response.protocol, model }, seconds);
  }

  batch(model: string, rows: number): void {
    this.batchSize.observe({ model }, rows);
  }

  private readonly servedVersion = new Map<string, string>();

  loaded(model: string, version: number, seconds: number): void {
    const previous = this.servedVersion.get(model);
    if (previous !== undefined) this.loadSeconds.remove({ model, version: previous });
    this.servedVersion.set(model, String(version));
    this.loadSeconds.set({ model, version: String(version) }, seconds);
  }
}
