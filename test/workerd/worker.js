// A Worker that runs kiln in workerd and answers one JSON document per request (see test/workerd.test.ts):
// `/` multiplies two matrices; `/models` loads the model files Node saved and predicts.
import * as kiln from '../../dist/index.edge.js';
import wasmModule from './kiln.wasm';
import cnn from './cnn.kiln';
import resnet20 from './resnet20.kiln';
import input from './input.bin';

async function models() {
  const x = new Float32Array(input);
  const predictions = {};
  for (const [name, bytes] of Object.entries({ cnn, resnet20 })) {
    const model = await kiln.load(bytes);
    const out = await model.predict(x);
    predictions[name] = Array.from(await out.data());
    out.dispose();
    model.dispose();
  }
  return predictions;
}

export default {
  async fetch(request) {
    try {
      const info = await kiln.ready({ wasmModule });
      if (new URL(request.url).pathname === '/models') return Response.json({ info, predictions: await models(), liveBytes: kiln.memory().liveBytes });
      const c = kiln.scope(() => kiln.matMul(kiln.tensor([[1, 2], [3, 4]]), kiln.tensor([[5, 6], [7, 8]])));
      const values = Array.from(await c.data());
      c.dispose();
      return Response.json({ info, values, finalizationRegistry: typeof FinalizationRegistry, liveBytes: kiln.memory().liveBytes });
    } catch (error) {
      return Response.json({ error: String(error?.stack ?? error) }, { status: 500 });
    }
  },
};
