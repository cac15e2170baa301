/** Node: modules read from the package's pkg/ folder; threads are worker_threads sharing the wasm memory. */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { BackendError } from '../../errors.js';
import { validatesRelaxedSimd, type Platform, type Variant } from './loader.js';

const packageRoot = new URL('../../../', import.meta.url);
const wasmFile = (variant: Variant) => new URL(`pkg/${variant}/kiln_wasm_bg.wasm`, packageRoot);
const glueFile = (variant: Variant) => new URL(`pkg/${variant}/kiln_wasm.js`, packageRoot);

// Runs in each worker (as CommonJS or ESM, whichever the process's flags make an eval): instantiate the same module over the shared memory, then become a rayon thread.
const workerSource = `
(async () => {
  const { parentPort, workerData } = await import('node:worker_threads');
  try {
    const kernels = await import(workerData.glue);
    kernels.initSync({ module: workerData.module, memory: workerData.memory });
    parentPort.postMessage({ ready: true });
    kernels.start_worker(workerData.receiver);
  } catch (error) {
    parentPort.postMessage({ error: String((error && error.stack) || error) });
  }
})();
`;

function startWorker(variant: Variant, module: WebAssembly.Module, memory: WebAssembly.Memory, receiver: number) {
  return new Promise<void>((resolve, reject) => {
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: { glue: glueFile(variant).href, module, memory, receiver },
    });
    worker.once('message', (message: { ready?: boolean; error?: string }) => {
      if (message.ready) {
        worker.unref(); // an idle pool must not keep the process alive
        resolve();
      } else reject(new BackendError(`thread pool: a worker failed to start: ${message.error}`));
    });
    worker.once('error', (error: Error) => reject(new BackendError(`thread pool: a worker failed to start: ${error.message}`)));
  });
}

let relaxedSimd: boolean | undefined;

export const nodePlatform: Platform = {
  name: 'node',
  threadsUnavailable: () => (typeof SharedArrayBuffer === 'undefined' ? 'SharedArrayBuffer is disabled' : null),
  defaultThreads: () => availableParallelism(),
  async relaxedSimdAvailable() {
    if (relaxedSimd === undefined) {
      // Node 20's V8 ships relaxed SIMD behind a flag; switching it on at run time works (validated below).
      if (!validatesRelaxedSimd()) setFlagsFromString('--experimental-wasm-relaxed-simd');
      relaxedSimd = validatesRelaxedSimd();
    }
    return relaxedSimd;
  },
  async compile(variant) {
    return WebAssembly.compile(await readFile(wasmFile(variant)));
  },
  async startWorkers(variant, module, memory, receiver, count) {
    await Promise.all(Array.from({ length: count }, () => startWorker(variant, module, memory, receiver)));
  },
};
