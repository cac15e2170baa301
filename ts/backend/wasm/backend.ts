/** The wasm backend: tensors are f32 buffers in the module's linear memory; ops call the Rust kernels. */
import type { Backend, BackendInfo, GemmArgs, MemoryInfo, Storage } from '../backend.js';
import type { KernelModule } from './loader.js';

class WasmStorage implements Storage {
  constructor(
    readonly ptr: number,
    readonly size: number,
  ) {}
}

const ptrOf = (s: Storage) => (s as WasmStorage).ptr;

export class WasmBackend implements Backend {
  readonly name = 'wasm';
  /** Why a faster variant or more threads were not used (set by the loader on each `ready()`). */
  reason?: string;

  constructor(
    private readonly kernels: KernelModule,
    private readonly linearMemory: WebAssembly.Memory,
    private readonly platform: string,
  ) {}

  info(): BackendInfo {
    return {
      backend: this.name,
      variant: this.kernels.variant(),
      threads: this.kernels.thread_count(),
      platform: this.platform,
      ...(this.reason ? { reason: this.reason } : {}),
    };
  }

  allocate(size: number): Storage {
    return new WasmStorage(this.kernels.alloc_f32(size), size);
  }

  free(storage: Storage): void {
    this.kernels.free_f32(ptrOf(storage), storage.size);
  }

  /** A view into linear memory; made fresh each time because memory growth replaces the buffer. */
  private view(storage: Storage): Float32Array {
    return new Float32Array(this.linearMemory.buffer, ptrOf(storage), storage.size);
  }

  write(storage: Storage, values: Float32Array): void {
    this.view(storage).set(values);
  }

  copy(src: Storage, dst: Storage): void {
    this.view(dst).set(this.view(src));
  }

  async read(storage: Storage): Promise<Float32Array> {
    return this.readSync(storage);
  }

  readSync(storage: Storage): Float32Array {
    return this.view(storage).slice();
  }

  gemm({ transA, transB, m, n, k, alpha, a, b, beta, c }: GemmArgs): void {
    const lda = Math.max(1, transA ? m : k);
    const ldb = Math.max(1, transB ? k : n);
    const ldc = Math.max(1, n);
    this.kernels.gemm(
      transA, transB, m, n, k, alpha,
      ptrOf(a), a.size, lda, ptrOf(b), b.size, ldb,
      beta, ptrOf(c), c.size, ldc,
    );
  }

  memory(): MemoryInfo {
    return { liveBytes: this.kernels.allocated_bytes(), heapBytes: this.linearMemory.buffer.byteLength };
  }
}
