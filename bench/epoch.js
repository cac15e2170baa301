#!/usr/bin/env node
// Epoch-level thread scaling: `kiln train cifar10 --epochs 1` on 1 thread and on 2, alternating in pairs (a shared
// machine drifts from minute to minute, so each pair is taken close together), with the seconds per epoch the
// CLI prints (validation included). Needs the CIFAR-10 data (--data-dir or $KILN_DATA_DIR).
//   node bench/epoch.js [--pairs 3] [--train-limit N] [--test-limit N] [--data-dir DIR] [--out FILE]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '3' },
    'train-limit': { type: 'string' },
    'test-limit': { type: 'string' },
    'data-dir': { type: 'string' },
    out: { type: 'string', default: fileURLToPath(new URL('results/epoch.json', import.meta.url)) },
  },
});
const pairs = Number(args.pairs);
if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`--pairs must be a positive integer, got '${args.pairs}'`);
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/** Seconds of one epoch on `threads` threads, and the build the CLI chose. */
function epoch(threads) {
  const options = ['train', 'cifar10', '--epochs', '1', '--no-download', '--threads', String(threads), '--report', join(tmpdir(), 'kiln-epoch-bench.html')];
  for (const name of ['train-limit', 'test-limit', 'data-dir']) if (args[name]) options.push(`--${name}`, args[name]);
  const output = execFileSync(process.execPath, [cli, ...options], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] });
  if (output.includes('No CIFAR-10 dataset')) throw new Error('no CIFAR-10 data found: pass --data-dir or set KILN_DATA_DIR');
  const line = output.split('\n').find((l) => l.startsWith('training:'));
  const match = line && /in ([\d.]+) s .*?, (\S+) with (\d+) thread/.exec(line);
  if (!match) throw new Error(`unexpected CLI output:\n${output.slice(-2000)}`);
  return { seconds: Number(match[1]), variant: match[2], threads: Number(match[3]) };
}

const runs = [];
for (let pair = 0; pair < pairs; pair++) {
  const one = epoch(1);
  const two = epoch(2);
  runs.push({ one, two, ratio: one.seconds / two.seconds });
  console.log(`pair ${pair + 1}: 1 thread (${one.variant}) ${one.seconds.toFixed(1)} s, 2 threads (${two.variant}) ${two.seconds.toFixed(1)} s: ${(one.seconds / two.seconds).toFixed(2)}×`);
}
const best = (key) => Math.min(...runs.map((r) => r[key].seconds));
console.log(`best 1 thread / best 2 threads: ${(best('one') / best('two')).toFixed(2)}×`);
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify({ date: new Date().toISOString(), node: process.version, args, runs }, null, 2));
console.log(`JSON: ${args.out}`);
