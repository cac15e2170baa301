/**
 * The inference thread of `kiln serve`: it owns the (threaded) wasm backend and the loaded models, and runs the
 * batches the server sends, so the HTTP event loop never waits on a kernel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as kiln from '../index.node.js';
import { describeModel, runBatch } from './describe.js';
import type { ToServer, ToWorker } from './pool.js';

const models = new Map<string, kiln.Model>();
const port = parentPort!;
const send = (message: ToServer, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function answer(message: ToWorker): Promise<void> {
  try {
    if (message.type === 'load') {
      models.get(message.key)?.dispose();
      const model = kiln.modelFromBytes(message.bytes);
      models.set(message.key, model);
      send({ type: 'done', id: message.id, description: describeModel(model) });
    } else if (message.type === 'unload') {
      models.get(message.key)?.dispose();
      models.delete(message.key);
      send({ type: 'done', id: message.id });
    } else {
      const model = models.get(message.key);
      if (!model) throw new kiln.ValueError(`model ${message.key} is not loaded in this worker`);
      const outputs = await runBatch(model, message.inputs, message.rows);
      send({ type: 'done', id: message.id, outputs }, outputs.map((o) => o.buffer as ArrayBuffer));
    }
  } catch (error) {
    const { name = 'Error', message: text = String(error) } = error as Error;
    send({ type: 'failed', id: message.id, error: { name, message: text } });
  }
}

(async () => {
  try {
    const info = await kiln.ready(workerData.threads ? { threads: workerData.threads } : {});
    port.on('message', (message: ToWorker) => void answer(message));
    send({ type: 'started', backend: `${info.variant}, ${info.threads} thread(s)` });
  } catch (error) {
    send({ type: 'failed', id: -1, error: { name: 'BackendError', message: (error as Error).message } });
  }
})();
