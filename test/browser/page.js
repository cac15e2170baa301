import { check } from './check.js';

async function inWorker(options) {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  return new Promise((resolve) => {
    worker.onmessage = ({ data }) => resolve(data);
    worker.onerror = (event) => resolve({ error: event.message });
    worker.postMessage(options);
  });
}

async function run() {
  const mainThread = await check({ threads: 2 });
  const worker = await inWorker({ threads: 2 });
  const workerSimd = await inWorker({ threads: 1, relaxedSimd: false });
  return { mainThread, worker, workerSimd };
}

run().then(
  (result) => (window.kilnResult = result),
  (error) => (window.kilnResult = { error: String(error?.stack ?? error) }),
);
