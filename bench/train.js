#!/usr/bin/env node
// Training benchmark for the seed CNN (Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10), batch 64: images/s on
// each wasm build with 1 and 2 threads and on TF.js' cpu backend, all in this one run; the GFLOP/s a training
// step achieves next to GEMM 512³ measured in the same process (rounds of steps interleaved with GEMMs, medians
// and bests of each, so both see the same state of a shared machine); and where a step's time goes, op by op.
//   node bench/train.js [--steps 20] [--batch 64] [--tfjs-batch 16] [--out FILE]
// Each kiln configuration runs in its own process (a rayon pool starts once per process).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    batch: { type: 'string', default: '64' },
    'tfjs-batch': { type: 'string', default: '16' },
    out: { type: 'string', default: fileURLToPath(new URL('results/train.json', import.meta.url)) },
    child: { type: 'string' },
  },
});
const steps = Number(args.steps);
const batch = Number(args.batch);

function randomBatch(n, seed) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 4294967296);
  const x = new Float32Array(n * 32 * 32 * 3).map(next);
  const y = Int32Array.from({ length: n }, () => Math.floor(next() * 10));
  return { x, y };
}

/** Forward FLOPs per image of the seed CNN, from its geometry. */
function forwardFlops() {
  const conv = (oh, ow, oc, k, ic) => 2 * oh * ow * oc * k * k * ic;
  return conv(30, 30, 32, 3, 3) + conv(13, 13, 64, 3, 32) + conv(4, 4, 64, 3, 64) + 2 * 1024 * 64 + 2 * 64 * 10;
}
/** A training step: forward, gradient of each layer's input (all but the first) and of its weights. */
function trainFlops() {
  const conv1 = 2 * 30 * 30 * 32 * 27;
  return 3 * forwardFlops() - conv1;
}

/** Wraps every backend method to add up its time, keyed by op and, for convolutions, by layer. */
function instrument(backend) {
  const times = {};
  const layerOf = (g) => (g && g.inC !== undefined ? `conv ${g.inC}→${g.outC}` : g && g.channels !== undefined ? `pool ${g.inH}×${g.inW}×${g.channels}` : '');
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(backend))) {
    const method = backend[name];
    if (name === 'constructor' || typeof method !== 'function' || ['info', 'memory', 'readSync', 'read', 'view'].includes(name)) continue;
    backend[name] = function (...a) {
      const t0 = performance.now();
      const result = method.apply(this, a);
      const key = `${name} ${layerOf(a[0])}`.trim();
      times[key] = (times[key] ?? 0) + performance.now() - t0;
      return result;
    };
  }
  return times;
}

async function kilnChild(spec) {
  const [variant, threads] = spec.split(':');
  const kiln = await import('../dist/index.node.js');
  const { getBackend } = await import('../dist/backend/registry.js');
  const info = await kiln.ready({ variant, threads: Number(threads) });
  const model = kiln.cifar10Cnn({ seed: 1 });
  model.compile({ optimizer: new kiln.Adam(), loss: 'sparseCategoricalCrossentropy', fromLogits: true });
  const data = randomBatch(batch * 4, 7);
  const run = () => model.fit(data.x, data.y, { epochs: 1, batchSize: batch, shuffle: false });
  const a = kiln.tensor(randomBatch(512 * 512 / 3072 + 1, 1).x.subarray(0, 512 * 512), [512, 512]);
  const gemm = () => {
    for (let i = 0; i < 3; i++) kiln.matMul(a, a).dispose();
  };
  await run(); // warm-up: optimizer state, geometry objects, heap growth, optimized code
  gemm();
  // Rounds of 4 training steps interleaved with 3 GEMMs, so both see the same state of this shared machine;
  // medians over the rounds.
  const timeOf = async (f) => {
    const t0 = performance.now();
    await f();
    return (performance.now() - t0) / 1000;
  };
  const median = (xs) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
  const rounds = Math.max(3, Math.round(steps / 4));
  const stepTimes = [];
  const gemmTimes = [];
  for (let i = 0; i < rounds; i++) {
    stepTimes.push((await timeOf(run)) / 4);
    gemmTimes.push((await timeOf(gemm)) / 3);
  }
  // Medians, and bests (as bench/gemm reports): noise on a shared machine only ever slows a round down.
  const imagesPerSecond = batch / median(stepTimes);
  const gemmGflops = (2 * 512 ** 3) / median(gemmTimes) / 1e9;
  const best = { imagesPerSecond: batch / Math.min(...stepTimes), gemmGflops: (2 * 512 ** 3) / Math.min(...gemmTimes) / 1e9 };
  best.trainGflops = (best.imagesPerSecond * trainFlops()) / 1e9;

  const times = instrument(getBackend());
  const p0 = performance.now();
  await run();
  const profiledMs = performance.now() - p0;
  process.stdout.write(JSON.stringify({ info, imagesPerSecond, trainGflops: (imagesPerSecond * trainFlops()) / 1e9, gemmGflops, best, profile: { stepMs: profiledMs / 4, opsMs: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v / 4])) } }));
}

