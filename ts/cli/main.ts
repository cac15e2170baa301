#!/usr/bin/env node
/** The `kiln` command: `kiln train cifar10 [options]`. */
import { parseArgs } from 'node:util';
import { KilnError } from '../errors.js';
import { trainCifar10 } from './train-cifar10.js';

const USAGE = `usage: kiln train cifar10 [options]

Trains the Keras tutorial CNN on CIFAR-10 (Adam, sparse categorical cross-entropy from logits), evaluates it on
the test set and writes an HTML report. Data: --data-dir, else $KILN_DATA_DIR, else the official tarball is
downloaded into ~/.cache/kiln; with none of these, a short synthetic demonstration runs instead.

options:
  --epochs N          training epochs (default 10)
  --batch-size N      (default 32, as the Keras tutorial)
  --learning-rate X   Adam learning rate (default 0.001)
  --data-dir DIR      folder with cifar-10-binary.tar.gz, cifar-10-batches-bin/ or data_batch_N.bin(.gz)
  --no-download       never download the dataset
  --train-limit N     use only the first N training images
  --test-limit N      use only the first N test images
  --augment           random crop (4-pixel padding) and horizontal flip
  --threads N         wasm threads (default: all cores)
  --seed N            initialisation and shuffling seed (default 1)
  --report FILE       HTML report (default kiln-report.html)
  --demo-count N      synthetic images for the demonstration (default 2000)`;

function integer(name: string, value: string | undefined, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new KilnError(`--${name} must be a positive integer, got '${value}'`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'learning-rate': { type: 'string' },
      'data-dir': { type: 'string' },
      'no-download': { type: 'boolean', default: false },
      'train-limit': { type: 'string' },
      'test-limit': { type: 'string' },
      augment: { type: 'boolean', default: false },
      threads: { type: 'string' },
      seed: { type: 'string' },
      report: { type: 'string', default: 'kiln-report.html' },
      'demo-count': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.join(' ') !== 'train cifar10') {
    if (!values.help) {
      process.stderr.write(`kiln: unknown command '${positionals.join(' ')}'\n`);
      process.exitCode = 2;
    }
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const learningRate = Number(values['learning-rate'] ?? 0.001);
  if (!(learningRate > 0)) throw new KilnError(`--learning-rate must be a positive number, got '${values['learning-rate']}'`);
  await trainCifar10({
    epochs: integer('epochs', values.epochs, 10)!,
    batchSize: integer('batch-size', values['batch-size'], 32)!,
    learningRate,
    dataDir: values['data-dir'],
    download: !values['no-download'],
    trainLimit: integer('train-limit', values['train-limit']),
    testLimit: integer('test-limit', values['test-limit']),
    augment: values.augment,
    threads: integer('threads', values.threads),
    seed: integer('seed', values.seed, 1)!,
    report: values.report,
    demoCount: integer('demo-count', values['demo-count'], 2000)!,
  });
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`kiln: ${error instanceof KilnError || error instanceof TypeError ? error.message : (error as Error)?.stack ?? error}\n`);
  process.exitCode = 1;
});
