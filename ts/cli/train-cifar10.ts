/**
 * `kiln train cifar10`: the flagship pipeline. Trains the Keras tutorial CNN on CIFAR-10 with Adam and sparse
 * categorical cross-entropy from logits, evaluates on the test set (accuracy, per-class F1, confusion matrix) and
 * writes an HTML report. Without a dataset (none found, no network) it says so and trains on a small synthetic
 * set instead.
 */
import { writeFileSync } from 'node:fs';
import * as kiln from '../index.node.js';
import { augmentBatch, loadCifar10, syntheticCifarLike, CIFAR10_CLASS_NAMES, SYNTHETIC_CLASS_NAMES, type ImageSet } from '../data/cifar10.js';
import { DataError } from '../data/errors.js';
import { ProgressBar } from '../train/progress.js';
import { trainingReportHtml, type EpochRecord } from '../train/report.js';
import { accuracy, argmaxRows, confusionMatrix, precisionRecallF1 } from '../metrics.js';

export interface TrainCifar10Options {
  epochs: number;
  batchSize: number;
  learningRate: number;
  dataDir?: string;
  download: boolean;
  trainLimit?: number;
  testLimit?: number;
  augment: boolean;
  threads?: number;
  seed: number;
  report: string;
  /** Synthetic examples for the demonstration when no dataset is available. */
  demoCount: number;
}

/** Images per batch when only predicting (validation, the final test): no activations are kept for a backward pass. */
const INFERENCE_BATCH = 256;

const log = (line = '') => process.stdout.write(`${line}\n`);

/**
 * The pixel bytes (scaled to [0, 1] by the backend, in parallel) and int32 labels of a batch of indices, augmented
 * if asked.
 */
function dataSource(set: ImageSet, augment: boolean, seed: number): kiln.DataSource {
  const pixels = 32 * 32 * 3;
  // Refilled for each batch of the same size (fit() copies a batch before asking for the next).
  let x = new Uint8Array(0);
  let y = new Int32Array(0);
  return {
    count: set.count,
    bytesDivisor: 255,
    batch(indices, epoch) {
      if (y.length !== indices.length) {
        x = new Uint8Array(indices.length * pixels);
        y = new Int32Array(indices.length);
      }
      for (let i = 0; i < indices.length; i++) {
        x.set(set.images.subarray(indices[i] * pixels, (indices[i] + 1) * pixels), i * pixels);
        y[i] = set.labels[indices[i]];
      }
      return { x: augment ? augmentBatch(x, indices.length, { seed: (seed + epoch * 7919 + indices[0]) >>> 0 }) : x, y };
    },
  };
}

function progressCallback(epochs: number): kiln.Callback {
  let bar: ProgressBar | null = null;
  let started = 0;
  let rate = 0;
  return {
    onEpochBegin(epoch, { steps }) {
      bar = new ProgressBar({ total: steps, epoch: epoch + 1, epochs });
      started = performance.now();
    },
    onBatchEnd(step, { examples, ...values }) {
      rate = examples / ((performance.now() - started) / 1000);
      bar!.update(step + 1, values, rate);
    },
    onEpochEnd(_epoch, logs) {
      bar!.finish(logs, rate);
    },
  };
}

