#!/usr/bin/env node
// Epoch-level thread scaling: `kiln train cifar10 --epochs 1` on 1 thread and on 2, alternating in pairs (a shared
// machine drifts from minute to minute, so each pair is taken close together), with the seconds per epoch the
// CLI prints (validation included). Needs the CIFAR-10 data (--data-dir or $KILN_DATA_DIR).
// Each pair is followed by a control: two 1-thread epochs run at once, in separate processes that share nothing.
// 2 × (1 thread alone) / (1 thread beside another) is how much two threads' worth of work this machine completes
// right then: the ceiling that no thread pool can beat. --no-control skips it.
// --interleave S instead runs each pair's two epochs at once but never together: they take turns, S seconds for
// the 2-thread process and 1.8 S for the 1-thread one (so both finish at about the same time), the other being
// stopped (SIGSTOP), so both meet the same moments of the machine; an epoch's time is then the time its process
// ran, from the end of its model summary to its epoch's progress line (no control).
//   node bench/epoch.js [--pairs 3] [--no-control | --interleave S] [--train-limit N] [--test-limit N]
//                       [--data-dir DIR] [--out FILE]
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '3' },
    'no-control': { type: 'boolean', default: false },
    interleave: { type: 'string' },
    'train-limit': { type: 'string' },
    'test-limit': { type: 'string' },
    'data-dir': { type: 'string' },
    out: { type: 'string', default: fileURLToPath(new URL('results/epoch.json', import.meta.url)) },
  },
});
const pairs = Number(args.pairs);
if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`--pairs must be a positive integer, got '${args.pairs}'`);
const slice = args.interleave === undefined ? null : Number(args.interleave);
if (slice !== null && !(slice > 0)) throw new Error(`--interleave must be a positive number of seconds, got '${args.interleave}'`);
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

/** How much longer the 1-thread process's turns are, so that both finish at about the same time. */
const ONE_THREAD_TURN = 1.8;

/** The 1-thread and the 2-thread epoch at once, taking turns every `slice` seconds (see the header). */
function interleavedPair() {
  const runs = [1, 2].map((threads, i) => {
    const child = spawn(process.execPath, cliOptions(threads, `kiln-epoch-bench-${i}.html`), { stdio: ['ignore', 'pipe', 'pipe'] });
    const run = { child, output: '', start: null, end: null, stops: [], exited: false };
    const watch = (chunk) => {
      run.output += chunk;
      if (run.start === null && run.output.includes('Total params')) run.start = performance.now();
      if (run.end === null && run.output.includes('Epoch 1/1')) run.end = performance.now();
    };
    child.stdout.setEncoding('utf8').on('data', watch);
    child.stderr.setEncoding('utf8').on('data', watch);
    return run;
  });
  const stop = (run) => {
    if (run.exited) return;
    run.child.kill('SIGSTOP');
    run.stops.push([performance.now(), Infinity]);
  };
  const resume = (run) => {
    if (run.exited) return;
    run.stops.at(-1)[1] = performance.now();
    run.child.kill('SIGCONT');
  };
  stop(runs[1]);
  let running = 0;
  let turns;
  const takeTurns = () => {
    const other = 1 - running;
    if (!runs[other].exited) {
      stop(runs[running]);
      resume(runs[other]);
      running = other;
    }
    turns = setTimeout(takeTurns, slice * 1000 * (running === 0 ? ONE_THREAD_TURN : 1));
  };
  turns = setTimeout(takeTurns, slice * 1000 * ONE_THREAD_TURN);
  return Promise.all(
    runs.map((run, i) => new Promise((resolve, reject) => {
      run.child.on('close', (code) => {
        run.exited = true;
        if (running === i && !runs[1 - i].exited) {
          resume(runs[1 - i]);
          running = 1 - i;
        }
        if (code !== 0) reject(new Error(`kiln train exited with ${code}:\n${run.output.slice(-2000)}`));
        else resolve(run);
      });
    })),
  ).finally(() => {
    // On a failure, the other process may still be stopped: end it rather than leave it behind.
    clearTimeout(turns);
    for (const run of runs) if (!run.exited) run.child.kill('SIGKILL');
  }).then((done) =>
    done.map((run) => {
      if (run.start === null || run.end === null) throw new Error(`no summary or epoch line in:\n${run.output.slice(-2000)}`);
      const stopped = run.stops.reduce((sum, [a, b]) => sum + Math.max(0, Math.min(b, run.end) - Math.max(a, run.start)), 0);
      const epoch = parseEpoch(run.output);
      return { ...epoch, wallSeconds: epoch.seconds, seconds: (run.end - run.start - stopped) / 1000 };
    }),
  );
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const runs = [];
for (let pair = 0; pair < pairs; pair++) {
  if (slice !== null) {
    const [one, two] = await interleavedPair();
    const run = { one, two, ratio: one.seconds / two.seconds };
    runs.push(run);
    console.log(`pair ${pair + 1}, taking turns every ${slice} s: 1 thread (${one.variant}) ran ${one.seconds.toFixed(1)} s, 2 threads (${two.variant}) ran ${two.seconds.toFixed(1)} s: ${run.ratio.toFixed(2)}×`);
    continue;
  }
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
if (slice === null && !args['no-control']) {
  console.log(`median ceiling (two 1-thread epochs at once): ${median(runs.map((r) => r.ceiling)).toFixed(2)}×; median of ratio / ceiling: ${median(runs.map((r) => r.ratio / r.ceiling)).toFixed(2)}`);
}
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify({ date: new Date().toISOString(), node: process.version, args, runs }, null, 2));
console.log(`JSON: ${args.out}`);
