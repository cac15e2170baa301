#!/usr/bin/env node
// Epoch-level thread scaling: `kiln train cifar10 --epochs 1` on 1 thread and on 2, alternating in pairs (a shared
// machine drifts from minute to minute, so each pair is taken close together), with the seconds per epoch the
// CLI prints (validation included). Needs the CIFAR-10 data (--data-dir or $KILN_DATA_DIR).
// Each pair is followed by a control: two 1-thread epochs run at once, in separate processes that share nothing.
// 2 × (1 thread alone) / (1 thread beside another) is how much two threads' worth of work this machine completes
// right then: the ceiling that no thread pool can beat. --no-control skips it.
//   node bench/epoch.js [--pairs 3] [--no-control] [--train-limit N] [--test-limit N] [--data-dir DIR] [--out FILE]
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '3' },
    'no-control': { type: 'boolean', default: false },
    'train-limit': { type: 'string' },
    'test-limit': { type: 'string' },
    'data-dir': { type: 'string' },
    out: { type: 'string', default: fileURLToPath(new URL('results/epoch.json', import.meta.url)) },
  },
});
const pairs = Number(args.pairs);
if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`--pairs must be a positive integer, got '${args.pairs}'`);
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

function cliOptions(threads, report) {
  const options = ['train', 'cifar10', '--epochs', '1', '--no-download', '--threads', String(threads), '--report', join(tmpdir(), report)];
  for (const name of ['train-limit', 'test-limit', 'data-dir']) if (args[name]) options.push(`--${name}`, args[name]);
  return [cli, ...options];
}

/** Seconds of one epoch on `threads` threads, and the build the CLI chose. */
function epoch(threads) {
  return parseEpoch(execFileSync(process.execPath, cliOptions(threads, 'kiln-epoch-bench.html'), { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Two 1-thread epochs started together in separate processes. */
async function twoAtOnce() {
  const run = (i) => promisify(execFile)(process.execPath, cliOptions(1, `kiln-epoch-bench-${i}.html`), { encoding: 'utf8', maxBuffer: 1 << 26 });
  const outputs = await Promise.all([run(0), run(1)]);
  return outputs.map(({ stdout }) => parseEpoch(stdout));
}

function parseEpoch(output) {
  if (output.includes('No CIFAR-10 dataset')) throw new Error('no CIFAR-10 data found: pass --data-dir or set KILN_DATA_DIR');
  const line = output.split('\n').find((l) => l.startsWith('training:'));
  const match = line && /in ([\d.]+) s .*?, (\S+) with (\d+) thread/.exec(line);
  if (!match) throw new Error(`unexpected CLI output:\n${output.slice(-2000)}`);
  return { seconds: Number(match[1]), variant: match[2], threads: Number(match[3]) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const runs = [];
for (let pair = 0; pair < pairs; pair++) {
  const one = epoch(1);
  const two = epoch(2);
  const run = { one, two, ratio: one.seconds / two.seconds };
  let line = `pair ${pair + 1}: 1 thread (${one.variant}) ${one.seconds.toFixed(1)} s, 2 threads (${two.variant}) ${two.seconds.toFixed(1)} s: ${run.ratio.toFixed(2)}×`;
  if (!args['no-control']) {
    run.side = await twoAtOnce();
    run.ceiling = (2 * one.seconds) / ((run.side[0].seconds + run.side[1].seconds) / 2);
    line += `; control: two 1-thread epochs at once ${run.side.map((e) => e.seconds.toFixed(1)).join(' s, ')} s, ceiling ${run.ceiling.toFixed(2)}×`;
  }
  runs.push(run);
  console.log(line);
}
const best = (key) => Math.min(...runs.map((r) => r[key].seconds));
console.log(`median of the pairs: ${median(runs.map((r) => r.ratio)).toFixed(2)}×; best 1 thread / best 2 threads: ${(best('one') / best('two')).toFixed(2)}×`);
if (!args['no-control']) {
  console.log(`median ceiling (two 1-thread epochs at once): ${median(runs.map((r) => r.ceiling)).toFixed(2)}×; median of ratio / ceiling: ${median(runs.map((r) => r.ratio / r.ceiling)).toFixed(2)}`);
}
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify({ date: new Date().toISOString(), node: process.version, args, runs }, null, 2));
console.log(`JSON: ${args.out}`);