export async function trainCifar10(options: TrainCifar10Options): Promise<void> {
  const info = await kiln.ready(options.threads ? { threads: options.threads } : {});
  log(`kiln backend: ${info.backend} ${info.variant}, ${info.threads} thread(s)${info.reason ? ` (${info.reason})` : ''}`);

  let train: ImageSet;
  let test: ImageSet;
  let classNames: string[];
  let title: string;
  try {
    const data = await loadCifar10({
      dir: options.dataDir,
      download: options.download,
      trainLimit: options.trainLimit,
      testLimit: options.testLimit,
      onProgress: downloadProgress(),
    });
    ({ train, test, classNames } = data);
    title = `CIFAR-10 (${train.count} train / ${test.count} test images from ${data.source})`;
  } catch (error) {
    if (!(error instanceof DataError)) throw error;
    log(`No CIFAR-10 dataset: ${error.message}`);
    log(`Running a short demonstration on ${options.demoCount} synthetic 32×32 images instead.`);
    train = syntheticCifarLike(options.demoCount, options.seed);
    test = syntheticCifarLike(Math.ceil(options.demoCount / 5), options.seed + 1);
    classNames = SYNTHETIC_CLASS_NAMES;
    title = `Synthetic demonstration (${train.count} train / ${test.count} test images)`;
  }
  log(title);

  const model = kiln.cifar10Cnn({ seed: options.seed });
  log(model.summary());
  model.compile({
    optimizer: new kiln.Adam({ learningRate: options.learningRate }),
    loss: 'sparseCategoricalCrossentropy',
    fromLogits: true,
    metrics: ['accuracy'],
  });

  const started = performance.now();
  const epochSeconds: number[] = [];
  let epochStart = started;
  const testSource = dataSource(test, false, options.seed);
  const history = await model.fit(dataSource(train, options.augment, options.seed), undefined, {
    epochs: options.epochs,
    batchSize: options.batchSize,
    seed: options.seed,
    validationData: [testSource],
    validationBatchSize: INFERENCE_BATCH,
    callbacks: [
      progressCallback(options.epochs),
      {
        onEpochEnd() {
          const now = performance.now();
          epochSeconds.push((now - epochStart) / 1000);
          epochStart = now;
        },
      },
    ],
  });
  const trainSeconds = (performance.now() - started) / 1000;

  const logits = await model.predict(testSource, { batchSize: INFERENCE_BATCH });
  const predicted = argmaxRows((await logits.data()) as Float32Array, test.count, 10);
  logits.dispose();
  const truth = Array.from(test.labels);
  const acc = accuracy(truth, predicted);
  const scores = precisionRecallF1(truth, predicted, 10);
  const confusion = confusionMatrix(truth, predicted, 10);

  const lines = [
    `test accuracy: ${(acc * 100).toFixed(2)} % on ${test.count} images`,
    `macro F1: ${scores.macro.f1.toFixed(4)}`,
    ...scores.perClass.map((s, c) => `F1 ${classNames[c] ?? CIFAR10_CLASS_NAMES[c]}: ${s.f1.toFixed(4)} (precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)})`),
    `training: ${options.epochs} epochs in ${trainSeconds.toFixed(1)} s (${epochSeconds.map((s) => s.toFixed(1)).join(', ')} s per epoch), batch ${options.batchSize}, ${info.variant} with ${info.threads} thread(s)`,
  ];
  log();
  for (const line of lines) log(line);
  log('confusion matrix (rows: true class, columns: predicted):');
  for (const [c, row] of confusion.entries()) log(`${(classNames[c] ?? String(c)).padEnd(18)} ${row.map((n) => String(n).padStart(5)).join('')}`);

  const records: EpochRecord[] = history.epoch.map((epoch, i) => ({
    epoch: epoch + 1,
    loss: history.history.loss[i],
    accuracy: history.history.accuracy?.[i],
    valLoss: history.history.val_loss?.[i],
    valAccuracy: history.history.val_accuracy?.[i],
  }));
  writeFileSync(options.report, trainingReportHtml(records, { title, lines, confusion, classNames }));
  log(`report: ${options.report}`);
  model.dispose();
}

function downloadProgress() {
  let last = 0;
  return (received: number, total: number) => {
    const now = performance.now();
    if (now - last < 500 && received !== total) return;
    last = now;
    const mb = (n: number) => (n / 1e6).toFixed(1);
    process.stderr.write(`\rdownloading CIFAR-10: ${mb(received)}${total ? ` / ${mb(total)}` : ''} MB`);
    if (received === total) process.stderr.write('\n');
  };
}
