/**
 * The one interface every backend implements (wasm, reference, later webgpu). Layers, autograd and ops call
 * only this; they never branch on which backend runs. Arguments arrive already validated by `ops.ts`.
 */

/** Opaque handle to a backend's buffer of float32 values (wasm: an address in linear memory). */
export interface Storage {
  readonly size: number;
}

export interface GemmArgs {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  a: Storage;
  b: Storage;
  beta: number;
  /** Output; read when beta ≠ 0. Row-major with leading dimension n. */
  c: Storage;
}

export interface MemoryInfo {
  /** Bytes held by live tensor buffers. */
  liveBytes: number;
  /** Size of the backend's heap (wasm linear memory); `liveBytes` for backends without one. */
  heapBytes: number;
}

export interface BackendInfo {
  backend: string;
  /** wasm build in use: 'simd', 'threads', 'simd-relaxed', 'threads-relaxed'; the backend name otherwise. */
  variant: string;
  threads: number;
  /** 'node', 'browser' or 'edge' for wasm. */
  platform?: string;
  /** Why a faster variant or more threads could not be used, if so. */
  reason?: string;
}

export interface Backend {
  readonly name: string;
  info(): BackendInfo;
  /** A zeroed buffer of `size` floats. */
  allocate(size: number): Storage;
  free(storage: Storage): void;
  write(storage: Storage, values: Float32Array): void;
  /** Copies all of `src` into `dst` (same size). */
  copy(src: Storage, dst: Storage): void;
  read(storage: Storage): Promise<Float32Array>;
  /** Present only where the backend can read without waiting (wasm, reference; not webgpu). */
  readSync?(storage: Storage): Float32Array;
  /** C = alpha·op(A)·op(B) + beta·C, row-major, leading dimensions from the shapes. */
  gemm(args: GemmArgs): void;
  memory(): MemoryInfo;
}
