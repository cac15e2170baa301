import { check } from './check.js';

self.onmessage = async ({ data }) => {
  try {
    self.postMessage(await check(data));
  } catch (error) {
    self.postMessage({ error: String(error?.stack ?? error) });
  }
};
