/** Node entry: wasm read from the package, threads on worker_threads. */
import { createReady } from './backend/ready.js';
import { nodePlatform } from './backend/wasm/platform-node.js';
import { setFileSystem } from './io/sources.js';
import { nodeFiles } from './io/node-files.js';

export * from './index.js';
export * as data from './data/cifar10.js';
export const ready = createReady(() => nodePlatform);

setFileSystem(nodeFiles);
