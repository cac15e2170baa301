/** A browser thread-pool worker: instantiate the module over the shared memory, then run one rayon thread. */
import { kernelModules, type ThreadedKernelModule, type Variant } from './loader.js';

interface Start {
  variant: Variant;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  receiver: number;
}

self.onmessage = ({ data }: MessageEvent<Start>) => {
  try {
    const kernels = kernelModules[data.variant] as ThreadedKernelModule;
    kernels.initSync({ module: data.module, memory: data.memory });
    self.postMessage({ ready: true });
    kernels.start_worker(data.receiver);
  } catch (error) {
    self.postMessage({ error: String((error as Error)?.stack ?? error) });
  }
};
