#!/usr/bin/env node
// Before/after: the seed CNN's training (bench/train, batch 64) and inference (bench/infer, batch 1 and 64)
// speed of this tree against another checkout (built, e.g. a git worktree of the previous main), their
// processes taking turns (ABBA rounds) so both meet the same moments of this shared machine.
//   node bench/compare.js --before DIR [--rounds 4] [--out FILE]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    before: { type: 'string' },
    rounds: { type: 'string', default: '4' },
    out: { type: 'string', default: fileURLToPath(new URL('results/compare.json', import.meta.url)) },
  },
});
if (!args.before) {
  console.error('usage: node bench/compare.js --before DIR [--rounds 4]   (DIR: another kiln checkout, built)');
  process.exit(2);
}
const trees = { before: args.before, after: fileURLToPath(new URL('..', import.meta.url)) };

const lastJson = (out) => JSON.parse(out.slice(out.lastIndexOf('\n{') + 1));
const node = (tree, script, extra) => execFileSync(process.execPath, [join(tree, script), ...extra], { encoding: 'utf8', maxBuffer: 1 << 24, cwd: tree });

/** One measurement of each kind in `tree`: training img/s (2 threads), inference img/s at batch 64 (2 threads) and 1 (1 thread). */
function measure(tree) {
  const train = lastJson(`\n${node(tree, 'bench/train.js', ['--child', 'threads-relaxed:2', '--steps', '20'])}`);
  const infer2 = lastJson(node(tree, 'bench/infer.js', ['--child', 'kiln:threads-relaxed:2', '--seconds', '2']));
  const infer1 = lastJson(node(tree, 'bench/infer.js', ['--child', 'kiln:simd-relaxed:1', '--seconds', '2']));
  return {
    'train img/s, batch 64, 2 threads': train.imagesPerSecond,
    'infer img/s, batch 64, 2 threads': infer2.results[64].imagesPerSecond.median,
    'infer img/s, batch 1, 1 thread': infer1.results[1].imagesPerSecond.median,
  };
}

const samples = { before: [], after: [] };
for (let round = 0; round < Number(args.rounds); round++) {
  const order = round % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
  for (const which of order) {
    console.error(`[compare] round ${round + 1}: ${which}`);
    samples[which].push(measure(trees[which]));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rows = Object.keys(samples.after[0]).map((metric) => {
  const b = samples.before.map((s) => s[metric]);
  const a = samples.after.map((s) => s[metric]);
  return { metric, before: b, after: a, ratio: median(a) / median(b) };
});
for (const r of rows) {
  console.log(`${r.metric.padEnd(36)} before ${r.before.map((v) => v.toFixed(0)).join(', ')}  after ${r.after.map((v) => v.toFixed(0)).join(', ')}  after/before ${r.ratio.toFixed(3)}`);
}
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify({ date: new Date().toISOString(), before: args.before, rows }, null, 2));
console.log(`JSON: ${args.out}`);
