#!/usr/bin/env node
// Serving benchmark: a real `kiln serve` (the rollup build) on loopback, loaded by autocannon with batch-1 requests
// at concurrency 1, 8 and 64 in four encodings (TF Serving JSON, KServe JSON, KServe binary, TorchServe PNG bytes),
// dynamic batching on and off; requests/s, p50/p99 latency and errors, beside the in-process `predictOnBatch`
// throughput at batch 64 measured in the same run (the ceiling a server can approach), as ratios. While the
// concurrency-64 KServe binary load runs, /v2/health/ready is polled and its p99 reported.
//   node bench/serve.js [--seconds 10] [--long-seconds 30] [--out FILE]
// --long-seconds: the length of the concurrency-64 runs (the acceptance load), --seconds: all the others.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pngjs from 'pngjs';
import * as kiln from '../dist/index.node.js';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: fileURLToPath(new URL('results/serve.json', import.meta.url)) },
    seconds: { type: 'string', default: '10' },
    'long-seconds': { type: 'string', default: '30' },
  },
});
const seconds = Number(args.seconds);
const longSeconds = Number(args['long-seconds']);
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const CONCURRENCY = [1, 8, 64];
const IMAGE = 32 * 32 * 3;

/** Deterministic pixels in [0, 1). */
function image(seed) {
  let s = seed >>> 0;
  return new Float32Array(IMAGE).map(() => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 4294967296));
}

function bodies() {
  const x = image(7);
  const nested = Array.from({ length: 32 }, (_, h) => Array.from({ length: 32 }, (_, w) => Array.from(x.subarray((h * 32 + w) * 3, (h * 32 + w) * 3 + 3))));
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 32, 32, 3], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }], outputs: [{ name: 'dense_1', parameters: { binary_data: true } }] }));
  const png = new pngjs.PNG({ width: 32, height: 32 });
  for (let p = 0; p < 1024; p++) png.data.set([x[p * 3] * 255, x[p * 3 + 1] * 255, x[p * 3 + 2] * 255, 255], p * 4);
  return {
    'tfserving-json': { path: '/v1/models/cnn:predict', body: JSON.stringify({ instances: [nested] }), headers: { 'content-type': 'application/json' } },
    'kserve-json': { path: '/v2/models/cnn/infer', body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 32, 32, 3], datatype: 'FP32', data: Array.from(x) }] }), headers: { 'content-type': 'application/json' } },
    'kserve-binary': { path: '/v2/models/cnn/infer', body: Buffer.concat([header, Buffer.from(x.buffer)]), headers: { 'inference-header-content-length': String(header.length), 'content-type': 'application/octet-stream' } },
    'torchserve-png': { path: '/predictions/cnn', body: pngjs.PNG.sync.write(png), headers: { 'content-type': 'image/png' } },
  };
}

async function inProcessCeiling(file) {
  const info = await kiln.ready();
  const model = await kiln.load(file);
  const x = kiln.tensor(new Float32Array(64 * IMAGE).map((_, i) => (i % 255) / 255), [64, 32, 32, 3]);
  for (let i = 0; i < 5; i++) model.predictOnBatch(x).dispose();
  let images = 0;
  const started = performance.now();
  while (performance.now() - started < 5000) {
    const out = model.predictOnBatch(x);
    await out.data();
    out.dispose();
    images += 64;
  }
  const perSecond = images / ((performance.now() - started) / 1000);
  x.dispose();
  model.dispose();
  return { imagesPerSecond: perSecond, variant: info.variant, threads: info.threads };
}

