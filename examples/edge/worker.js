// kiln's serving protocols in a Worker (workerd, Cloudflare Workers): TF Serving, KServe v2 (with Triton's binary
// tensors) and TorchServe's JSON instances, over a model file bundled with the Worker. Same routes as `kiln serve`.
import * as kiln from 'kiln';
import wasmModule from './kiln.wasm';
import modelBytes from './model.kiln';

let handler;

async function start() {
  await kiln.ready({ wasmModule });
  const model = await kiln.load(new Uint8Array(modelBytes));
  return kiln.createFetchHandler({ models: { cnn: model }, maxBodyBytes: 4 * 1024 * 1024 });
}

export default {
  async fetch(request) {
    // Started on the first request of each isolate; a failed start is retried by the next request.
    handler ??= start().catch((error) => {
      handler = undefined;
      throw error;
    });
    return (await handler)(request);
  },
};
