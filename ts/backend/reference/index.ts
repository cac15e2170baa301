/** Plain-TypeScript backend: the oracle the wasm and webgpu kernels are tested against. Clear over fast. */
import type { Backend, BackendInfo, GemmArgs, MemoryInfo, Storage } from '../backend.js';

class ArrayStorage implements Storage {
  constructor(readonly values: Float32Array) {}
  get size(): number {
    return this.values.length;
  }
}

const valuesOf = (s: Storage): Float32Array => (s as ArrayStorage).values;

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  private liveBytes = 0;

  info(): BackendInfo {
    return { backend: this.name, variant: this.name, threads: 1 };
  }

  allocate(size: number): Storage {
    this.liveBytes += size * 4;
    return new ArrayStorage(new Float32Array(size));
  }

  free(storage: Storage): void {
    this.liveBytes -= storage.size * 4;
  }

  write(storage: Storage, values: Float32Array): void {
    valuesOf(storage).set(values);
  }

  copy(src: Storage, dst: Storage): void {
    valuesOf(dst).set(valuesOf(src));
  }

  async read(storage: Storage): Promise<Float32Array> {
    return this.readSync(storage);
  }

  readSync(storage: Storage): Float32Array {
    return valuesOf(storage).slice();
  }

  gemm({ transA, transB, m, n, k, alpha, a, b, beta, c }: GemmArgs): void {
    const av = valuesOf(a);
    const bv = valuesOf(b);
    const cv = valuesOf(c);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) {
          const x = transA ? av[p * m + i] : av[i * k + p];
          const y = transB ? bv[j * k + p] : bv[p * n + j];
          sum += x * y;
        }
        cv[i * n + j] = alpha * sum + (beta === 0 ? 0 : beta * cv[i * n + j]);
      }
    }
  }

  memory(): MemoryInfo {
    return { liveBytes: this.liveBytes, heapBytes: this.liveBytes };
  }
}