async function startServe(file, extra) {
  const port = 18000 + Math.floor(Math.random() * 20000);
  const child = spawn('node', [cli, 'serve', file, '--name', 'cnn', '--port', String(port), '--max-queue-size', '100000', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  while (!output.includes('listening on')) {
    if (child.exitCode !== null) throw new Error(`kiln serve exited: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM'))) };
}

async function load(url, request, connections, duration) {
  const result = await autocannon({ url: `${url}${request.path}`, method: 'POST', body: request.body, headers: request.headers, connections, duration, pipelining: 1 });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    requests: result.requests.total,
  };
}

/** /v2/health/ready every 20 ms while `during` runs: its latencies. */
async function probeHealth(url, during) {
  const latencies = [];
  let running = true;
  const probe = (async () => {
    while (running) {
      const started = performance.now();
      const response = await fetch(`${url}/v2/health/ready`);
      await response.arrayBuffer();
      latencies.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const result = await during;
  running = false;
  await probe;
  latencies.sort((a, b) => a - b);
  return { result, health: { probes: latencies.length, p50Ms: latencies[Math.floor(latencies.length * 0.5)], p99Ms: latencies[Math.floor(latencies.length * 0.99)], maxMs: latencies.at(-1) } };
}

const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-serve-'));
const file = join(dir, 'cnn.kiln');
await kiln.ready({ threads: 1 });
await kiln.cifar10Cnn({ seed: 1 }).save(file, { metadata: { outputs: 'logits', inputScale: 1 / 255 } });
const ceiling = await inProcessCeiling(file);
console.log(`in-process predictOnBatch, batch 64: ${ceiling.imagesPerSecond.toFixed(0)} img/s (${ceiling.variant}, ${ceiling.threads} threads)`);

const requests = bodies();
const runs = [];
let health;
for (const batching of [true, false]) {
  const server = await startServe(file, batching ? [] : ['--no-batching']);
  for (const [encoding, request] of Object.entries(requests)) {
    for (const connections of CONCURRENCY) {
      const duration = connections === 64 ? longSeconds : seconds;
      let result;
      if (batching && encoding === 'kserve-binary' && connections === 64) {
        ({ result, health } = await probeHealth(server.url, load(server.url, request, connections, duration)));
      } else {
        result = await load(server.url, request, connections, duration);
      }
      runs.push({ encoding, batching, connections, seconds: duration, ...result });
      console.log(`${encoding.padEnd(15)} batching ${batching ? 'on ' : 'off'} c=${String(connections).padEnd(3)} ${result.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${String(result.p50Ms).padStart(4)} ms  p99 ${String(result.p99Ms).padStart(4)} ms  errors ${result.errors}`);
    }
  }
  await server.stop();
}
rmSync(dir, { recursive: true, force: true });

const find = (encoding, batching, connections) => runs.find((r) => r.encoding === encoding && r.batching === batching && r.connections === connections);
const ratios = {
  batchingSpeedupAt64: Object.fromEntries(Object.keys(requests).map((e) => [e, find(e, true, 64).requestsPerSecond / find(e, false, 64).requestsPerSecond])),
  kserveBinaryVsInProcessAt64: find('kserve-binary', true, 64).requestsPerSecond / ceiling.imagesPerSecond,
};
console.log(`batching on / off at c=64: ${Object.entries(ratios.batchingSpeedupAt64).map(([e, r]) => `${e} ${r.toFixed(2)}×`).join(', ')}`);
console.log(`KServe binary c=64 / in-process batch 64: ${ratios.kserveBinaryVsInProcessAt64.toFixed(2)}`);
console.log(`/v2/health/ready while saturated: p50 ${health.p50Ms.toFixed(1)} ms, p99 ${health.p99Ms.toFixed(1)} ms (${health.probes} probes)`);
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, `${JSON.stringify({
  date: new Date().toISOString(),
  machine: { cpus: availableParallelism(), model: cpus()[0]?.model, node: process.version },
  server: { defaults: 'max batch 64, batch timeout 0 µs (a batch runs as soon as the worker is free)', threads: 'all cores' },
  inProcessBatch64: ceiling,
  runs,
  ratios,
  healthWhileSaturated: health,
}, null, 2)}\n`);
console.log(`wrote ${args.out}`);
