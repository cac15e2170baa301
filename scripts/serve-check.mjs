#!/usr/bin/env node
// The main job's serving step: starts `kiln serve` on the model file just trained, sends CIFAR-10 test images
// (random ones without the dataset) through KServe v2 (Triton binary), TF Serving JSON and TorchServe PNG, and
// checks that every protocol answers what in-process predict gives; prints accuracy and req/s, then SIGTERM.
//   node scripts/serve-check.mjs MODEL.kiln [DATA_DIR] [--images N]
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import pngjs from 'pngjs';
import * as kiln from '../dist/index.node.js';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { images: { type: 'string', default: '500' } } });
const [modelFile, dataDir] = positionals;
const count = Number(values.images);
const log = (line) => process.stdout.write(`${line}\n`);

await kiln.ready();
const model = await kiln.load(modelFile);
let pixels;
let labels;
try {
  const { test } = await kiln.data.loadCifar10({ dir: dataDir, download: false, trainLimit: 1, testLimit: count });
  ({ images: pixels, labels } = test);
} catch {
  pixels = Uint8Array.from({ length: count * 3072 }, (_, i) => (i * 2654435761) >>> 24);
}
const n = pixels.length / 3072;
const x = Float32Array.from(pixels, (v) => v / 255);
const local = await model.predict(x);
const want = Array.from(kiln.metrics.argmaxRows(await local.data(), n, model.outputShape[0]));
local.dispose();

const child = spawn('node', [new URL('../dist/cli/main.js', import.meta.url).pathname, 'serve', modelFile, '--name', 'cifar10', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
let output = '';
child.stdout.on('data', (d) => (output += d));
while (!/listening on (\S+)/.test(output)) {
  if (child.exitCode !== null) throw new Error(`kiln serve exited: ${output}`);
  await new Promise((r) => setTimeout(r, 50));
}
const url = /listening on (\S+)/.exec(output)[1];
const top = (values) => values.indexOf(Math.max(...values));

async function kserveBinary(i) {
  const data = x.subarray(i * 3072, (i + 1) * 3072);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: model.graph.inputNames[0], shape: [1, 32, 32, 3], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }], parameters: { binary_data_output: true } }));
  const response = await fetch(`${url}/v2/models/cifar10/infer`, { method: 'POST', body: Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]), headers: { 'inference-header-content-length': String(header.length) } });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const length = Number(response.headers.get('inference-header-content-length'));
  return top(Array.from(new Float32Array(bytes.slice(length).buffer)));
}
async function tfServing(i) {
  const row = Array.from(x.subarray(i * 3072, (i + 1) * 3072));
  const instance = Array.from({ length: 32 }, (_, h) => Array.from({ length: 32 }, (_, w) => row.slice((h * 32 + w) * 3, (h * 32 + w) * 3 + 3)));
  const response = await fetch(`${url}/v1/models/cifar10:predict`, { method: 'POST', body: JSON.stringify({ instances: [instance] }) });
  return top((await response.json()).predictions[0]);
}
async function torchServe(i) {
  const png = new pngjs.PNG({ width: 32, height: 32 });
  for (let p = 0; p < 1024; p++) png.data.set([...pixels.subarray(i * 3072 + p * 3, i * 3072 + p * 3 + 3), 255], p * 4);
  const response = await fetch(`${url}/predictions/cifar10`, { method: 'POST', body: pngjs.PNG.sync.write(png) });
  const names = kiln.classNamesOf(model);
  return names.indexOf(Object.keys(await response.json())[0]);
}

let failed = false;
for (const [name, ask] of [['KServe v2 binary', kserveBinary], ['TF Serving JSON', tfServing], ['TorchServe PNG', torchServe]]) {
  const started = performance.now();
  const got = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < n) {
      const i = next++;
      got[i] = await ask(i);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const same = got.every((c, i) => c === want[i]);
  failed ||= !same;
  const accuracy = labels ? ` test accuracy ${((100 * got.filter((c, i) => c === labels[i]).length) / n).toFixed(2)} %,` : '';
  log(`served ${n} images by ${name}:${accuracy} ${same ? 'the same classes as in-process predict' : 'DIFFERENT classes from in-process predict'} (${(n / seconds).toFixed(0)} req/s at concurrency 16)`);
}
child.kill('SIGTERM');
const code = await new Promise((resolve) => child.once('exit', resolve));
log(`kiln serve stopped on SIGTERM with exit code ${code}`);
model.dispose();
if (failed || code !== 0) process.exitCode = 1;