async function tfjsChild() {
  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [32, 32, 3], filters: 32, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'sparseCategoricalCrossentropy' });
  const n = Number(args['tfjs-batch']);
  const data = randomBatch(n, 3);
  const x = tf.tensor4d(data.x, [n, 32, 32, 3]);
  const y = tf.tensor1d(Array.from(data.y), 'float32');
  await model.trainOnBatch(x, y);
  const t0 = performance.now();
  await model.trainOnBatch(x, y);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ version: tf.version.tfjs, backend: tf.getBackend(), batch: n, imagesPerSecond: n / seconds }));
}

function child(spec) {
  return JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', spec, '--steps', args.steps, '--batch', args.batch, '--tfjs-batch', args['tfjs-batch']], { encoding: 'utf8', maxBuffer: 1 << 24 }));
}

async function main() {
  const rows = [];
  for (const [variant, threads] of [['simd', 1], ['simd-relaxed', 1], ['threads', 1], ['threads', 2], ['threads-relaxed', 1], ['threads-relaxed', 2]]) {
    console.error(`[bench] kiln ${variant}, ${threads} thread(s)`);
    rows.push(child(`${variant}:${threads}`));
  }
  console.error(`[bench] TF.js cpu, batch ${args['tfjs-batch']} (one step; it is slow)`);
  const tfjs = child('tfjs');

  console.log(`Seed CNN training, batch ${batch}: ${(trainFlops() / 1e6).toFixed(1)} MFLOP per image (forward ${(forwardFlops() / 1e6).toFixed(1)})`);
  console.log('Medians of the interleaved rounds (best rounds, as bench/gemm reports, in parentheses):');
  console.log('| engine | threads | img/s | step GFLOP/s | GEMM 512³ GFLOP/s | step / GEMM |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const b = r.best;
    console.log(
      `| kiln ${r.info.variant} | ${r.info.threads} | ${r.imagesPerSecond.toFixed(0)} (${b.imagesPerSecond.toFixed(0)}) | ${r.trainGflops.toFixed(1)} (${b.trainGflops.toFixed(1)}) | ` +
        `${r.gemmGflops.toFixed(1)} (${b.gemmGflops.toFixed(1)}) | ${(r.trainGflops / r.gemmGflops).toFixed(2)} (${(b.trainGflops / b.gemmGflops).toFixed(2)}) |`,
    );
  }
  console.log(`| TF.js ${tfjs.version} ${tfjs.backend} (batch ${tfjs.batch}) | 1 | ${tfjs.imagesPerSecond.toFixed(2)} | | | |`);
  const find = (v, t) => rows.find((r) => r.info.variant === v && r.info.threads === t);
  const ratios = {
    'threads 2 / 1 thread': find('threads', 2).imagesPerSecond / find('threads', 1).imagesPerSecond,
    'threads-relaxed 2 / 1 thread': find('threads-relaxed', 2).imagesPerSecond / find('threads-relaxed', 1).imagesPerSecond,
    'best kiln / TF.js cpu': Math.max(...rows.map((r) => r.imagesPerSecond)) / tfjs.imagesPerSecond,
  };
  console.log('\nratios:');
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k}: ${v.toFixed(2)}`);
  const best = rows.reduce((a, b) => (a.imagesPerSecond > b.imagesPerSecond ? a : b));
  console.log(`\nwhere a step goes (kiln ${best.info.variant}, ${best.info.threads} threads, ${best.profile.stepMs.toFixed(1)} ms per step of ${batch}):`);
  for (const [k, v] of Object.entries(best.profile.opsMs).sort((a, b) => b[1] - a[1]).slice(0, 20)) {
    console.log(`  ${k.padEnd(40)} ${v.toFixed(2).padStart(8)} ms  ${((100 * v) / best.profile.stepMs).toFixed(1).padStart(5)} %`);
  }
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify({ date: new Date().toISOString(), node: process.version, batch, steps, trainMflopPerImage: trainFlops() / 1e6, rows, tfjs, ratios }, null, 2));
  console.log(`\nJSON: ${args.out}`);
}

if (args.child === 'tfjs') await tfjsChild();
else if (args.child) await kilnChild(args.child);
else await main();
