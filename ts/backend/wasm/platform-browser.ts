/**
 * Browsers: modules fetched next to this file (bundlers see the `new URL(..., import.meta.url)` assets);
 * threads are module Web Workers sharing the wasm memory. They need a cross-origin-isolated page, and
 * never run on the page's main thread, which may not block: there kiln uses a single-threaded build.
 */
import { BackendError } from '../../errors.js';
import { validatesRelaxedSimd, type Platform, type Variant } from './loader.js';

const wasmUrls: Record<Variant, URL> = {
  simd: new URL('../../../pkg/simd/kiln_wasm_bg.wasm', import.meta.url),
  'simd-relaxed': new URL('../../../pkg/simd-relaxed/kiln_wasm_bg.wasm', import.meta.url),
  threads: new URL('../../../pkg/threads/kiln_wasm_bg.wasm', import.meta.url),
  'threads-relaxed': new URL('../../../pkg/threads-relaxed/kiln_wasm_bg.wasm', import.meta.url),
};

const onMainThread = () => typeof (globalThis as { document?: unknown }).document !== 'undefined';

/** Kept referenced so no browser collects a worker that only shares memory with us. */
const workers: Worker[] = [];

function startWorker(variant: Variant, module: WebAssembly.Module, memory: WebAssembly.Memory, receiver: number) {
  return new Promise<void>((resolve, reject) => {
    const worker = new Worker(new URL('./worker-browser.js', import.meta.url), { type: 'module' });
    worker.onmessage = ({ data }: MessageEvent<{ ready?: boolean; error?: string }>) => {
      if (data.ready) resolve();
      else reject(new BackendError(`thread pool: a worker failed to start: ${data.error}`));
    };
    worker.onerror = (event) => reject(new BackendError(`thread pool: a worker failed to start: ${event.message}`));
    worker.postMessage({ variant, module, memory, receiver });
    workers.push(worker);
  });
}

export const browserPlatform: Platform = {
  name: 'browser',
  threadsUnavailable() {
    if (!globalThis.crossOriginIsolated) {
      return 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)';
    }
    if (onMainThread()) return "a page's main thread may not block; use kiln inside a Worker for threads";
    return null;
  },
  defaultThreads: () => globalThis.navigator?.hardwareConcurrency ?? 1,
  relaxedSimdAvailable: async () => validatesRelaxedSimd(),
  async compile(variant) {
    const response = await fetch(wasmUrls[variant]);
    if (!response.ok) throw new BackendError(`cannot load ${wasmUrls[variant]}: HTTP ${response.status}`);
    return WebAssembly.compile(await response.arrayBuffer());
  },
  async startWorkers(variant, module, memory, receiver, count) {
    await Promise.all(Array.from({ length: count }, () => startWorker(variant, module, memory, receiver)));
  },
};
