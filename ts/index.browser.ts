/** Browser entry: wasm fetched next to the bundle, threads in Web Workers on cross-origin-isolated pages. */
import { createReady } from './backend/ready.js';
import { browserPlatform } from './backend/wasm/platform-browser.js';

export * from './index.js';
export const ready = createReady(() => browserPlatform);
