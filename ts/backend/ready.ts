/** `ready()`: choose and start a backend. Each platform entry (index.node/browser/edge) binds its platform. */
import type { BackendInfo } from './backend.js';
import { ValueError, describe } from '../errors.js';
import { ReferenceBackend } from './reference/index.js';
import { backendInfo, setBackend } from './registry.js';
import { loadWasmBackend, type Platform, type WasmOptions } from './wasm/loader.js';

export interface ReadyOptions extends WasmOptions {
  /** 'wasm' (default) or 'reference' (plain TypeScript, slow: the test oracle). */
  backend?: 'wasm' | 'reference';
  /** Edge runtimes only: the kiln wasm module, imported as a `WebAssembly.Module`. */
  wasmModule?: WebAssembly.Module;
}

export function createReady(platformFor: (options: ReadyOptions) => Platform) {
  return async function ready(options: ReadyOptions = {}): Promise<BackendInfo> {
    const { backend = 'wasm' } = options;
    if (backend === 'reference') {
      setBackend(new ReferenceBackend());
    } else if (backend === 'wasm') {
      setBackend(await loadWasmBackend(platformFor(options), options));
    } else {
      throw new ValueError(`ready(): backend must be 'wasm' or 'reference', got ${describe(backend)}`);
    }
    return backendInfo();
  };
}
