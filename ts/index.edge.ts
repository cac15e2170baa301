/** Edge entry (Workers-style runtimes): the wasm module is imported by the app and passed to `ready()`. */
import { createReady } from './backend/ready.js';
import { edgePlatform } from './backend/wasm/platform-edge.js';

export * from './index.js';
export const ready = createReady((options) => edgePlatform(options.wasmModule));
