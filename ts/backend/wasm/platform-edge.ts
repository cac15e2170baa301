/**
 * Edge runtimes (Cloudflare Workers, Vercel Edge): compiling wasm from bytes is forbidden, so the module is
 * imported by the application (`import wasm from 'kiln/wasm/simd.wasm'`) and handed to `ready({ wasmModule })`.
 * No shared-memory workers: single-threaded.
 */
import { BackendError, describe } from '../../errors.js';
import type { Platform } from './loader.js';

export function edgePlatform(wasmModule: unknown): Platform {
  if (!(wasmModule instanceof WebAssembly.Module)) {
    throw new BackendError(
      `ready(): on the edge pass { wasmModule } imported from 'kiln/wasm/simd.wasm' (a WebAssembly.Module), got ${describe(wasmModule)}`,
    );
  }
  return {
    name: 'edge',
    threadsUnavailable: () => 'edge runtimes have no workers sharing memory',
    defaultThreads: () => 1,
    relaxedSimdAvailable: async () => false,
    compile: async () => wasmModule,
    startWorkers: async () => {
      throw new BackendError('edge runtimes have no workers sharing memory');
    },
  };
}
