#!/usr/bin/env node
// Inference benchmark for the CIFAR-10 CNN (kiln.cifar10Cnn, seed 1): images/s at batch 1 and batch 64 on kiln's
// wasm builds, onnxruntime-web (wasm backend) and onnxruntime-node (CPU), all on the same weights, in this one run.
// Exports the kiln model to ONNX with kiln's own exporter (toOnnx from kiln/onnx → bench/results/cifar10_cnn.onnx), checks that every
// engine gives the same logits on 8 random images (max |Δ| < 1e-3 against kiln simd, else it stops), then times.
// Prints a table and ratios and writes JSON (default bench/results/infer.json).
//   node bench/infer.js [--seconds 2] [--out FILE]
// Needs the devDependencies onnxruntime-web and onnxruntime-node (installed with ONNXRUNTIME_NODE_INSTALL=skip,
// see README).
// Each configuration runs in its own process: kiln's rayon pool and ORT's thread pools start once per process.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: fileURLToPath(new URL('results/infer.json', import.meta.url)) },
    seconds: { type: 'string', default: '2' },
    child: { type: 'string' }, // internal: "kiln:variant:threads", "ort-node:threads", "ort-web:threads"
    export: { type: 'string' }, // internal: the kiln child writes the model as ONNX here
  },
});
const seconds = Number(args.seconds);
const results = fileURLToPath(new URL('results/', import.meta.url));
const onnxPath = `${results}cifar10_cnn.onnx`;
const BATCHES = [1, 64];
const CHECK_IMAGES = 8;
const TOLERANCE = 1e-3;
const IMAGE = 32 * 32 * 3;

/** Deterministic images in [0, 1), the same in every process. */
function images(n, seed) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 4294967296);
  return new Float32Array(n * IMAGE).map(next);
}

/**
 * Seconds per call of an (async or sync) function: warm-up (3 calls and at least 0.2 s), then calls until at
 * least 5 calls and `seconds` of wall time. Returns best and median, and process CPU time / wall time over the
 * timed calls (≈ the number of cores busy; all threads of the process count, worker_threads and native alike).
 */
async function time(fn) {
  const w0 = performance.now();
  for (let i = 0; i < 3 || performance.now() - w0 < 200; i++) await fn();
  const samples = [];
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  while (samples.length < 5 || (performance.now() - start) / 1000 < seconds) {
    const t0 = performance.now();
    await fn();
    samples.push((performance.now() - t0) / 1000);
  }
  const wall = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  samples.sort((a, b) => a - b);
  return { calls: samples.length, best: samples[0], median: samples[samples.length >> 1], cpuPerWall: (cpu.user + cpu.system) / 1e6 / wall };
}

async function measure(infer) {
  const out = {};
  for (const batch of BATCHES) {
    const x = images(batch, 100 + batch);
    const t = await time(() => infer(x, batch));
    out[batch] = { ...t, imagesPerSecond: { best: batch / t.best, median: batch / t.median } };
  }
  return out;
}

async function kilnChild(variant, threads) {
  const kiln = await import('../dist/index.node.js');
  const info = await kiln.ready({ variant, threads });
  const model = kiln.cifar10Cnn({ seed: 1 });
  if (args.export) writeFileSync(args.export, await (await import('../dist/io/onnx/index.js')).toOnnx(model));
  const infer = async (x, batch) => {
    const y = await model.predict(x, { batchSize: batch });
    const values = await y.data();
    y.dispose();
    return values;
  };
  const logits = Array.from(await infer(images(CHECK_IMAGES, 42), CHECK_IMAGES));
  return { engine: 'kiln', name: `kiln ${info.variant}`, threads: info.threads, info, logits, results: await measure(infer) };
}

async function ortNodeChild(threads) {
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(onnxPath, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const infer = async (x, batch) => (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [batch, 32, 32, 3]) }))[session.outputNames[0]].data;
  const logits = Array.from(await infer(images(CHECK_IMAGES, 42), CHECK_IMAGES));
  const results = await measure(infer);
  return { engine: 'ort-node', name: `onnxruntime-node ${ort.env.versions.node} cpu`, threads, info: { intraOpNumThreads: threads }, logits, results };
}

async function ortWebChild(threads) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  const warnings = [];
  const warn = console.warn;
  console.warn = (...a) => { warnings.push(a.join(' ')); warn(...a); };
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(onnxPath)), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  console.warn = warn;
  // ORT sets env.wasm.numThreads back to 1 when it cannot start threads (it warns then).
  const effective = ort.env.wasm.numThreads;
  const infer = async (x, batch) => (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [batch, 32, 32, 3]) }))[session.outputNames[0]].data;
  const logits = Array.from(await infer(images(CHECK_IMAGES, 42), CHECK_IMAGES));
  const results = await measure(infer);
  await session.release();
  return { engine: 'ort-web', name: `onnxruntime-web ${ort.env.versions.web} wasm`, threads: effective, info: { requestedThreads: threads, numThreads: effective, warnings }, logits, results };
}

