#!/usr/bin/env node
/** The `kiln` command: train cifar10 | evaluate MODEL | predict MODEL IMAGE… | info MODEL. */
import { parseArgs } from 'node:util';
import { KilnError } from '../errors.js';
import { trainCifar10 } from './train-cifar10.js';
import { evaluateCommand, exportCommand, infoCommand, predictCommand } from './commands.js';
import { serveCommand } from './serve.js';

const USAGE = `usage: kiln train cifar10 [options]
       kiln evaluate MODEL [--data-dir DIR] [--test-limit N] [--report FILE]
       kiln predict MODEL IMAGE… [--top K]
       kiln info MODEL
       kiln export MODEL --onnx FILE.onnx [--input-layout NHWC|NCHW]
       kiln serve MODEL_BASE | FILE.kiln [serve options]

train cifar10: trains the Keras tutorial CNN (or ResNet-20) on CIFAR-10 (Adam, sparse categorical cross-entropy
from logits), evaluates it on the test set, saves the model file, reloads it to confirm its test accuracy, and
writes an HTML report. Data: --data-dir, else $KILN_DATA_DIR, else the official tarball is downloaded into
~/.cache/kiln; with none of these, a short synthetic demonstration runs instead.
evaluate: accuracy, per-class F1, macro ROC AUC and the confusion matrix of a model file on the CIFAR-10 test set.
predict: classifies PNG or JPEG files (resized to the model's input). info: the summary and metadata of a model file.
export: the model as ONNX (opset 17, dynamic batch) for ONNX Runtime; image inputs NHWC as kiln takes them, or NCHW.

options:
  --model cnn|resnet20  the network (default cnn)
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
  --output FILE       the trained model file (default cifar10-<model>.kiln)
  --checkpoint DIR    save a resumable checkpoint there every epoch and on SIGINT/SIGTERM
  --checkpoint-every N  also every N batches
  --resume            continue from the checkpoint in --checkpoint DIR
  --report FILE       HTML report (default kiln-report.html)
  --demo-count N      synthetic images for the demonstration (default 2000)
  --top K             predict: classes shown per image (default 3)

serve: answers TF Serving REST (/v1/models/NAME:predict), KServe v2 (/v2/models/NAME/infer, Triton's binary
extension) and TorchServe (/predictions/NAME) on one port, with /metrics. MODEL_BASE/NAME/VERSION/model.kiln is
polled: the highest version is served.
  --name NAME         serving one FILE.kiln: its model name (default: the file's name)
  --host HOST         (default 127.0.0.1)
  --port N            (default 8501)
  --max-batch-size N  dynamic batching: rows per batch (default 64)
  --batch-timeout-micros N  the longest a request waits for a batch to fill (default 0: it
                      runs as soon as a worker is free; batches form while one runs)
  --no-batching       run every request alone
  --max-queue-size N  rows waiting per model before 503 (default 4096)
  --request-timeout-ms N  deadline of a request before 504 (default 30000)
  --max-body-bytes N  request bodies larger (also after decompression) get 413 (default 16777216)
  --poll-seconds N    model base polling interval (default 1)
  --workers N         inference workers per model, each with --threads wasm threads (default 1)
  --management-port N enable TorchServe's management API on 127.0.0.1:N (token: --management-token,
                      $KILN_MANAGEMENT_TOKEN, or a random one printed at start)
  --management-token T`;

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
      model: { type: 'string', default: 'cnn' },
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
      output: { type: 'string' },
      checkpoint: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      resume: { type: 'boolean', default: false },
      report: { type: 'string', default: 'kiln-report.html' },
      'demo-count': { type: 'string' },
      top: { type: 'string' },
      name: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      'max-batch-size': { type: 'string' },
      'batch-timeout-micros': { type: 'string' },
      'no-batching': { type: 'boolean', default: false },
      'max-queue-size': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'poll-seconds': { type: 'string' },
      workers: { type: 'string' },
      'management-port': { type: 'string' },
      'management-token': { type: 'string' },
      onnx: { type: 'string' },
      'input-layout': { type: 'string', default: 'NHWC' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  const usage = (problem?: string) => {
    if (problem) {
      process.stderr.write(`kiln: ${problem}\n`);
      process.exitCode = 2;
    }
    process.stdout.write(`${USAGE}\n`);
  };
  if (values.help) return usage();
  const dataDir = values['data-dir'];
  const threads = integer('threads', values.threads);
  if (command === 'train' && rest.join(' ') === 'cifar10') {
    const learningRate = Number(values['learning-rate'] ?? 0.001);
    if (!(learningRate > 0)) throw new KilnError(`--learning-rate must be a positive number, got '${values['learning-rate']}'`);
    if (values.model !== 'cnn' && values.model !== 'resnet20') throw new KilnError(`--model must be cnn or resnet20, got '${values.model}'`);
    return trainCifar10({
      model: values.model,
      epochs: integer('epochs', values.epochs, 10)!,
      batchSize: integer('batch-size', values['batch-size'], 32)!,
      learningRate,
      dataDir,
      download: !values['no-download'],
      trainLimit: integer('train-limit', values['train-limit']),
      testLimit: integer('test-limit', values['test-limit']),
      augment: values.augment,
      threads,
      seed: integer('seed', values.seed, 1)!,
      report: values.report,
      output: values.output,
      checkpoint: values.checkpoint,
      checkpointEvery: integer('checkpoint-every', values['checkpoint-every']),
      resume: values.resume,
      demoCount: integer('demo-count', values['demo-count'], 2000)!,
    });
  }
  if (command === 'evaluate' && rest.length === 1) {
    return evaluateCommand(rest[0], { dataDir, download: !values['no-download'], testLimit: integer('test-limit', values['test-limit']), report: values.report, threads });
  }
  if (command === 'predict' && rest.length >= 2) return predictCommand(rest[0], rest.slice(1), { top: integer('top', values.top, 3)! });
  if (command === 'info' && rest.length === 1) return infoCommand(rest[0]);
  if (command === 'export' && rest.length === 1) {
    if (!values.onnx) throw new KilnError('kiln export: give the output file with --onnx FILE.onnx');
    const layout = values['input-layout'];
    if (layout !== 'NHWC' && layout !== 'NCHW') throw new KilnError(`--input-layout must be NHWC or NCHW, got '${layout}'`);
    return exportCommand(rest[0], { onnx: values.onnx, inputLayout: layout });
  }
  if (command === 'serve' && rest.length === 1) {
    const port = (name: string, value: string | undefined, fallback?: number) => {
      if (value === '0') return 0;
      const n = integer(name, value, fallback);
      if (n !== undefined && n > 65535) throw new KilnError(`--${name} must be a port number, got '${value}'`);
      return n;
    };
    return serveCommand(rest[0], {
      name: values.name,
      host: values.host!,
      port: port('port', values.port, 8501)!,
      maxBatchSize: integer('max-batch-size', values['max-batch-size'], 64)!,
      batchTimeoutMicros: values['batch-timeout-micros'] === '0' || values['batch-timeout-micros'] === undefined ? 0 : integer('batch-timeout-micros', values['batch-timeout-micros'], 0)!,
      batching: !values['no-batching'],
      maxQueueSize: integer('max-queue-size', values['max-queue-size'], 4096)!,
      requestTimeoutMs: integer('request-timeout-ms', values['request-timeout-ms'], 30000)!,
      maxBodyBytes: integer('max-body-bytes', values['max-body-bytes'], 16 * 1024 * 1024)!,
      pollSeconds: integer('poll-seconds', values['poll-seconds'], 1)!,
      threads,
      workers: integer('workers', values.workers, 1)!,
      managementPort: port('management-port', values['management-port']),
      managementToken: values['management-token'],
    });
  }
  usage(`unknown command '${positionals.join(' ')}'`);
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`kiln: ${error instanceof KilnError || error instanceof TypeError ? error.message : (error as Error)?.stack ?? error}\n`);
  process.exitCode = 1;
});
