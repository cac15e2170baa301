// A Worker that runs kiln in workerd and answers one JSON document per request (see test/workerd.test.ts).
import * as kiln from '../../dist/index.edge.js';
import wasmModule from './kiln.wasm';

export default {
  async fetch() {
    try {
      const info = await kiln.ready({ wasmModule });
      const c = kiln.scope(() => kiln.matMul(kiln.tensor([[1, 2], [3, 4]]), kiln.tensor([[5, 6], [7, 8]])));
      const values = Array.from(await c.data());
      c.dispose();
      return Response.json({ info, values, finalizationRegistry: typeof FinalizationRegistry, liveBytes: kiln.memory().liveBytes });
    } catch (error) {
      return Response.json({ error: String(error?.stack ?? error) }, { status: 500 });
    }
  },
};