function child(spec, extra = []) {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', spec, '--seconds', args.seconds, ...extra], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out.slice(out.lastIndexOf('\n{') + 1)); // a library may print before the JSON line
}

const maxAbsDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

async function main() {
  mkdirSync(results, { recursive: true });
  const rows = [];
  const agreement = {};
  let reference;
  const run = (spec, label, extra) => {
    console.error(`[bench] ${label}`);
    const row = child(spec, extra);
    if (reference) {
      const d = maxAbsDiff(row.logits, reference.logits);
      agreement[`${row.name}, ${row.threads} thread(s)`] = d;
      console.error(`[bench]   logits of ${CHECK_IMAGES} images: max |Δ| vs ${reference.name} = ${d.toExponential(2)}`);
      if (!(d < TOLERANCE)) {
        console.error(`\nFAILED: ${row.name} (${row.threads} thread(s)) disagrees with ${reference.name}: max |Δ| = ${d} ≥ ${TOLERANCE}`);
        console.error(`  ${row.name}: ${row.logits.slice(0, 10).map((v) => v.toFixed(5)).join(' ')} …`);
        console.error(`  ${reference.name}: ${reference.logits.slice(0, 10).map((v) => v.toFixed(5)).join(' ')} …`);
        process.exit(1);
      }
    }
    rows.push(row);
    return row;
  };

  reference = run('kiln:simd:1', `kiln simd, 1 thread (also exports the model: ${onnxPath})`, ['--export', onnxPath]);
  // The engines the check is about first, so a disagreement stops the run early.
  run('ort-node:1', 'onnxruntime-node cpu, intraOpNumThreads 1');
  run('ort-web:1', 'onnxruntime-web wasm, numThreads 1');
  run('kiln:simd-relaxed:1', 'kiln simd-relaxed, 1 thread');
  run('kiln:threads-relaxed:1', 'kiln threads-relaxed, 1 thread');
  run('kiln:threads-relaxed:2', 'kiln threads-relaxed, 2 threads');
  const web2 = run('ort-web:2', 'onnxruntime-web wasm, numThreads 2');
  run('ort-node:2', 'onnxruntime-node cpu, intraOpNumThreads 2');

  const notes = [];
  if (web2.threads !== 2) notes.push(`onnxruntime-web: numThreads 2 was requested but it ran with ${web2.threads} (${web2.info.warnings.join('; ') || 'no warning'})`);
  else notes.push(`onnxruntime-web: numThreads 2 ran in Node (Emscripten pthreads on worker_threads); CPU/wall at batch 64: ${web2.results[64].cpuPerWall.toFixed(2)}`);

  const fmt = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  console.log(`\nCIFAR-10 CNN inference (kiln.cifar10Cnn seed 1 / the same weights as ONNX), images/s: median of ≥5 calls and ≥${seconds} s after warm-up (best in brackets); CPU = process CPU time / wall time`);
  const scale = reference.logits.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  console.log(`agreement: max |Δ logits| over the same ${CHECK_IMAGES} images vs ${reference.name} (max |logit| ${scale.toFixed(3)}; limit ${TOLERANCE}):`);
  for (const [k, v] of Object.entries(agreement)) console.log(`  ${k.padEnd(45)} ${v.toExponential(1)}`);
  const header = ['engine', 'threads', ...BATCHES.flatMap((b) => [`batch ${b} img/s`, 'CPU'])];
  const table = rows.map((r) => [r.name, String(r.threads), ...BATCHES.flatMap((b) => [`${fmt(r.results[b].imagesPerSecond.median)} (${fmt(r.results[b].imagesPerSecond.best)})`, r.results[b].cpuPerWall.toFixed(2)])]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of table) console.log(line(row));

  const rate = (r, b) => r.results[b].imagesPerSecond.median;
  const best = (list, b) => list.reduce((x, y) => (rate(y, b) > rate(x, b) ? y : x));
  const kilnRows = rows.filter((r) => r.engine === 'kiln');
  const of = (engine, threads) => rows.find((r) => r.engine === engine && r.threads === threads);
  const ratios = {};
  for (const b of BATCHES) {
    const k = best(kilnRows, b);
    const w = best(rows.filter((r) => r.engine === 'ort-web'), b);
    ratios[`batch ${b}: kiln best (${k.info.variant}, ${k.threads}t) / onnxruntime-web best (${w.threads}t)`] = rate(k, b) / rate(w, b);
    for (const t of [1, 2]) {
      const k1 = best(kilnRows.filter((r) => r.threads === t), b);
      const n = of('ort-node', t);
      const wt = of('ort-web', t);
      if (wt) ratios[`batch ${b}, ${t} thread(s): kiln best (${k1.info.variant}) / onnxruntime-web`] = rate(k1, b) / rate(wt, b);
      if (n) ratios[`batch ${b}, ${t} thread(s): kiln best (${k1.info.variant}) / onnxruntime-node`] = rate(k1, b) / rate(n, b);
    }
  }
  console.log('\nratios (median img/s):');
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k}: ${v.toFixed(2)}`);
  console.log('\nnotes:');
  for (const n of notes) console.log(`  ${n}`);

  writeFileSync(args.out, JSON.stringify({
    date: new Date().toISOString(), node: process.version, seconds, statistic: 'median (best also given)', batches: BATCHES,
    onnx: onnxPath, agreement: { images: CHECK_IMAGES, tolerance: TOLERANCE, reference: reference.name, maxAbsLogit: scale, maxAbsDiff: agreement },
    rows: rows.map(({ logits, ...r }) => r), ratios, notes,
  }, null, 2));
  console.log(`\nJSON: ${args.out}`);
}

if (args.child) {
  const [engine, a, b] = args.child.split(':');
  const row = engine === 'kiln' ? await kilnChild(a, Number(b)) : engine === 'ort-node' ? await ortNodeChild(Number(a)) : await ortWebChild(Number(a));
  process.stdout.write(`\n${JSON.stringify(row)}\n`);
  process.exit(0); // ORT's and kiln's worker threads must not keep the child alive
} else {
  await main();
}
