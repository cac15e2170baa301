/**
 * The inference threads of `kiln serve` (worker_threads, each with its own wasm backend), and the typed
 * messages between them and the server: every request carries an id, answers are matched to it.
 */
import { Worker } from 'node:worker_threads';
import { BackendError, KilnError, ShapeError, ValueError, DTypeError } from '../errors.js';
import type { ModelDescription } from './describe.js';

export type ToWorker =
  | { type: 'load'; id: number; key: string; bytes: Uint8Array }
  | { type: 'unload'; id: number; key: string }
  | { type: 'run'; id: number; key: string; inputs: Float32Array[]; rows: number };

export type ToServer =
  | { type: 'started'; backend: string }
  | { type: 'done'; id: number; description?: ModelDescription; outputs?: Float32Array[] }
  | { type: 'failed'; id: number; error: { name: string; message: string } };

type Answer = Extract<ToServer, { type: 'done' }>;
type Message = ToWorker extends infer M ? (M extends ToWorker ? Omit<M, 'id'> : never) : never;

const ERRORS: Record<string, new (message: string) => KilnError> = { ShapeError, ValueError, DTypeError };

export class InferenceWorker {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  /** A batch is running on it. */
  busy = false;
  backend = '';

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: ToServer) => {
      if (message.type === 'started') return;
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      if (message.type === 'done') waiting.resolve(message);
      else waiting.reject(new (ERRORS[message.error.name] ?? KilnError)(message.error.message));
    });
    const fail = (error: Error) => {
      this.failure = new BackendError(`inference worker stopped: ${error.message}`);
      for (const { reject } of this.pending.values()) reject(this.failure);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  static start(threads: number | undefined): Promise<InferenceWorker> {
    const worker = new Worker(new URL('./inference-worker.js', import.meta.url), { workerData: { threads } });
    return new Promise((resolve, reject) => {
      const started = (message: ToServer) => {
        if (message.type === 'started') {
          const w = new InferenceWorker(worker);
          w.backend = message.backend;
          resolve(w);
        } else if (message.type === 'failed') reject(new BackendError(`inference worker failed to start: ${message.error.message}`));
        else return;
        worker.off('message', started);
      };
      worker.on('message', started);
      worker.once('error', (error: Error) => reject(new BackendError(`inference worker failed to start: ${error.message}`)));
    });
  }

  private request(message: Message, transfer: ArrayBuffer[] = []): Promise<Answer> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  async load(key: string, bytes: Uint8Array): Promise<ModelDescription> {
    const { description } = await this.request({ type: 'load', key, bytes: bytes.slice() });
    return description!;
  }

  async unload(key: string): Promise<void> {
    await this.request({ type: 'unload', key });
  }

  async run(key: string, inputs: Float32Array[], rows: number): Promise<Float32Array[]> {
    this.busy = true;
    try {
      const { outputs } = await this.request({ type: 'run', key, inputs, rows }, inputs.map((x) => x.buffer as ArrayBuffer));
      return outputs!;
    } finally {
      this.busy = false;
    }
  }

  get alive(): boolean {
    return !this.failure;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
