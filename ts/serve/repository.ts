/**
 * The model repository of `kiln serve`, laid out as TF Serving's: MODEL_BASE/NAME/VERSION/model.kiln. The
 * highest version of each name is served; polling picks up a new version (loaded beside the old, then swapped
 * in) and retires the old one once it has answered what it accepted. Nothing is read outside MODEL_BASE:
 * every path is resolved through its symbolic links and checked to lie inside.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, resolve, sep } from 'node:path';
import { Batcher, type BatchingOptions } from './batcher.js';
import { HttpError } from './protocols/http.js';
import { sizeOf, type ModelCatalog, type ServedModel } from './protocols/tensors.js';
import { InferenceWorker } from './pool.js';
import type { ModelDescription } from './describe.js';

const NAME = /^[A-Za-z0-9_.-]+$/;
const VERSION = /^[0-9]{1,15}$/;
export const MODEL_FILE = 'model.kiln';

export interface RepositoryOptions {
  /** MODEL_BASE, or the folder of the one model file served. */
  base: string;
  /** Serve only this file, as `name`, version 1. */
  single?: { file: string; name: string };
  batching: BatchingOptions;
  /** wasm threads of each inference worker (default: all cores). */
  threads?: number;
  /** Inference workers each model starts with (TorchServe's default_workers_per_model; default 1). */
  workers?: number;
  pollSeconds: number;
  log(line: string): void;
  /** Called with each batch's rows, per model. */
  onBatch?(model: string, rows: number): void;
  onLoad?(model: string, version: number, seconds: number): void;
}

/** A model version loaded in one or more inference workers, behind its batcher. */
export class LoadedModel implements ServedModel {
  readonly inputs;
  readonly outputs;
  readonly classNames;
  readonly inputScale;
  readonly outputsAreProbabilities;
  readonly maxBatchSize: number;
  readonly batcher: Batcher;

  constructor(
    /** Unique per load: a rescaled or reloaded version never shares a worker-side key with the one it replaces. */
    readonly key: string,
    readonly name: string,
    readonly version: number,
    readonly file: string,
    description: ModelDescription,
    readonly workers: InferenceWorker[],
    readonly registered: boolean,
    options: BatchingOptions,
    observe: { batch(rows: number): void; free(): void },
  ) {
    ({ inputs: this.inputs, outputs: this.outputs, classNames: this.classNames, inputScale: this.inputScale, outputsAreProbabilities: this.outputsAreProbabilities } = description);
    this.maxBatchSize = options.maxBatchSize;
    this.batcher = new Batcher(options, this.inputs.map((t) => sizeOf(t.shape)), this.outputs.map((t) => sizeOf(t.shape)), () => {
      const free = this.workers.find((w) => !w.busy && w.alive);
      return free && ((inputs, rows) => free.run(this.key, inputs, rows));
    }, observe);
  }

  infer(inputs: Float32Array[], rows: number, options: { deadline?: number } = {}): Promise<Float32Array[]> {
    return this.batcher.enqueue(inputs, rows, options.deadline);
  }
}

export class Repository implements ModelCatalog {
  private readonly served = new Map<string, LoadedModel>();
  /** The served models and the retiring ones still answering what they accepted. */
  private readonly running = new Set<LoadedModel>();
  /** Names unregistered through the management API: the poller leaves them alone. */
  private readonly unregistered = new Set<string>();
  private readonly failed = new Map<string, number>();
  private readonly workers: InferenceWorker[] = [];
  private baseReal = '';
  private isReady = false;
  private poller: ReturnType<typeof setInterval> | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private loads = 0;

  constructor(private readonly options: RepositoryOptions) {}

  async start(): Promise<void> {
    this.baseReal = await realpath(this.options.base).catch(() => {
      throw new HttpError(404, `model base ${this.options.base} does not exist`);
    });
    await this.workerPool(this.options.workers ?? 1);
    this.options.log(`inference: ${this.workers[0].backend}`);
    await this.scan();
    this.isReady = true;
    if (!this.options.single) this.poller = setInterval(() => void this.rescan(), this.options.pollSeconds * 1000);
  }

