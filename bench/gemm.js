#!/usr/bin/env node
// GEMM benchmark: GFLOP/s of kiln's wasm variants (1 and 2 threads) next to numpy/OpenBLAS and a plain-JS loop,
// all measured in this one run. Prints a table and writes JSON (default bench/results/gemm.json).
//   node bench/gemm.js [--sizes 256,512,1024,2048] [--out FILE] [--seconds 1]
// Each kiln configuration runs in its own process: a rayon pool starts once per process.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '256,512,1024,2048' },
    out: { type: 'string', default: fileURLToPath(new URL('results/gemm.json', import.meta.url)) },
    seconds: { type: 'string', default: '1' },
    child: { type: 'string' }, // internal: "variant:threads"
  },
});
const sizes = args.sizes.split(',').map(Number);
const seconds = Number(args.seconds);

/** Best and median seconds per call over at least 3 calls and `seconds` of wall time, after one warm-up. */
function time(fn) {
  fn();
  const samples = [];
  const start = performance.now();
  while (samples.length < 3 || (performance.now() - start) / 1000 < seconds) {
    const t0 = performance.now();
    fn();
    samples.push((performance.now() - t0) / 1000);
  }
  samples.sort((a, b) => a - b);
  return { best: samples[0], median: samples[samples.length >> 1] };
}

const rate = (n, t) => ({ best: (2 * n ** 3) / t.best / 1e9, median: (2 * n ** 3) / t.median / 1e9 });

function randomMatrix(n) {
  const out = new Float32Array(n * n);
  for (let i = 0; i < out.length; i++) out[i] = Math.random() * 2 - 1;
  return out;
}

async function runKilnChild(spec) {
  const [variant, threads] = spec.split(':');
  const kiln = await import('../dist/index.node.js');
  const info = await kiln.ready({ variant, threads: Number(threads) });
  const results = {};
  for (const n of sizes) {
    const a = kiln.tensor(randomMatrix(n), [n, n]);
    const b = kiln.tensor(randomMatrix(n), [n, n]);
    results[n] = rate(n, time(() => kiln.matMul(a, b).dispose()));
    a.dispose();
    b.dispose();
  }
  process.stdout.write(JSON.stringify({ info, results }));
}

function plainJs(n) {
  const a = randomMatrix(n);
  const b = randomMatrix(n);
  const c = new Float32Array(n * n);
  return rate(n, time(() => {
    c.fill(0);
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < n; p++) {
        const aip = a[i * n + p];
        for (let j = 0; j < n; j++) c[i * n + j] += aip * b[p * n + j];
      }
    }
  }));
}

const NUMPY = `
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info
sizes, seconds = json.loads(sys.argv[1]), float(sys.argv[2])
out = {"numpy": np.__version__, "blas": [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")} for i in threadpool_info()], "results": {}}
for n in sizes:
    a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
    a @ b
    samples = []
    start = time.perf_counter()
    while len(samples) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter(); a @ b; samples.append(time.perf_counter() - t0)
    samples.sort()
    out["results"][n] = {"best": 2 * n**3 / samples[0] / 1e9, "median": 2 * n**3 / samples[len(samples) // 2] / 1e9}
print(json.dumps(out))
`;

function ensureNumpy() {
  try {
    execFileSync('python3', ['-c', 'import numpy, threadpoolctl'], { stdio: 'ignore' });
  } catch {
    console.error('[bench] pip install numpy threadpoolctl');
    execFileSync('python3', ['-m', 'pip', 'install', '--quiet', 'numpy', 'threadpoolctl'], { stdio: 'inherit' });
  }
}

function numpy(threads) {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  // These slow a current OpenBLAS down; unset for this measurement only.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return JSON.parse(execFileSync('python3', ['-c', NUMPY, JSON.stringify(sizes), String(seconds)], { env, encoding: 'utf8' }));
}

function kilnConfig(variant, threads) {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', `${variant}:${threads}`, '--sizes', args.sizes, '--seconds', args.seconds], { encoding: 'utf8' });
  return JSON.parse(out);
}

async function main() {
  ensureNumpy();
  const rows = [];
  const add = (name, threads, results, detail) => rows.push({ name, threads, results, detail });
  for (const [variant, threads] of [['simd', 1], ['simd-relaxed', 1], ['threads', 1], ['threads', 2], ['threads-relaxed', 1], ['threads-relaxed', 2]]) {
    console.error(`[bench] kiln ${variant}, ${threads} thread(s)`);
    const { info, results } = kilnConfig(variant, threads);
    add(`kiln wasm ${info.variant}`, info.threads, results);
  }
  for (const threads of [1, 2]) {
    console.error(`[bench] numpy, ${threads} thread(s)`);
    const r = numpy(threads);
    add(`numpy ${r.numpy} / ${r.blas.map((b) => `${b.internal_api} ${b.version} ${b.architecture}`).join(', ')}`, threads, r.results);
  }
  console.error('[bench] plain JS');
  add('plain JS (i-k-j loops)', 1, Object.fromEntries(sizes.filter((n) => n <= 1024).map((n) => [n, plainJs(n)])));

  const header = ['implementation', 'threads', ...sizes.map(String)];
  const table = rows.map((r) => [r.name, String(r.threads), ...sizes.map((n) => (r.results[n] ? r.results[n].best.toFixed(1) : '–'))]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log('GFLOP/s, n×n×n f32 GEMM (best of ≥3 calls and ≥' + seconds + ' s per size)');
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of table) console.log(line(row));

  const find = (prefix, threads) => rows.find((r) => r.name.startsWith(prefix) && r.threads === threads);
  const ratios = {};
  const n = sizes.includes(1024) ? 1024 : sizes.at(-1);
  const blas1 = find('numpy', 1).results[n].best;
  for (const v of ['simd', 'simd-relaxed']) ratios[`${v} 1 thread / OpenBLAS 1 thread @${n}`] = find(`kiln wasm ${v}`, 1).results[n].best / blas1;
  for (const v of ['threads', 'threads-relaxed']) ratios[`${v} 2 threads / 1 thread @${n}`] = find(`kiln wasm ${v}`, 2).results[n].best / find(`kiln wasm ${v}`, 1).results[n].best;
  ratios[`threads-relaxed 2 threads / OpenBLAS 2 threads @${n}`] = find('kiln wasm threads-relaxed', 2).results[n].best / find('numpy', 2).results[n].best;
  console.log('\nratios (best times):');
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k}: ${v.toFixed(2)}`);

  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify({ date: new Date().toISOString(), node: process.version, seconds, sizes, rows, ratios }, null, 2));
  console.log(`\nJSON: ${args.out}`);
}

if (args.child) await runKilnChild(args.child);
else await main();
