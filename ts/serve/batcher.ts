/**
 * Dynamic batching as TF Serving does it: requests for one model wait up to `batchTimeoutMicros` (counted from
 * the oldest) to fill a batch of at most `maxBatchSize` rows; a batch leaves as soon as it is full and a worker is
 * free. With a timeout of 0 (the default of `kiln serve`, as in TF Serving's batching example) nothing waits for
 * company: a request runs at once when a worker is free, and under load the next batch fills while the previous
 * one runs. The queue is bounded (full → 503) and each request has a deadline (passed → 504).
 */
import { HttpError } from './protocols/http.js';

export interface BatchingOptions {
  /** false: every request runs alone (still queued for a free worker). */
  enabled: boolean;
  maxBatchSize: number;
  batchTimeoutMicros: number;
  /** Rows waiting, at most. */
  maxQueueRows: number;
  /** Milliseconds a request may take in all, unless it asks for less. */
  requestTimeoutMs: number;
}

export type Runner = (inputs: Float32Array[], rows: number) => Promise<Float32Array[]>;

interface Pending {
  inputs: Float32Array[];
  rows: number;
  enqueued: number;
  resolve(outputs: Float32Array[]): void;
  reject(error: Error): void;
  settled: boolean;
  timer: ReturnType<typeof setTimeout>;
}

export class Batcher {
  private readonly queue: Pending[] = [];
  private queuedRows = 0;
  private inFlight = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private drained: (() => void)[] = [];

  constructor(
    private readonly options: BatchingOptions,
    /** The row sizes (elements per example) of each input and output. */
    private readonly inputSizes: number[],
    private readonly outputSizes: number[],
    /** A free runner, or undefined while every worker of the model is busy. */
    private readonly acquire: () => Runner | undefined,
    private readonly observe: { batch(rows: number): void; free(): void },
  ) {}

  get depth(): number {
    return this.queuedRows;
  }

  enqueue(inputs: Float32Array[], rows: number, deadline?: number): Promise<Float32Array[]> {
    if (this.queuedRows + rows > this.options.maxQueueRows) {
      return Promise.reject(new HttpError(503, `the queue of this model is full (${this.queuedRows} rows waiting, at most ${this.options.maxQueueRows}); retry later`));
    }
    const now = Date.now();
    const until = Math.min(deadline ?? Infinity, now + this.options.requestTimeoutMs);
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        inputs, rows, enqueued: now, settled: false,
        resolve: (outputs) => { if (!pending.settled) { pending.settled = true; clearTimeout(pending.timer); resolve(outputs); } },
        reject: (error) => { if (!pending.settled) { pending.settled = true; clearTimeout(pending.timer); reject(error); } },
        timer: setTimeout(() => {
          const at = this.queue.indexOf(pending);
          if (at >= 0) {
            this.queue.splice(at, 1);
            this.queuedRows -= pending.rows;
            this.settleIfDrained();
          }
          pending.reject(new HttpError(504, `the deadline of ${until - now} ms passed before the model answered`));
        }, Math.max(0, until - now)),
      };
      this.queue.push(pending);
      this.queuedRows += rows;
      this.pump();
    });
  }

  /** Sends the next batch if one is due and a worker is free; re-arms the timeout otherwise. */
  pump(): void {
    while (this.queue.length) {
      const { enabled, maxBatchSize, batchTimeoutMicros } = this.options;
      const waited = (Date.now() - this.queue[0].enqueued) * 1000;
      const due = !enabled || this.queuedRows >= maxBatchSize || waited >= batchTimeoutMicros;
      if (!due) {
        this.arm(batchTimeoutMicros - waited);
        return;
      }
      const runner = this.acquire();
      if (!runner) return; // observe.free() pumps again when a worker is done
      this.dispatch(runner, this.take(enabled ? maxBatchSize : 1));
    }
  }

  private arm(micros: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(0, Math.ceil(micros / 1000)));
  }

  /** Whole requests, oldest first, up to `limit` rows (a larger request goes alone). */
  private take(limit: number): Pending[] {
    const batch: Pending[] = [];
    let rows = 0;
    while (this.queue.length && (batch.length === 0 || rows + this.queue[0].rows <= limit)) {
      const next = this.queue.shift()!;
      rows += next.rows;
      batch.push(next);
    }
    this.queuedRows -= rows;
    return batch;
  }

  private dispatch(runner: Runner, batch: Pending[]): void {
    const rows = batch.reduce((n, p) => n + p.rows, 0);
    const inputs = this.inputSizes.map((size, i) => {
      if (batch.length === 1) return batch[0].inputs[i];
      const joined = new Float32Array(rows * size);
      let at = 0;
      for (const p of batch) {
        joined.set(p.inputs[i], at);
        at += p.rows * size;
      }
      return joined;
    });
    this.inFlight++;
    this.observe.batch(rows);
    runner(inputs, rows).then(
      (outputs) => {
        let at = 0;
        for (const p of batch) {
          p.resolve(outputs.map((o, i) => o.slice(at * this.outputSizes[i], (at + p.rows) * this.outputSizes[i])));
          at += p.rows;
        }
      },
      (error: Error) => batch.forEach((p) => p.reject(error)),
    ).finally(() => {
      this.inFlight--;
      this.settleIfDrained();
      this.observe.free();
    });
  }

  /** Resolves once nothing is queued or running (a retired version finishes what it accepted). */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private settleIfDrained(): void {
    if (this.queue.length === 0 && this.inFlight === 0) {
      for (const resolve of this.drained.splice(0)) resolve();
    }
  }
}