  list(): LoadedModel[] {
    return [...this.served.values()];
  }

  /** Served and retiring models (metrics: every queue that holds requests). */
  queues(): LoadedModel[] {
    return [...this.running];
  }

  get(name: string, version?: number): ServedModel | undefined {
    const model = this.served.get(name);
    return model && (version === undefined || model.version === version) ? model : undefined;
  }

  ready(): boolean {
    return this.isReady;
  }

  /** Serialised scans: a poll never overlaps a management change. */
  rescan(): Promise<void> {
    return (this.scanning = this.scanning.then(() => this.scan()).catch((error) => this.options.log(`repository scan failed: ${(error as Error).message}`)));
  }

  private async scan(): Promise<void> {
    if (this.options.single) {
      if (!this.served.has(this.options.single.name)) await this.load(this.options.single.name, 1, await this.inside(this.options.single.file), false);
      return;
    }
    const found = new Map<string, { version: number; file: string }>();
    for (const entry of await readdir(this.baseReal, { withFileTypes: true })) {
      if (!NAME.test(entry.name) || this.unregistered.has(entry.name)) continue;
      const versions = await this.versions(entry.name);
      if (versions.length) found.set(entry.name, versions[0]);
    }
    for (const [name, latest] of found) {
      const current = this.served.get(name);
      if (current?.registered || current?.version === latest.version) continue;
      const attempt = `${name}/${latest.version}`;
      const mtime = (await stat(latest.file)).mtimeMs;
      if (this.failed.get(attempt) === mtime) continue;
      try {
        await this.load(name, latest.version, latest.file, false);
        this.failed.delete(attempt);
      } catch (error) {
        this.failed.set(attempt, mtime);
        this.options.log(`${attempt}: not loaded: ${(error as Error).message}`);
      }
    }
    for (const [name, model] of this.served) if (!model.registered && !found.has(name)) void this.retire(model, 'its directory is gone');
  }

  /** Version directories holding a model file inside the base, highest first. */
  private async versions(name: string): Promise<{ version: number; file: string }[]> {
    let dir: string;
    try {
      dir = await this.inside(resolve(this.baseReal, name));
      if (!(await stat(dir)).isDirectory()) return [];
    } catch (error) {
      this.warnOnce(name, (error as Error).message);
      return [];
    }
    const out: { version: number; file: string }[] = [];
    for (const entry of await readdir(dir)) {
      if (!VERSION.test(entry)) continue;
      try {
        out.push({ version: Number(entry), file: await this.inside(resolve(dir, entry, MODEL_FILE)) });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.warnOnce(`${name}/${entry}`, (error as Error).message);
      }
    }
    return out.sort((a, b) => b.version - a.version);
  }

  private readonly warned = new Set<string>();
  private warnOnce(what: string, message: string): void {
    if (!this.warned.has(what)) this.options.log(`${what}: skipped: ${message}`);
    this.warned.add(what);
  }

  /** `path` with its links resolved, which must lie inside the base; else a 403-class refusal. */
  async inside(path: string): Promise<string> {
    const real = await realpath(path);
    if (real !== this.baseReal && !real.startsWith(this.baseReal + sep)) throw new HttpError(403, `${path} resolves to ${real}, outside the model base ${this.baseReal}`, 'ForbiddenException');
    return real;
  }

