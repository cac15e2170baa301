/** Which backend runs ops now. `ready()` (per platform, in the index files) installs one. */
import type { Backend, BackendInfo } from './backend.js';
import { BackendError } from '../errors.js';
import { gcSafetyNet } from '../tensor.js';

let current: Backend | null = null;

export function getBackend(): Backend {
  if (current === null) throw new BackendError('no backend yet: call `await kiln.ready()` first');
  return current;
}

export function setBackend(backend: Backend): void {
  current = backend;
}

/** Which backend, wasm variant and thread count are in use, and why a faster one was not. */
export function backendInfo(): BackendInfo {
  return { ...getBackend().info(), gcSafetyNet };
}

/** Bytes held by live tensors and the size of the backend's heap. */
export function memory() {
  return getBackend().memory();
}
