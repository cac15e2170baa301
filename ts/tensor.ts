/**
 * Tensor: a shape, a dtype and a buffer owned by one backend. Free it with `dispose()`, or create it inside
 * `scope()` which frees everything not returned; a FinalizationRegistry frees what is garbage-collected
 * without either, as a safety net (not a schedule: wasm memory is finite, dispose explicitly).
 */
import type { Backend, Storage } from './backend/backend.js';
import { BackendError, DisposedError, ValueError } from './errors.js';

export type DType = 'float32' | 'int32';
export type Shape = readonly number[];

interface Owned {
  backend: Backend;
  storage: Storage;
}

// Runtimes without FinalizationRegistry (workerd with an older compatibility date) run without the safety net.
const finalizer = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<Owned>(({ backend, storage }) => backend.free(storage)) : null;

/** Whether garbage-collected tensors are freed (the FinalizationRegistry safety net); dispose() and scope() work either way. */
export const gcSafetyNet = finalizer !== null;

const scopes: Set<Tensor>[] = [];

export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  readonly backend: Backend;
  #storage: Storage | null;

  /** Internal: use `tensor()`, `zeros()` or an op to make tensors. */
  constructor(backend: Backend, storage: Storage, shape: Shape) {
    this.backend = backend;
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
    this.size = storage.size;
    this.dtype = storage.dtype;
    finalizer?.register(this, { backend, storage }, this);
    scopes.at(-1)?.add(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.#storage === null;
  }

  /** The backend buffer; throws `DisposedError` after `dispose()`. */
  get storage(): Storage {
    if (this.#storage === null) {
      throw new DisposedError(`tensor of shape [${this.shape}] was used after dispose()`);
    }
    return this.#storage;
  }

  /** A copy of the values, row-major (Int32Array for int32 tensors). Works on every backend. */
  async data(): Promise<Float32Array | Int32Array> {
    return this.backend.read(this.storage);
  }

  /** A copy of the values, without waiting; only on backends that can (wasm, reference). */
  dataSync(): Float32Array | Int32Array {
    const storage = this.storage;
    if (!this.backend.readSync) {
      throw new BackendError(`dataSync(): backend '${this.backend.name}' reads asynchronously; use await tensor.data()`);
    }
    return this.backend.readSync(storage);
  }

  /** Frees the buffer now. Calling it twice is harmless. */
  dispose(): void {
    if (this.#storage === null) return;
    finalizer?.unregister(this);
    this.backend.free(this.#storage);
    this.#storage = null;
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape}]${this.isDisposed ? ', disposed' : ''})`;
  }
}

function collectTensors(value: unknown, into: Set<Tensor>, seen = new Set<unknown>()): Set<Tensor> {
  if (value instanceof Tensor) {
    into.add(value);
  } else if (value !== null && typeof value === 'object' && !seen.has(value)) {
    seen.add(value);
    for (const item of Array.isArray(value) ? value : Object.values(value)) collectTensors(item, into, seen);
  }
  return into;
}

/**
 * Runs `fn` and disposes every tensor created during it, except the tensors found in its result (directly,
 * or inside arrays and plain objects), which pass to the enclosing scope. `fn` must be synchronous.
 */
export function scope<T>(fn: () => T): T {
  const created = new Set<Tensor>();
  scopes.push(created);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    for (const t of created) t.dispose();
    throw error;
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) {
    for (const t of created) t.dispose();
    throw new ValueError('scope(fn): fn must be synchronous, got a function returning a Promise');
  }
  const kept = collectTensors(result, new Set());
  for (const t of created) {
    if (kept.has(t)) scopes.at(-1)?.add(t);
    else t.dispose();
  }
  return result;
}

/** Lets `t` outlive the scope it was created in. */
export function keep(t: Tensor): Tensor {
  for (const s of scopes) s.delete(t);
  return t;
}