  private async load(name: string, version: number, file: string, registered: boolean, workerCount = this.options.workers ?? 1): Promise<LoadedModel> {
    const started = performance.now();
    const bytes = new Uint8Array(await readFile(file));
    const workers = await this.workerPool(workerCount);
    const key = `${name}/${version}#${++this.loads}`;
    const descriptions = await Promise.all(workers.map((w) => w.load(key, bytes)));
    const model = new LoadedModel(key, name, version, file, descriptions[0], workers, registered, this.options.batching, {
      batch: (rows) => this.options.onBatch?.(name, rows),
      free: () => this.pumpAll(),
    });
    const seconds = (performance.now() - started) / 1000;
    this.options.onLoad?.(name, version, seconds);
    const previous = this.served.get(name);
    this.served.set(name, model);
    this.running.add(model);
    this.options.log(`${name}: version ${version} serving (${file}, ${bytes.length.toLocaleString('en-US')} bytes, loaded in ${seconds.toFixed(2)} s)`);
    if (previous && previous !== model) void this.retire(previous, `version ${version} replaces it`);
    return model;
  }

  /** Stops routing to `model`, lets its batcher finish what it accepted, then frees it in its workers. */
  private async retire(model: LoadedModel, why: string): Promise<void> {
    if (this.served.get(model.name) === model) this.served.delete(model.name);
    await model.batcher.drain();
    this.running.delete(model);
    await Promise.all(model.workers.map((w) => w.unload(model.key).catch(() => undefined)));
    this.options.log(`${model.name}: version ${model.version} retired (${why})`);
  }

  /** A worker is free: every model waiting for one may send its next batch. */
  private pumpAll(): void {
    for (const model of this.running) model.batcher.pump();
  }

  /** The first `count` inference workers, started as needed. */
  private async workerPool(count: number): Promise<InferenceWorker[]> {
    while (this.workers.length < count) this.workers.push(await InferenceWorker.start(this.options.threads));
    return this.workers.slice(0, count);
  }

  // The management API's operations.

  async register(relativePath: string, name?: string, workers?: number): Promise<LoadedModel> {
    if (/^[a-z][a-z0-9+.-]*:/i.test(relativePath)) throw new HttpError(400, `kiln never fetches models from URLs; give a path inside the model base, got '${relativePath}'`);
    const file = await this.inside(resolve(this.baseReal, relativePath)).catch((error) => {
      throw error instanceof HttpError ? error : new HttpError(404, `no model file '${relativePath}' in the model base`);
    });
    const modelName = name ?? basename(file).replace(/\.kiln$/, '');
    if (!NAME.test(modelName)) throw new HttpError(400, `model name ${JSON.stringify(modelName)} is not allowed: names are [A-Za-z0-9_.-]+`);
    if (workers !== undefined) checkWorkers(workers, 'initial_workers');
    if (this.served.has(modelName)) throw new HttpError(409, `model '${modelName}' is already registered`, 'ConflictStatusException');
    const parent = basename(dirname(file));
    this.unregistered.delete(modelName);
    return this.serialised(() => this.load(modelName, VERSION.test(parent) ? Number(parent) : 1, file, true, workers));
  }

  async unregister(name: string): Promise<void> {
    const model = this.served.get(name);
    if (!model) throw new HttpError(404, `Model not found: ${name}`);
    this.unregistered.add(name);
    await this.retire(model, 'unregistered');
  }

  /** Serves `name` from `count` inference workers (each with its own backend and threads). */
  async scale(name: string, count: number): Promise<LoadedModel> {
    const model = this.served.get(name);
    if (!model) throw new HttpError(404, `Model not found: ${name}`);
    checkWorkers(count, 'min_worker');
    if (count === model.workers.length) return model;
    return this.serialised(() => this.load(name, model.version, model.file, model.registered, count));
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const result = this.scanning.then(work);
    this.scanning = result.then(() => undefined, () => undefined);
    return result;
  }

  /** Stops polling and the inference workers (after the server has answered what is in flight). */
  async close(): Promise<void> {
    clearInterval(this.poller);
    await Promise.all([...this.running].map((m) => m.batcher.drain()));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function checkWorkers(count: number, what: string): void {
  if (!Number.isInteger(count) || count < 1 || count > 16) throw new HttpError(400, `${what} must be an integer from 1 to 16, got ${count}`);
}
